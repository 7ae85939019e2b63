"""Span plans: GenAI attributes, the upstream call as a child, content only when asked."""

from __future__ import annotations

import json

from recorder.observe.facts import facts_of
from recorder.observe.reading import read
from recorder.observe.spans import plan
from recorder.observe.tracecontext import TraceStarter
from tests.observe import exchanges
from tests.store import samples

PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def _plan(ex, content=False, traceparent=PARENT):
    ids = TraceStarter().start(traceparent)
    r = read(ex)
    return ids, plan(ex, r, facts_of(ex, r), ids, content)


def test_a_translated_stream_is_a_server_span_with_an_upstream_client_child():
    ex = samples.streaming()
    ids, (main, up) = _plan(ex)
    assert (main.kind, main.span_id, main.parent_id) == ("server", ids.span_id, ids.parent_span_id)
    assert (up.kind, up.span_id, up.parent_id) == ("client", ids.upstream_span_id, ids.span_id)
    assert main.name == "chat claude-sonnet-5" and up.name == "chat gpt-5.5"
    assert main.start == ex.started_at and main.end == ex.started_at + 0.06
    assert main.start <= up.start <= up.end <= main.end
    assert main.attributes == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "claude-sonnet-5",
        "gen_ai.request.max_tokens": 1024,
        "gen_ai.request.stream": True,
        "gen_ai.response.model": "gpt-5.5",
        "gen_ai.response.id": "msg_1",
        "gen_ai.response.finish_reasons": ["tool_use"],
        "gen_ai.response.time_to_first_chunk": 0.017,
        "gen_ai.usage.input_tokens": 120,
        "gen_ai.usage.output_tokens": 17,
        "gen_ai.conversation.id": samples.SESSION,
        "server.address": "127.0.0.1",
        "server.port": 9000,
        "http.request.method": "POST",
        "http.response.status_code": 200,
        "url.path": "/v1/messages",
        "tapegate.exchange.id": "ex-stream",
        "tapegate.session.id": samples.SESSION,
        "tapegate.client.dialect": "anthropic",
        "tapegate.upstream.dialect": "openai",
        "tapegate.route": "default",
        "tapegate.tool_calls": ["Bash"],
        "tapegate.notes": 1,
    }
    assert up.attributes["gen_ai.response.id"] == "c1"  # the upstream's own id
    assert up.attributes["url.full"] == "http://127.0.0.1:9000/v1/chat/completions"
    assert up.attributes["gen_ai.response.time_to_first_chunk"] == 0.010
    assert [e.name for e in main.events] == ["gen_ai.first_token"]
    assert main.events[0].t == ex.started_at + 0.017
    assert main.error is None and up.error is None


def test_errors_set_error_type_and_status():
    _, (main, up) = _plan(exchanges.stalled())
    assert main.attributes["tapegate.upstream.attempts"] == 3
    _, plans = _plan(samples.failed())
    main = plans[0]
    assert main.attributes["error.type"] == "overloaded"
    assert main.error == "upstream 503: upstream said no"


def test_content_only_when_asked_and_never_a_header():
    ex = samples.streaming()
    _, plain = _plan(ex)
    assert not any(k.startswith(("gen_ai.input", "gen_ai.output", "gen_ai.system"))
                   for p in plain for k in p.attributes)  # fmt: skip
    _, rich = _plan(ex, content=True)
    msgs = json.loads(str(rich[0].attributes["gen_ai.input.messages"]))
    assert msgs == [
        {"role": "user", "parts": [{"type": "text", "content": "List the files, then say done."}]}
    ]
    out = json.loads(str(rich[0].attributes["gen_ai.output.messages"]))
    assert out[0]["finish_reason"] == "tool_use"
    assert out[0]["parts"][1] == {"type": "tool_call", "id": "toolu_1", "name": "Bash",
                                  "arguments": {"command": "ls"}}  # fmt: skip
    everything = json.dumps([p.attributes for p in rich])
    assert "redacted" not in everything and "x-api-key" not in everything


def test_an_answer_by_the_gateway_itself_has_one_span_and_a_root_without_traceparent():
    ex = samples.failed()
    ex.upstream_dialect, ex.upstream_request = None, None
    ids, plans = _plan(ex, traceparent=None)
    assert len(plans) == 1 and plans[0].parent_id is None
