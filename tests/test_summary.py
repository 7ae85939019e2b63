"""Usage and stop reason read back from a finished exchange's client leg, through its codec."""

from __future__ import annotations

import json

from recorder.codecs import anthropic
from recorder.exchange import EventTape, Exchange, HttpRequest, HttpResponse, RecordedEvent
from recorder.sse import SseEvent, encode_all
from recorder.summary import read_answer, settle


def _ev(seq: int, name: str, data: dict[str, object]) -> RecordedEvent:
    return RecordedEvent("client", seq, 0.0, name, json.dumps(data))


def test_message_delta_usage_is_merged_over_message_start() -> None:
    start_usage = {"input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 1}
    late_usage = {"input_tokens": 10, "cache_read_input_tokens": 4, "output_tokens": 7}
    ex = Exchange(id="x", started_at=0.0, stream=True, client_dialect="anthropic")
    ex.events = [
        _ev(
            0,
            "message_start",
            {"type": "message_start", "message": {"model": "m", "usage": start_usage}},
        ),
        _ev(
            1,
            "message_delta",
            {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": late_usage},
        ),
    ]
    read_answer(ex)
    assert ex.stop_reason == "end_turn"
    assert ex.usage is not None
    assert (ex.usage.input_tokens, ex.usage.cache_read_tokens, ex.usage.output_tokens) == (14, 4, 7)


def test_openai_usage_chunk_after_finish() -> None:
    ex = Exchange(id="x", started_at=0.0, stream=True, client_dialect="openai")
    finish = {"model": "m", "choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]}
    usage = {"model": "m", "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 2}}
    ex.events = [
        RecordedEvent("client", 0, 0.0, None, json.dumps(finish)),
        RecordedEvent("client", 1, 0.0, None, json.dumps(usage)),
    ]
    read_answer(ex)
    assert ex.stop_reason == "max_tokens"
    assert ex.usage is not None and (ex.usage.input_tokens, ex.usage.output_tokens) == (9, 2)


def test_settle_reads_a_taped_stream_once_and_only_then() -> None:
    ex = Exchange(id="s", started_at=0.0, client_dialect="anthropic")
    tape = EventTape(ex, lambda: 0.25, 0.0, anthropic.is_token)
    message = {"id": "msg_1", "model": "m-1", "usage": {"input_tokens": 7}}
    start = {"type": "message_start", "message": message}
    delta = {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
             "usage": {"output_tokens": 3}}  # fmt: skip
    events = [SseEvent(d["type"], json.dumps(d)) for d in (start, delta)]
    tape.client(events, encode_all(events))
    assert ex.usage is None and ex.events == []  # the proxy's thread only taped bytes
    settle(ex)
    assert (ex.model_answered, ex.stop_reason) == ("m-1", "end_turn")
    assert ex.usage is not None and (ex.usage.input_tokens, ex.usage.output_tokens) == (7, 3)
    assert [e.event for e in ex.events] == ["message_start", "message_delta"]
    settle(ex)  # a second sink (the cassette writer) finds nothing left to do
    assert len(ex.events) == 2


def _responses_client_events(upstream_stream: bytes) -> list[RecordedEvent]:
    from recorder.context import Context, IdFactory
    from recorder.sse import SseParser
    from recorder.translate import StreamTranslator

    st = StreamTranslator(Context("responses", "openai", ids=IdFactory("s")))
    out = st.feed(upstream_stream) + st.close()
    p = SseParser()
    return [
        RecordedEvent("client", i, 0.0, e.event, e.data)
        for i, e in enumerate(p.feed(out) + p.close())
    ]


def _responses_exchange(upstream_stream: bytes) -> Exchange:
    ex = Exchange(id="r", started_at=0.0, stream=True, client_dialect="responses")
    ex.events = _responses_client_events(upstream_stream)
    return ex


def test_responses_stream_summary() -> None:
    from tests.translate.streams import OPENAI_FAILING_STREAMS, OPENAI_STREAMS

    for name, stop in [
        ("tool_fragmented", "tool_use"),
        ("length", "max_tokens"),
        ("cached_usage", "end_turn"),
    ]:
        ex = _responses_exchange(OPENAI_STREAMS[name])
        read_answer(ex)
        assert ex.stop_reason == stop, name
        assert ex.usage is not None and ex.model_answered == "qwen3"
    ex = _responses_exchange(OPENAI_STREAMS["cached_usage"])
    read_answer(ex)
    assert ex.usage is not None and (ex.usage.input_tokens, ex.usage.cache_read_tokens) == (100, 80)
    ex = _responses_exchange(OPENAI_FAILING_STREAMS["error_chunk_mid_stream"])
    read_answer(ex)
    assert ex.stop_reason is None and ex.error is not None and "Token limit" in ex.error


def test_responses_answers_and_errors_read_through_the_codec() -> None:
    from recorder.exchange import HttpResponse

    done = {"id": "resp_1", "object": "response", "status": "completed", "model": "m",
            "error": None, "incomplete_details": None,
            "output": [{"type": "function_call", "id": "fc_1", "call_id": "c", "name": "f",
                        "arguments": "{}", "status": "completed"}],
            "usage": {"input_tokens": 5, "output_tokens": 2}}  # fmt: skip
    ex = Exchange(id="j", started_at=0.0, client_dialect="responses")
    ex.client_response = HttpResponse(200, [], json.dumps(done).encode())
    read_answer(ex)
    assert (ex.model_answered, ex.stop_reason, ex.error) == ("m", "tool_use", None)
    assert ex.answer is not None and [p.name for p in ex.answer.content] == ["f"]  # type: ignore[union-attr]
    failed = {**done, "status": "failed", "output": [],
              "error": {"code": "server_error", "message": "boom"}}  # fmt: skip
    ex = Exchange(id="f", started_at=0.0, client_dialect="responses")
    ex.client_response = HttpResponse(200, [], json.dumps(failed).encode())
    read_answer(ex)
    assert ex.stop_reason is None and ex.error is not None and "boom" in ex.error
    assert ex.answer is None


def test_responses_conversation_reads_requests_and_replies() -> None:
    from recorder.exchange import HttpRequest
    from recorder.observe.reading import read_leg
    from tests.translate.streams import OPENAI_STREAMS

    body = {
        "model": "m",
        "instructions": "be brief",
        "input": [
            {"role": "developer", "content": "rules"},
            {"role": "user", "content": [{"type": "input_text", "text": "hi"}]},
            {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c", "output": "42"},
        ],
    }
    ex = _responses_exchange(OPENAI_STREAMS["tool_fragmented"])
    ex.client_request = HttpRequest("POST", "/v1/responses", [], json.dumps(body).encode())
    leg = read_leg(ex, "client")
    assert leg.request is not None and leg.request.system
    assert [m.role for m in leg.request.messages] == ["system", "user", "assistant", "user"]
    assert leg.response is not None and leg.response.stop_reason == "tool_use"
    calls = leg.tool_calls
    assert [c.name for c in calls] == ["get_weather"]


# --------------------------------------------------------------------------- the upstream leg

_OPENAI_NO_USAGE = [
    {"model": "m", "choices": [{"index": 0, "delta": {"role": "assistant", "content": "hi"}}]},
    {"model": "m", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
]
_ANTHROPIC_UPSTREAM = [
    ("message_start", {"type": "message_start", "message": {
        "id": "msg_1", "type": "message", "role": "assistant", "model": "m", "content": [],
        "usage": {"input_tokens": 11, "cache_read_input_tokens": 5, "output_tokens": 1}}}),
    ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                       "usage": {"output_tokens": 4}}),
    ("message_stop", {"type": "message_stop"}),
]  # fmt: skip


def _openai_client_stream(upstream: str) -> Exchange:
    ex = Exchange(id="u", started_at=0.0, stream=True, client_dialect="openai")
    ex.upstream_dialect = upstream
    ex.upstream_request = HttpRequest("POST", "http://up/", [], b"{}")
    ex.events = [RecordedEvent("client", i, 0.0, None, json.dumps(d))
                 for i, d in enumerate(_OPENAI_NO_USAGE)]  # fmt: skip
    return ex


def test_a_client_stream_without_usage_keeps_the_upstream_legs_usage() -> None:
    """An OpenAI client that did not ask for usage (no stream_options.include_usage) is sent
    none; the gateway asked its upstream for it, and the recording keeps it."""
    ex = _openai_client_stream("anthropic")
    ex.events += [RecordedEvent("upstream", i, 0.0, n, json.dumps(d))
                  for i, (n, d) in enumerate(_ANTHROPIC_UPSTREAM)]  # fmt: skip
    read_answer(ex)
    assert ex.stop_reason == "end_turn"
    assert ex.usage is not None
    assert (ex.usage.input_tokens, ex.usage.cache_read_tokens, ex.usage.output_tokens) == (16, 5, 4)

    same = _openai_client_stream("openai")  # an OpenAI upstream, asked with include_usage
    usage = {"model": "m", "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 2}}
    same.events += [RecordedEvent("upstream", i, 0.0, None, json.dumps(d))
                    for i, d in enumerate([*_OPENAI_NO_USAGE, usage])]  # fmt: skip
    read_answer(same)
    assert same.usage is not None and (same.usage.input_tokens, same.usage.output_tokens) == (9, 2)

    none = _openai_client_stream("openai")  # nothing anywhere: still none, no error
    read_answer(none)
    assert none.error is None and (none.usage is None or none.usage.input_tokens is None)


def test_a_json_upstream_answer_gives_its_usage_when_the_client_leg_has_none() -> None:
    ex = _openai_client_stream("anthropic")
    ex.upstream_response = HttpResponse(200, [], json.dumps({
        "id": "msg_1", "type": "message", "role": "assistant", "model": "m",
        "content": [{"type": "text", "text": "hi"}], "stop_reason": "end_turn",
        "usage": {"input_tokens": 3, "output_tokens": 2}}).encode())  # fmt: skip
    read_answer(ex)
    assert ex.usage is not None and (ex.usage.input_tokens, ex.usage.output_tokens) == (3, 2)
    failed = _openai_client_stream("anthropic")
    failed.upstream_response = HttpResponse(529, [], b'{"type":"error"}')
    read_answer(failed)
    assert failed.usage is None or failed.usage.input_tokens is None


def _cli_run() -> list[tuple[str, str]]:
    result = {
        "type": "result",
        "subtype": "success",
        "is_error": False,
        "result": "hi",
        "usage": {"input_tokens": 3, "output_tokens": 2},
        "total_cost_usd": 0.0125,
    }
    session = {"id": "sess-1", "cwd": "/w/sess-1", "leaf": "leaf-1"}
    exit_ = {"exit_code": 0, "killed": None, "stderr": "", "error": None, "session": session,
             "conversation": "c0ffee", "name": None}  # fmt: skip
    return [
        ("invocation", json.dumps({"argv": ["claude", "-p"], "session": {"id": "sess-1"}})),
        ("stdout", json.dumps(result, separators=(",", ":"))),
        ("exit", json.dumps(exit_)),
    ]


def test_a_cli_run_keeps_its_cost_and_session_streamed_or_not() -> None:
    want = {"id": "sess-1", "cwd": "/w/sess-1", "leaf": "leaf-1", "conversation": "c0ffee",
            "name": None}  # fmt: skip
    streamed = _openai_client_stream("claude_cli")
    streamed.events += [
        RecordedEvent("upstream", i, 0.0, n, d) for i, (n, d) in enumerate(_cli_run())
    ]
    read_answer(streamed)
    assert streamed.extra["cost_usd"] == 0.0125 and streamed.extra["backend_session"] == want

    whole = _openai_client_stream("claude_cli")
    body = {"events": [{"event": n, "data": d} for n, d in _cli_run()]}
    whole.upstream_response = HttpResponse(200, [], json.dumps(body).encode())
    read_answer(whole)
    assert whole.extra["cost_usd"] == 0.0125 and whole.extra["backend_session"] == want
    assert whole.usage is not None and whole.usage.output_tokens == 2  # from the run, too

    failed = _openai_client_stream("claude_cli")  # an error before the answer: no session
    run = _cli_run()[:2] + [("exit", json.dumps({"exit_code": 1, "session": None}))]
    err = {"type": "error", "error": {"type": "overloaded_error", "message": "x"},
           "claude_cli": {"events": [{"event": n, "data": d} for n, d in run]}}  # fmt: skip
    failed.upstream_response = HttpResponse(529, [], json.dumps(err).encode())
    read_answer(failed)
    assert failed.extra == {"cost_usd": 0.0125}
