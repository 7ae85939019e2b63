"""Kiro event streams -> IR stream events (recorder/codecs/kiro_stream.py), judged by the
official SDKs after re-encoding in the client's dialect.

Streams are built from research/kiro.md (Synthetic fixtures (b)) as real event-stream frames,
decoded whole and at every byte split (identical IR), checked against the IR stream contract,
and re-encoded as Anthropic SSE / OpenAI chunks for the anthropic and openai SDKs, which must
see the text, the complete tool call or none at all, and the right stop reason.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fakes.kiro import exception_frame, frame
from recorder import ir
from recorder.codecs import anthropic, kiro, openai
from recorder.codecs.kiro_settings import KiroSettings
from recorder.context import Context, IdFactory
from recorder.errors import StreamProtocolError
from recorder.sse import SseEvent, encode_all
from recorder.wire.eventstream import EventStreamError, encode_message
from tests.codecs.test_openai_stream import check_ir_stream, summary
from tests.grammar import check_anthropic_stream, check_openai_stream
from tests.sdk import anthropic_final_message, anthropic_parse_message
from tests.sdk_openai import openai_final_completion

TOOL_ID = "tooluse_Zr4mB8pKq2WsX9yC1vD0eH"
FIXTURE_B: list[tuple[str, dict[str, Any]]] = [
    ("assistantResponseEvent", {"content": "Let me check"}),
    ("assistantResponseEvent", {"content": " the forecast for you."}),
    ("toolUseEvent", {"name": "get_weather", "toolUseId": TOOL_ID, "input": ""}),
    ("toolUseEvent", {"name": "get_weather", "toolUseId": TOOL_ID, "input": '{"city": "Pa'}),
    (
        "toolUseEvent",
        {"name": "get_weather", "toolUseId": TOOL_ID, "input": 'ris", "unit": "celsius"}'},
    ),
    ("toolUseEvent", {"name": "get_weather", "toolUseId": TOOL_ID, "stop": True}),
    ("meteringEvent", {"unit": "credit", "unitPlural": "credits", "usage": 0.0123}),
    ("contextUsageEvent", {"contextUsagePercentage": 1.73}),
]
ARGS = '{"city": "Paris", "unit": "celsius"}'


def new_ctx(model: str = "claude-sonnet-4.5") -> Context:
    ctx = Context(client="anthropic", upstream="kiro", ids=IdFactory("test"))
    ctx.requested_model = model
    return ctx


def body_of(rows: list[tuple[str, dict[str, Any]]], nested: bool = False) -> bytes:
    return b"".join(frame(t, {t: p} if nested else p) for t, p in rows)


def decode(
    data: bytes, ctx: Context | None = None, s: KiroSettings | None = None, cut: int | None = None
) -> list[ir.StreamEvent]:
    dec = kiro.BytesDecoder(ctx or new_ctx(), s or KiroSettings())
    chunks = [data] if cut is None else [data[:cut], data[cut:]]
    out: list[ir.StreamEvent] = []
    for chunk in chunks:
        if chunk:  # b"" is the end of the stream
            out += dec.feed(chunk)
    return out + dec.feed(b"")


def to_anthropic_sse(events: list[ir.StreamEvent], ctx: Context) -> bytes:
    ctx.client = "anthropic"
    enc = anthropic.StreamEncoder(ctx)
    out: list[SseEvent] = []
    for ev in events:
        out += enc.push(ev)
    out += enc.finish()
    check_anthropic_stream(out)
    return encode_all(out)


def to_openai_sse(events: list[ir.StreamEvent], ctx: Context) -> bytes:
    ctx.client = "openai"
    ctx.include_usage = True
    enc = openai.StreamEncoder(ctx)
    out: list[SseEvent] = []
    for ev in events:
        out += enc.push(ev)
    out += enc.finish()
    check_openai_stream(out)
    return encode_all(out)


def test_fixture_b_decodes_to_text_then_one_whole_tool_call() -> None:
    ctx = new_ctx()
    events = decode(body_of(FIXTURE_B), ctx)
    check_ir_stream(events)
    assert summary(events) == {
        "parts": [
            {"text": "Let me check the forecast for you."},
            {"tool": "get_weather", "id": TOOL_ID, "args": ARGS},
        ],
        "stop": "tool_use",
        "usage": (3442, 18, None),  # 1.73% of 200,000, minus ~70 chars / 4 of output
        "error": None,
    }
    usage = next(ev.usage for ev in events if isinstance(ev, ir.UsageUpdate))
    assert usage.extra == {"kiro_credits": 0.0123, "kiro_context_percent": 1.73, "estimated": True}
    # the tool call arrives whole: start, all arguments in one delta, stop
    kinds = [type(ev).__name__ for ev in events]
    at = kinds.index("ToolArgsDelta")
    assert kinds[at - 1 : at + 2] == ["PartStart", "ToolArgsDelta", "PartStop"]


def test_every_byte_split_gives_the_same_ir() -> None:
    data = body_of(FIXTURE_B)
    whole = decode(data)
    for cut in range(len(data) + 1):
        assert decode(data, cut=cut) == whole, cut


def test_nested_payloads_decode_alike() -> None:
    assert summary(decode(body_of(FIXTURE_B, nested=True))) == summary(decode(body_of(FIXTURE_B)))
    # the wrapped form may carry the tool input as an object
    rows = [
        ("toolUseEvent", {"name": "f", "toolUseId": "t", "input": {"city": "Paris"}}),
        ("toolUseEvent", {"name": "f", "toolUseId": "t", "stop": True}),
        ("contextUsageEvent", {"contextUsagePercentage": 1}),
    ]
    assert summary(decode(body_of(rows, nested=True)))["parts"] == [
        {"tool": "f", "id": "t", "args": '{"city":"Paris"}'}
    ]


def test_sdks_see_text_and_the_tool_call() -> None:
    ctx = new_ctx()
    events = decode(body_of(FIXTURE_B), ctx)
    msg = anthropic_final_message(to_anthropic_sse(events, ctx))
    assert msg.stop_reason == "tool_use"
    assert [b.type for b in msg.content] == ["text", "tool_use"]
    assert msg.content[0].text == "Let me check the forecast for you."  # type: ignore[union-attr]
    assert msg.content[1].input == {"city": "Paris", "unit": "celsius"}  # type: ignore[union-attr]
    assert msg.content[1].id == TOOL_ID  # type: ignore[union-attr]
    ctx = new_ctx()
    done = openai_final_completion(to_openai_sse(decode(body_of(FIXTURE_B), ctx), ctx))
    choice = done.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == "Let me check the forecast for you."
    call = choice.message.tool_calls[0]  # type: ignore[index]
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {  # type: ignore[union-attr]
        "city": "Paris",
        "unit": "celsius",
    }


def test_a_tool_call_cut_off_is_never_delivered() -> None:
    rows = FIXTURE_B[:5]  # no stop, no metering, no context usage
    ctx = new_ctx()
    events = decode(body_of(rows), ctx)
    check_ir_stream(events)
    got = summary(events)
    assert got["parts"] == [{"text": "Let me check the forecast for you."}]
    assert got["stop"] == "max_tokens"
    assert any("ended without its stop" in n.reason for n in ctx.notes)
    msg = anthropic_final_message(to_anthropic_sse(events, ctx))
    assert msg.stop_reason == "max_tokens" and [b.type for b in msg.content] == ["text"]
    ctx = new_ctx()
    done = openai_final_completion(to_openai_sse(decode(body_of(rows), ctx), ctx))
    assert done.choices[0].finish_reason == "length" and not done.choices[0].message.tool_calls


def test_a_stopped_call_whose_arguments_do_not_parse_is_not_delivered() -> None:
    rows = [
        ("toolUseEvent", {"name": "Write", "toolUseId": "t", "input": '{"content": "abc'}),
        ("toolUseEvent", {"name": "Write", "toolUseId": "t", "stop": True}),
        ("meteringEvent", {"usage": 0.1}),
    ]
    ctx = new_ctx()
    got = summary(decode(body_of(rows), ctx))
    assert got["parts"] == [] and got["stop"] == "max_tokens"
    assert any("not a JSON object: not delivered" in n.reason for n in ctx.notes)


def test_text_cut_off_without_completion_events_is_max_tokens() -> None:
    ctx = new_ctx()
    got = summary(decode(body_of(FIXTURE_B[:2]), ctx))
    assert got["stop"] == "max_tokens"
    assert any("without metering or context usage" in n.reason for n in ctx.notes)
    lenient = summary(
        decode(body_of(FIXTURE_B[:2]), s=KiroSettings(require_completion_event=False))
    )
    assert lenient["stop"] == "end_turn"


def test_two_tool_calls_and_text_between() -> None:
    rows = [
        ("toolUseEvent", {"name": "a", "toolUseId": "1", "input": "{}"}),
        ("toolUseEvent", {"name": "b", "toolUseId": "2", "input": '{"x":'}),
        ("toolUseEvent", {"name": "a", "toolUseId": "1", "stop": True}),
        ("assistantResponseEvent", {"content": "and"}),
        ("toolUseEvent", {"name": "b", "toolUseId": "2", "input": "1}"}),
        ("toolUseEvent", {"name": "b", "toolUseId": "2", "stop": True}),
        ("toolUseEvent", {"name": "b", "toolUseId": "2", "input": "late"}),
        ("contextUsageEvent", {"contextUsagePercentage": 2}),
    ]
    ctx = new_ctx()
    events = decode(body_of(rows), ctx)
    check_ir_stream(events)
    assert summary(events)["parts"] == [
        {"tool": "a", "id": "1", "args": "{}"},
        {"text": "and"},
        {"tool": "b", "id": "2", "args": '{"x":1}'},
    ]
    assert any("finished tool call 2" in n.reason for n in ctx.notes)


def test_thinking_tags_become_thinking_when_enabled() -> None:
    rows = [
        ("assistantResponseEvent", {"content": "<thin"}),
        ("assistantResponseEvent", {"content": "king>Let me think.</thi"}),
        ("assistantResponseEvent", {"content": "nking>\n\nThe answer."}),
        ("meteringEvent", {"usage": 0.01}),
    ]
    s = KiroSettings(thinking_tags=True)
    ctx = new_ctx()
    events = decode(body_of(rows), ctx, s)
    check_ir_stream(events)
    assert summary(events)["parts"] == [{"thinking": "Let me think."}, {"text": "The answer."}]
    msg = anthropic_final_message(to_anthropic_sse(events, ctx))
    assert [b.type for b in msg.content] == ["thinking", "text"]
    ctx = new_ctx()
    done = openai_final_completion(to_openai_sse(decode(body_of(rows), ctx, s), ctx))
    assert done.choices[0].message.content == "The answer."
    assert done.choices[0].message.reasoning_content == "Let me think."  # type: ignore[attr-defined]
    # off (the default): the tags stay text
    assert summary(decode(body_of(rows)))["parts"] == [
        {"text": "<thinking>Let me think.</thinking>\n\nThe answer."}
    ]


def test_native_reasoning_events() -> None:
    rows = [
        ("reasoningContentEvent", {"text": "Hmm."}),
        ("reasoningContentEvent", {"signature": "sig-1"}),
        ("reasoningContentEvent", {"redactedContent": "b64=="}),
        ("assistantResponseEvent", {"content": "<thinking>not parsed</thinking>Done"}),
        ("meteringEvent", {"usage": 0.01}),
    ]
    ctx = new_ctx()
    events = decode(body_of(rows), ctx, KiroSettings(thinking_tags=True))
    msg = anthropic_final_message(to_anthropic_sse(events, ctx))
    assert [b.type for b in msg.content] == ["thinking", "redacted_thinking", "text"]
    assert msg.content[0].signature == "sig-1"  # type: ignore[union-attr]
    assert msg.content[2].text == "<thinking>not parsed</thinking>Done"  # type: ignore[union-attr]


def test_real_token_counts_win_over_estimates() -> None:
    rows = FIXTURE_B[:2] + [
        (
            "metadataEvent",
            {
                "tokenUsage": {
                    "uncachedInputTokens": 20,
                    "cacheReadInputTokens": 100,
                    "cacheWriteInputTokens": 5,
                    "outputTokens": 7,
                }
            },
        ),
        ("contextUsageEvent", {"contextUsagePercentage": 50}),
    ]
    events = decode(body_of(rows))
    usage = next(ev.usage for ev in events if isinstance(ev, ir.UsageUpdate))
    assert (
        usage.input_tokens,
        usage.output_tokens,
        usage.cache_read_tokens,
        usage.cache_creation_tokens,
    ) == (125, 7, 100, 5)
    assert "estimated" not in usage.extra


def test_context_window_comes_from_settings() -> None:
    rows = [
        ("assistantResponseEvent", {"content": "Hi"}),
        ("contextUsageEvent", {"contextUsagePercentage": 10}),
    ]
    s = KiroSettings(context_windows={"claude-opus-4.6": 1_000_000})
    usage = summary(decode(body_of(rows), new_ctx("claude-opus-4-6"), s))["usage"]
    assert usage == (99_999, 1, None)
    full = [
        ("assistantResponseEvent", {"content": "Hi"}),
        ("contextUsageEvent", {"contextUsagePercentage": 100}),
    ]
    assert summary(decode(body_of(full)))["stop"] == "context_window_exceeded"


@pytest.mark.parametrize(
    ("etype", "kind"),
    [
        ("ThrottlingException", "rate_limit"),
        ("ValidationException", "invalid_request"),
        ("com.amazon.aws.codewhisperer#AccessDeniedException", "permission"),
        ("SomethingNewException", "api_error"),
    ],
)
def test_exceptions_end_the_stream_with_an_error(etype: str, kind: str) -> None:
    data = body_of(FIXTURE_B[:1]) + exception_frame(etype, "went wrong") + body_of(FIXTURE_B[1:])
    ctx = new_ctx()
    events = decode(data, ctx)
    check_ir_stream(events)
    err = events[-1]
    assert isinstance(err, ir.StreamError)
    assert err.error.kind == kind and "went wrong" in err.error.message
    with pytest.raises(Exception) as e:
        anthropic_final_message(to_anthropic_sse(events, ctx))
    assert "went wrong" in str(e.value)


def test_content_length_exception_is_max_tokens() -> None:
    data = body_of(FIXTURE_B[:1]) + exception_frame("ContentLengthExceededException", "too long")
    got = summary(decode(data))
    assert got["stop"] == "max_tokens" and got["parts"] == [{"text": "Let me check"}]


def test_error_messages_invalid_state_and_unknown_events() -> None:
    err = encode_message(
        {":message-type": "error", ":error-code": "InternalFailure", ":error-message": "boom"}, b""
    )
    got = summary(decode(body_of(FIXTURE_B[:1]) + err))
    assert got["error"] == ("api_error", "Kiro stream error InternalFailure: boom")
    got = summary(
        decode(body_of([("invalidStateEvent", {"reason": "INVALID_TASK_STATE", "message": "bad"})]))
    )
    assert got["error"] == ("invalid_request", "Kiro invalid state: INVALID_TASK_STATE bad")
    ctx = new_ctx()
    rows = (
        [("someFutureEvent", {"x": 1}), ("someFutureEvent", {"x": 2})]
        + FIXTURE_B[:2]
        + FIXTURE_B[-2:]
    )
    got = summary(decode(body_of(rows), ctx))
    assert (
        got["parts"] == [{"text": "Let me check the forecast for you."}]
        and got["stop"] == "end_turn"
    )
    assert [n.reason for n in ctx.notes if n.path == "events.someFutureEvent"] == [
        "unknown Kiro event type; ignored"
    ]


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (
            encode_message({":event-type": "assistantResponseEvent"}, b"{}"),
            "without a :message-type",
        ),
        (encode_message({":message-type": "event"}, b"{}"), "without an :event-type"),
        (encode_message({":message-type": "weird"}, b"{}"), "unknown :message-type"),
        (frame("assistantResponseEvent", [1]), "not an object"),
        (
            encode_message({":message-type": "event", ":event-type": "toolUseEvent"}, b"{bad"),
            "not JSON",
        ),
        (frame("toolUseEvent", {"name": "x", "input": "{}"}), "without a toolUseId"),
        (frame("assistantResponseEvent", {"content": 5}), "not text"),
    ],
)
def test_malformed_messages_are_protocol_errors(data: bytes, why: str) -> None:
    with pytest.raises(StreamProtocolError, match=why):
        decode(data)


def test_corrupt_frame_and_truncated_frame_are_errors() -> None:
    bad = bytearray(body_of(FIXTURE_B))
    bad[40] ^= 1
    with pytest.raises(EventStreamError, match="CRC"):
        decode(bytes(bad))
    with pytest.raises(EventStreamError, match="ended inside a frame"):
        decode(body_of(FIXTURE_B)[:-3])


def test_empty_stream_is_an_error() -> None:
    assert summary(decode(b""))["error"] == ("api_error", "Kiro stream ended before any event")


def test_followup_prompts_and_dedupe() -> None:
    rows = [
        ("assistantResponseEvent", {"content": "A"}),
        ("assistantResponseEvent", {"content": "A"}),
        ("assistantResponseEvent", {"followupPrompt": {"content": "more?", "userIntent": "x"}}),
        ("meteringEvent", {"usage": 1}),
    ]
    assert summary(decode(body_of(rows)))["parts"] == [{"text": "AA"}]
    deduped = decode(body_of(rows), s=KiroSettings(dedupe_repeated_content=True))
    assert summary(deduped)["parts"] == [{"text": "A"}]


def test_non_streaming_clients_get_the_stream_assembled() -> None:
    ctx = new_ctx()
    resp = kiro.response_to_ir(body_of(FIXTURE_B), ctx)
    assert resp.stop_reason == "tool_use"
    ctx.client = "anthropic"
    msg = anthropic_parse_message(anthropic.response_from_ir(resp, ctx))
    assert msg.content[1].input == {"city": "Paris", "unit": "celsius"}  # type: ignore[union-attr]
    err = body_of(FIXTURE_B[:1]) + exception_frame("ThrottlingException", "slow down")
    events = decode(err)
    got = kiro.collect(events, new_ctx())
    assert isinstance(got, ir.ErrorInfo) and got.kind == "rate_limit"


# --------------------------------------------------------------------------- fuzzing

_rows = st.lists(
    st.one_of(
        st.tuples(
            st.just("assistantResponseEvent"),
            st.fixed_dictionaries({"content": st.text(max_size=8)}),
        ),
        st.tuples(
            st.just("toolUseEvent"),
            st.fixed_dictionaries(
                {"toolUseId": st.sampled_from(["a", "b"]), "name": st.sampled_from(["f", "g"])},
                optional={
                    "input": st.sampled_from(["", "{", '"k":', "1", "}", "{}"]),
                    "stop": st.booleans(),
                },
            ),
        ),
        st.tuples(
            st.just("reasoningContentEvent"),
            st.fixed_dictionaries(
                {}, optional={"text": st.text(max_size=5), "signature": st.just("s")}
            ),
        ),
        st.tuples(st.just("meteringEvent"), st.fixed_dictionaries({"usage": st.floats(0, 1)})),
        st.tuples(
            st.just("contextUsageEvent"),
            st.fixed_dictionaries({"contextUsagePercentage": st.floats(0, 120)}),
        ),
        st.tuples(
            st.sampled_from(["codeEvent", "unknownEvent", "messageMetadataEvent"]),
            st.just({"content": "c"}),
        ),
    ),
    max_size=12,
)


@settings(max_examples=300, deadline=None)
@given(_rows, st.booleans(), st.integers(0, 400))
def test_any_event_sequence_gives_a_valid_ir_stream_and_sdk_answer(
    rows: list[Any], tags: bool, cut: int
) -> None:
    data = body_of(rows)
    ctx = new_ctx()
    try:
        events = decode(data, ctx, KiroSettings(thinking_tags=tags), cut=min(cut, len(data)))
    except StreamProtocolError:
        return  # a documented refusal (e.g. a tool call renamed mid-way)
    contract = [ev for ev in events if not isinstance(ev, ir.SignatureDelta)]
    check_ir_stream(contract)
    if not any(isinstance(ev, ir.StreamError) for ev in events):
        msg = anthropic_final_message(to_anthropic_sse(events, ctx))
        assert msg.stop_reason in (
            "end_turn",
            "tool_use",
            "max_tokens",
            "model_context_window_exceeded",
        )
        for block in msg.content:
            if block.type == "tool_use":
                assert isinstance(block.input, dict)  # only complete calls are delivered
