"""IR stream events add up to the response a JSON answer would read as."""

from __future__ import annotations

from recorder import ir
from recorder.accumulate import Accumulator
from recorder.context import Context
from recorder.dialects import codec
from recorder.sse import SseEvent
from tests.store import samples


def _decode(dialect: ir.Dialect, events: list[tuple[str | None, str]]) -> Accumulator:
    dec = codec(dialect).stream_decoder(Context(dialect, dialect))
    acc = Accumulator()
    for name, data in events:
        for ev in dec.push(SseEvent(name, data)):
            acc.push(ev)
    for ev in dec.finish():
        acc.push(ev)
    return acc


def test_an_anthropic_stream_adds_up_to_text_and_a_tool_call_with_merged_usage():
    acc = _decode("anthropic", samples.CLIENT_EVENTS)
    resp = acc.response()
    assert resp is not None
    assert (resp.id, resp.model, resp.stop_reason) == ("msg_1", "gpt-5.5", "tool_use")
    text, call = resp.content
    assert isinstance(text, ir.TextPart) and text.text == "Listing."
    assert isinstance(call, ir.ToolCallPart)
    assert (call.id, call.name, call.arguments) == ("toolu_1", "Bash", '{"command": "ls"}')
    # message_start said 120 in; message_delta said 17 out: both kept
    assert (resp.usage.input_tokens, resp.usage.output_tokens) == (120, 17)
    assert acc.error is None


def test_an_openai_stream_adds_up_to_the_same_answer():
    resp = _decode("openai", [(None, d) for d in samples.UPSTREAM_DATA]).response()
    assert resp is not None
    assert [type(p) for p in resp.content] == [ir.TextPart, ir.ToolCallPart]
    call = resp.content[1]
    assert isinstance(call, ir.ToolCallPart) and call.arguments == '{"command": "ls"}'
    assert resp.stop_reason == "tool_use" and resp.usage.output_tokens == 17


def test_deltas_extend_a_copy_of_the_started_part():
    started = ir.TextPart("")
    acc = Accumulator()
    acc.push(ir.MessageStart("m", "x"))
    acc.push(ir.PartStart(0, started))
    acc.push(ir.TextDelta(0, "a"))
    acc.push(ir.TextDelta(0, "b"))
    resp = acc.response()
    assert resp is not None and resp.content == [ir.TextPart("ab")]
    assert started.text == ""


def test_thinking_signature_and_error_events():
    acc = Accumulator()
    acc.push(ir.PartStart(0, ir.ThinkingPart("")))
    acc.push(ir.ThinkingDelta(0, "hm"))
    acc.push(ir.SignatureDelta(0, "s1"))
    acc.push(ir.SignatureDelta(0, "s2"))
    acc.push(ir.StreamError(ir.ErrorInfo("overloaded", "busy")))
    resp = acc.response()
    assert resp is not None and resp.content == [ir.ThinkingPart("hm", signature="s1s2")]
    assert acc.error is not None and acc.error.kind == "overloaded"


def test_a_stream_with_nothing_in_it_is_no_response():
    acc = Accumulator()
    acc.push(ir.KeepAlive())
    assert acc.response() is None
