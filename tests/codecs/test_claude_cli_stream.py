"""The CLI's stdout (recorded from the pinned Claude Code 2.1.197, see recorded/README.md) as IR
events, judged by the official SDKs after encoding into each client dialect."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recorder import ir
from recorder.codecs import anthropic as anthropic_codec
from recorder.codecs import openai as openai_codec
from recorder.codecs.claude_cli_stream import CliStreamDecoder
from recorder.codecs.collect import Collector
from recorder.context import Context
from recorder.sse import encode_all
from tests.grammar import check_anthropic_stream, check_openai_stream
from tests.sdk import anthropic_final_message
from tests.sdk_openai import openai_final_completion

RECORDED = Path(__file__).parents[1] / "claude_cli" / "recorded"


def lines(name: str) -> list[str]:
    return (RECORDED / f"{name}.jsonl").read_text().splitlines()


def decode(
    name: str, client_tools: frozenset[str] = frozenset()
) -> tuple[CliStreamDecoder, list[ir.StreamEvent], Context]:
    ctx = Context(client="openai", upstream="anthropic")
    dec = CliStreamDecoder(ctx, client_tools)
    events: list[ir.StreamEvent] = []
    for line in lines(name):
        events += dec.push(line)
    return dec, events, ctx


def collect(events: list[ir.StreamEvent]) -> Collector:
    c = Collector()
    for ev in events:
        c.push(ev)
    return c


def encode(events: list[ir.StreamEvent], client: ir.Dialect) -> bytes:
    ctx = Context(client=client, upstream="anthropic", include_usage=True)
    enc = (anthropic_codec if client == "anthropic" else openai_codec).StreamEncoder(ctx)
    out = []
    for ev in events:
        out += enc.push(ev)
    out += enc.finish()
    return encode_all(out)


def test_text_answer() -> None:
    dec, events, _ = decode("text")
    assert dec.done and dec.session_id and dec.leaf
    assert dec.cost_usd is not None and dec.model == "claude-sonnet-5"
    c = collect(events)
    assert [type(p) for p in c.content] == [ir.TextPart]
    assert c.content[0].text == "Hello world!"  # type: ignore[union-attr]
    assert c.stop_reason == "end_turn" and c.error is None
    assert c.usage.output_tokens == 3 and c.usage.cache_read_tokens == 0


@pytest.mark.parametrize("name", ["text", "thinking", "internal_tool"])
def test_streams_parse_in_both_sdks(name: str) -> None:
    _, events, _ = decode(name)
    text = "".join(p.text for p in collect(events).content if isinstance(p, ir.TextPart))
    sse = encode(events, "anthropic")
    check_anthropic_stream(list(_sse_events(sse)))
    message = anthropic_final_message(sse)
    assert message.stop_reason == "end_turn"
    assert "".join(b.text for b in message.content if b.type == "text") == text
    sse = encode(events, "openai")
    check_openai_stream(list(_sse_events(sse)))
    completion = openai_final_completion(sse)
    assert completion.choices[0].finish_reason == "stop"
    assert completion.choices[0].message.content == text


def test_thinking_keeps_its_signature() -> None:
    _, events, _ = decode("thinking")
    c = collect(events)
    thinking = c.content[0]
    assert isinstance(thinking, ir.ThinkingPart)
    assert (thinking.text, thinking.signature) == ("Let me think.", "sig-fake")


def test_the_clis_own_tools_are_hidden_and_usage_summed() -> None:
    dec, events, ctx = decode("internal_tool")
    c = collect(events)
    assert all(not isinstance(p, ir.ToolCallPart) for p in c.content)
    assert [p.text for p in c.content if isinstance(p, ir.TextPart)] == [
        "Hello world!",
        "Hello world!",
    ]
    assert [ev.index for ev in events if isinstance(ev, ir.PartStart)] == [0, 1]
    assert any("Read" in n.reason for n in ctx.notes)
    assert c.usage.input_tokens == 20  # both calls, as the result line says
    assert dec.result is not None and dec.result["num_turns"] == 2


def test_client_tool_call_ends_the_answer() -> None:
    dec, events, _ = decode("client_tool", frozenset({"get_weather"}))
    assert dec.done and dec.client_tool_call and dec.result is None
    c = collect(events)
    call = c.content[-1]
    assert isinstance(call, ir.ToolCallPart) and call.name == "get_weather"
    assert json.loads(call.arguments) == {"city": "Paris"}
    assert c.stop_reason == "tool_use"
    completion = openai_final_completion(encode(events, "openai"))
    assert completion.choices[0].finish_reason == "tool_calls"
    assert completion.choices[0].message.tool_calls[0].function.name == "get_weather"  # type: ignore[index,union-attr]


@pytest.mark.parametrize(
    ("name", "kind", "status"),
    [
        ("error_429", "rate_limit", 429),
        ("error_500", "api_error", 500),
        ("error_529", "overloaded", 529),
        ("not_logged_in", "authentication", None),
        ("midstream_error", "api_error", None),
    ],
)
def test_errors(name: str, kind: str, status: int | None) -> None:
    dec, events, _ = decode(name)
    assert isinstance(events[-1], ir.StreamError)
    err = events[-1].error
    assert (err.kind, err.status) == (kind, status)
    assert err.message.startswith(("API Error", "Not logged in"))
    assert dec.started == (name == "midstream_error")  # only it had begun to answer


def test_max_turns_is_a_paused_turn() -> None:
    _, events, ctx = decode("max_turns")
    assert collect(events).stop_reason == "pause_turn"
    assert any(n.path == "result" for n in ctx.notes)


def test_output_that_ends_early_is_an_error() -> None:
    dec = CliStreamDecoder(Context(client="openai", upstream="anthropic"))
    for line in lines("text")[:6]:
        dec.push(line)
    [ev] = dec.finish()
    assert isinstance(ev, ir.StreamError) and ev.error.kind == "bad_gateway"
    assert dec.finish() == []


def test_non_streaming_fallback_message_becomes_events() -> None:
    """A whole assistant message outside any streamed call (the CLI's non-streaming retry)."""
    dec = CliStreamDecoder(Context(client="openai", upstream="anthropic"))
    whole = {
        "type": "assistant",
        "uuid": "u1",
        "parent_tool_use_id": None,
        "message": {
            "id": "msg_1",
            "model": "claude-sonnet-5",
            "role": "assistant",
            "content": [{"type": "text", "text": "whole"}],
            "stop_reason": "end_turn",
            "usage": {"input_tokens": 3, "output_tokens": 1},
        },
    }
    result = {"type": "result", "subtype": "success", "is_error": False, "stop_reason": "end_turn"}
    events = dec.push(json.dumps(whole)) + dec.push(json.dumps(result))
    c = collect(events)
    assert [p.text for p in c.content] == ["whole"]  # type: ignore[union-attr]
    assert c.finished and dec.leaf == "u1"


def test_garbage_lines_are_ignored() -> None:
    dec = CliStreamDecoder(Context(client="openai", upstream="anthropic"))
    assert dec.push("warning: something") == [] and dec.push("[1]") == []
    assert not dec.done


def test_a_malformed_protocol_line_fails_the_answer() -> None:
    dec = CliStreamDecoder(Context(client="openai", upstream="anthropic"))
    [ev] = dec.push(json.dumps({"type": "stream_event", "event": {"type": "message_start"}}))
    assert isinstance(ev, ir.StreamError) and dec.done


def _sse_events(raw: bytes):  # type: ignore[no-untyped-def]
    from recorder.sse import SseParser

    p = SseParser()
    return p.feed(raw) + p.close()


def test_structured_output_is_the_answer_text() -> None:
    ctx = Context(client="openai", upstream="anthropic")
    dec = CliStreamDecoder(ctx, structured=True)
    events: list[ir.StreamEvent] = []
    for line in lines("structured"):
        events += dec.push(line)
    c = collect(events)
    assert [json.loads(p.text) for p in c.content if isinstance(p, ir.TextPart)] == [
        {"city": "Paris"}
    ]
    assert c.stop_reason == "end_turn"
    assert any("structured output" in n.reason for n in ctx.notes)  # the text beside it
    completion = openai_final_completion(encode(events, "openai"))
    assert json.loads(completion.choices[0].message.content or "") == {"city": "Paris"}
