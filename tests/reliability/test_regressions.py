"""Crashes the fuzzers found, kept as plain tests: each input once raised something other than
the documented errors (an unhashable "type", a list where an object belongs)."""

from __future__ import annotations

import json

import pytest

from recorder import ir
from recorder.context import Context
from recorder.dialects import CLIENT_DIALECTS, codec
from recorder.errors import StreamProtocolError, TranslationError
from recorder.sse import SseEvent, SseParser
from recorder.translate import StreamTranslator, translate_request

START = {
    "type": "message_start",
    "message": {"id": "msg_1", "type": "message", "role": "assistant", "model": "m",
                "content": [], "usage": {"input_tokens": 1, "output_tokens": 1}},
}  # fmt: skip
USAGE = '{"input_tokens": 1, "output_tokens": 1}'


def _chunk(choice: object) -> str:
    return json.dumps(
        {"id": "c", "object": "chat.completion.chunk", "model": "m", "choices": [choice]}
    )


@pytest.mark.parametrize(
    ("dialect", "events", "message"),
    [
        # a list as the event type: was TypeError (unhashable) in the handler lookup
        ("anthropic", [SseEvent(None, json.dumps({"type": ["error"]}))], "type is not a string"),
        # usage as a list of strings: was ValueError from dict()
        (
            "anthropic",
            [SseEvent("message_start", json.dumps(START).replace(USAGE, '["abc"]'))],
            "malformed Anthropic message_start",
        ),
        # a list as a choice index: was TypeError (unhashable) in the noted-choices set
        (
            "openai",
            [SseEvent(None, _chunk({"index": [1], "delta": {"content": "x"}}))],
            "index is not an integer",
        ),
    ],
)  # fmt: skip
def test_stream_decoders_refuse_with_a_protocol_error(
    dialect: ir.Dialect, events: list[SseEvent], message: str
) -> None:
    dec = codec(dialect).stream_decoder(Context(dialect, dialect))
    with pytest.raises(StreamProtocolError, match=message):
        for ev in events:
            dec.push(ev)
    # and through the gateway's translator the client gets an error event, not a dead stream
    other: ir.Dialect = next(d for d in CLIENT_DIALECTS if d != dialect)
    t = StreamTranslator(Context(other, dialect))
    wire = "".join(f"data: {e.data}\n\n" for e in events).encode()
    out = t.feed(wire) + t.close()
    assert t.failed
    p = SseParser()
    got = p.feed(out) + p.close()
    assert "could not be translated" in (got[-1].data or "")


def test_openai_user_part_with_a_list_as_type_is_a_wire_format_error() -> None:
    # was TypeError (unhashable) inside the wire model's discriminator
    body = {
        "model": "m",
        "messages": [{"role": "user", "content": [{"type": ["text"], "text": "x"}]}],
    }
    try:
        req = codec("openai").request_to_ir(body)
    except TranslationError:
        return
    # or read as an unknown part kept whole: then the other dialect refuses it explicitly
    with pytest.raises(TranslationError):
        translate_request(body, Context("openai", "anthropic"))
    assert req.messages


def test_usage_that_is_not_a_number_is_dropped_not_added_up() -> None:
    # a string token count reached the OpenAI and Responses encoders, which add them: TypeError
    start = json.dumps(START).replace(USAGE, '{"input_tokens": 3, "output_tokens": "many"}')
    wire = (
        f"event: message_start\ndata: {start}\n\n"
        'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},'
        '"usage":{"output_tokens":"lots"}}\n\n'
        'event: message_stop\ndata: {"type":"message_stop"}\n\n'
    ).encode()
    for client in ("openai", "responses"):
        ctx = Context(client, "anthropic", include_usage=True)
        t = StreamTranslator(ctx)
        out = t.feed(wire) + t.close()
        assert not t.failed, out
    assert ir.token_count("5") is None and ir.token_count(True) is None
    assert ir.token_count(5) == 5 and ir.token_count(5.0) == 5 and ir.token_count(5.5) is None


def test_responses_item_and_part_with_a_list_as_type() -> None:
    body = {
        "model": "m",
        "input": [
            {"type": "message", "role": "user", "content": [{"type": ["input_text"], "text": "x"}]},
            {"type": ["message"], "role": "user", "content": "y"},
        ],
    }
    with pytest.raises(TranslationError):  # an unknown item or part: refused explicitly
        translate_request(body, Context("responses", "anthropic"))


def test_a_tool_name_with_a_lone_surrogate_is_shortened_not_a_crash() -> None:
    # "\ud800" arrives from JSON escapes; hashing it as UTF-8 raised UnicodeEncodeError
    body = {
        "model": "m",
        "max_tokens": 5,
        "messages": [{"role": "user", "content": "x"}],
        "tools": [{"name": "bad\ud800name", "input_schema": {"type": "object"}}],
    }
    out = translate_request(body, Context("anthropic", "openai"))
    name = out["tools"][0]["function"]["name"]
    assert name.startswith("bad_name_") and name.isascii()


@pytest.mark.parametrize("client", ["openai", "responses"])
def test_a_tool_call_id_with_a_lone_surrogate_maps_alike_not_a_crash(client: ir.Dialect) -> None:
    # found by the long run: an id that is not Anthropic's charset is hashed into one, and
    # hashing "\ud800" as UTF-8 raised UnicodeEncodeError
    call_id = "call\ud800"
    calls = {
        "openai": [
            {"role": "assistant", "content": None, "tool_calls": [{"id": call_id,
             "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": call_id, "content": "ok"},
        ],
        "responses": [
            {"type": "function_call", "call_id": call_id, "name": "f", "arguments": "{}"},
            {"type": "function_call_output", "call_id": call_id, "output": "ok"},
        ],
    }  # fmt: skip
    key = "messages" if client == "openai" else "input"
    body = {"model": "m", key: [{"role": "user", "content": "x"}, *calls[client]]}
    out = translate_request(body, Context(client, "anthropic"))
    use = out["messages"][1]["content"][0]
    result = out["messages"][2]["content"][0]
    assert use["id"] == result["tool_use_id"] and use["id"].startswith("call_")
    assert use["id"].isascii()


@pytest.mark.parametrize("dialect", ["anthropic", "openai", "responses"])
def test_error_bodies_nested_too_deep_are_read_by_status(dialect: ir.Dialect) -> None:
    deep: object = "x"
    for _ in range(5000):
        deep = {"error": deep}
    text = "[" * 100_000
    for body in (deep, text, text.encode()):
        err = codec(dialect).error_to_ir(529, body)
        assert err.kind == "overloaded"
