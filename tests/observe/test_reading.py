"""Both legs of an exchange read through the codecs, leniently."""

from __future__ import annotations

from dataclasses import replace

from recorder import ir
from recorder.exchange import Exchange, HttpRequest
from recorder.observe.reading import read, settled_copy
from tests.observe import exchanges
from tests.store import samples


def test_a_translated_stream_reads_on_both_legs_in_their_own_dialects():
    r = read(samples.streaming())
    assert (r.client.dialect, r.upstream and r.upstream.dialect) == ("anthropic", "openai")
    assert r.upstream is not None
    assert r.client.request is not None and r.client.request.model == "claude-sonnet-5"
    assert [c.name for c in r.client.tool_calls] == ["Bash"]
    assert [c.name for c in r.upstream.tool_calls] == ["Bash"]
    # every wire event is kept with the IR its codec read from it, in order
    assert [e.wire.seq for e in r.client.events] == list(range(len(samples.CLIENT_EVENTS)))
    assert any(isinstance(i, ir.TextDelta) for e in r.client.events for i in e.ir)
    assert r.client.problems == [] and r.upstream.problems == []


def test_a_json_answer_and_an_error_answer():
    plain = read(samples.plain())
    assert plain.client.response is not None
    kinds = [type(p) for p in plain.client.response.content]
    assert kinds == [ir.ThinkingPart, ir.TextPart]
    failed = read(samples.failed())
    assert failed.client.error is not None and failed.client.error.kind == "overloaded"
    # a request the codec refuses is a problem of the leg, never an exception
    assert failed.client.problems and "request" in failed.client.problems[0]


def test_a_stream_cut_short_is_incomplete_not_an_error_event():
    r = read(exchanges.hung_up())
    assert r.client.error is None
    assert r.client.incomplete is not None


def test_unknown_traffic_has_no_codec_and_says_so():
    ex = Exchange(id="x", started_at=0.0, client_dialect="gemini")
    r = read(ex)
    assert r.upstream is None
    assert r.client.problems == ["no codec for dialect 'gemini'"]


def test_an_answer_by_the_gateway_itself_has_no_upstream_leg():
    ex = replace(samples.failed(), upstream_dialect=None, upstream_request=None)
    assert read(ex).upstream is None


def test_settled_copy_leaves_a_live_taped_exchange_untouched():
    raw = "".join(f"data: {d}\n\n" for d in samples.UPSTREAM_DATA).encode()
    ex = Exchange(
        id="t", started_at=0.0, client_dialect="openai", upstream_dialect="openai",
        client_request=HttpRequest("POST", "http://h/v1/chat/completions", [], b"{}"),
        taped=[("upstream", 0.1, raw), ("client", 0.1, raw)],
    )  # fmt: skip
    copy = settled_copy(ex)
    assert ex.taped is not None and ex.events == []
    assert len([e for e in copy.events if e.leg == "client"]) == len(samples.UPSTREAM_DATA)
    assert read(copy).client.tool_calls[0].name == "Bash"


def test_a_kiro_upstream_leg_reads_from_its_raw_frames():
    """Kiro's leg is a binary event stream: its recorded events are JSON views, so the reading
    parses the raw chunks again, with the settings the backend gave the codec (thinking tags)."""
    from fakes.kiro import frame

    body = b"".join(
        frame(t, p)
        for t, p in [
            ("assistantResponseEvent", {"content": "<thinking>hm</thinking>\n\nHi"}),
            ("toolUseEvent", {"name": "f", "toolUseId": "t1", "input": '{"a": 1}'}),
            ("toolUseEvent", {"name": "f", "toolUseId": "t1", "stop": True}),
            ("contextUsageEvent", {"contextUsagePercentage": 1.0}),
        ]
    )
    ex = Exchange(id="k", started_at=0.0, client_dialect="anthropic", upstream_dialect="kiro")
    ex.extra["upstream_options"] = {"thinking_tags": True}
    ex.taped = [("upstream", 0.1, body[:77]), ("upstream", 0.2, body[77:]), ("upstream", 0.3, b"")]
    reading = read(settled_copy(ex), requests=False)
    up = reading.upstream
    assert up is not None and up.problems == [] and up.incomplete is None
    assert up.response is not None and up.response.stop_reason == "tool_use"
    kinds = [type(p).__name__ for p in up.response.content]
    assert kinds == ["ThinkingPart", "TextPart", "ToolCallPart"]
    assert [len(t.ir) > 0 for t in up.events] == [True, False, True, False]
