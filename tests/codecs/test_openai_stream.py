"""The OpenAI stream decoder (chunks -> IR) and encoder (IR -> chunks).

Decoder fixtures are hand-written SSE files under ``tests/fixtures/openai/streams`` (one per trap
from gateways.md §2.3 and traffic_data.md quirks 8-19). Each is decoded whole, snapshotted, checked
against the IR's sequential-parts contract and against an explicit expectation, fed split at every
byte offset (identical IR events), and re-encoded for the openai SDK, which must agree.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
import pytest
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

from recorder import ir
from recorder.codecs import openai as codec
from recorder.context import Context, IdFactory
from recorder.errors import StreamProtocolError
from recorder.sse import SseEvent, SseParser, encode_all
from tests.grammar import check_openai_stream
from tests.sdk_openai import openai_final_completion

FIXTURES = Path(__file__).parent.parent / "fixtures" / "openai"
STREAMS = {p.stem: p.read_bytes() for p in sorted((FIXTURES / "streams").glob("*.sse"))}
INVALID = {p.stem: p.read_bytes() for p in sorted((FIXTURES / "streams_invalid").glob("*.sse"))}


@pytest.fixture
def snapshot_json(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    return snapshot.use_extension(JSONSnapshotExtension)


def new_ctx(**kw: Any) -> Context:
    return Context(client="anthropic", upstream="openai", ids=IdFactory("test"), **kw)


def as_json(value: Any) -> Any:
    """IR values as JSON with their class name, so a snapshot diff reads like the IR."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: dict[str, Any] = {"type": type(value).__name__}
        for f in dataclasses.fields(value):
            v = getattr(value, f.name)
            if v is None or v == {} or v == []:
                continue
            out[f.name] = as_json(v)
        return out
    if isinstance(value, list):
        return [as_json(v) for v in value]
    if isinstance(value, dict):
        return {k: as_json(v) for k, v in value.items()}
    return value


def decode(chunks: list[bytes], ctx: Context | None = None) -> list[ir.StreamEvent]:
    ctx = ctx or new_ctx()
    parser, dec = SseParser(), codec.StreamDecoder(ctx)
    out: list[ir.StreamEvent] = []
    for chunk in chunks:
        for ev in parser.feed(chunk):
            out += dec.push(ev)
    for ev in parser.close():
        out += dec.push(ev)
    return out + dec.finish()


def check_ir_stream(events: list[ir.StreamEvent]) -> None:
    """The IR stream contract (recorder/ir.py): one MessageStart first, parts strictly sequential
    with indices 0, 1, 2..., deltas only for the open part and of its kind, no part open at Finish,
    at most one Finish, nothing but usage/keep-alives after Finish, nothing after a StreamError."""
    started = finished = errored = False
    open_part: ir.Part | None = None
    next_index = 0
    for n, ev in enumerate(events):
        assert not errored, f"{n}: {ev} after StreamError"
        match ev:
            case ir.KeepAlive():
                continue
            case ir.StreamError():
                errored = True
                continue
            case ir.MessageStart():
                assert not started, f"{n}: second MessageStart"
                started = True
                continue
        assert started, f"{n}: {ev} before MessageStart"
        match ev:
            case ir.PartStart():
                assert not finished and open_part is None, f"{n}: PartStart while {open_part}"
                assert ev.index == next_index, f"{n}: index {ev.index}, expected {next_index}"
                open_part, next_index = ev.part, next_index + 1
            case ir.PartStop():
                assert open_part is not None and ev.index == next_index - 1, f"{n}: stray PartStop"
                open_part = None
            case ir.TextDelta() | ir.ThinkingDelta() | ir.ToolArgsDelta():
                assert ev.index == next_index - 1 and open_part is not None, f"{n}: stray delta"
                kind = {ir.TextDelta: ir.TextPart, ir.ThinkingDelta: ir.ThinkingPart}
                assert isinstance(open_part, kind.get(type(ev), ir.ToolCallPart)), f"{n}: kind"
            case ir.Finish():
                assert not finished and open_part is None, f"{n}: Finish with a part open"
                finished = True
            case ir.UsageUpdate():
                pass
            case _:
                raise AssertionError(f"{n}: unexpected {ev}")


def summary(events: list[ir.StreamEvent]) -> dict[str, Any]:
    """What a client ends up with: the parts accumulated, the stop reason, usage, the error."""
    parts: list[dict[str, Any]] = []
    out: dict[str, Any] = {"parts": parts, "stop": None, "usage": None, "error": None}
    for ev in events:
        match ev:
            case ir.PartStart(part=ir.TextPart()):
                parts.append({"text": ""})
            case ir.PartStart(part=ir.ThinkingPart()):
                parts.append({"thinking": ""})
            case ir.PartStart(part=ir.ToolCallPart() as p):
                parts.append({"tool": p.name, "id": p.id, "args": p.arguments})
            case ir.TextDelta():
                parts[ev.index]["text"] += ev.text
            case ir.ThinkingDelta():
                parts[ev.index]["thinking"] += ev.text
            case ir.ToolArgsDelta():
                parts[ev.index]["args"] += ev.json
            case ir.Finish():
                out["stop"] = ev.stop_reason
            case ir.UsageUpdate():
                u = ev.usage
                out["usage"] = (u.input_tokens, u.output_tokens, u.cache_read_tokens)
            case ir.StreamError():
                out["error"] = (ev.error.kind, ev.error.message)
    return out


@dataclass(frozen=True)
class Expect:
    parts: list[dict[str, Any]]
    stop: ir.StopReason | None
    usage: tuple[int | None, int | None, int | None] | None = None
    error: tuple[str, str] | None = None


def T(text: str) -> dict[str, Any]:
    return {"text": text}


def R(text: str) -> dict[str, Any]:
    return {"thinking": text}


def C(name: str, call_id: str, args: str) -> dict[str, Any]:
    return {"tool": name, "id": call_id, "args": args}


EXPECT: dict[str, Expect] = {
    "text_usage_after_finish": Expect([T("Héllo, wörld 🌍")], "end_turn", (20, 5, 8)),
    "azure_empty_first_chunk": Expect([T("Hi there")], "max_tokens", (9, 2, None)),
    "vllm_choices_null": Expect([T("ok")], "end_turn", (3, 1, None)),
    "deepseek_reasoning_content": Expect(
        [R("The user greets me."), T("Hello!")], "end_turn", (12, 30, 0)
    ),
    "openrouter_reasoning_comments": Expect([R("Thinking..."), T("Done.")], "end_turn", (14, 9, 0)),
    "think_tags_split": Expect(
        [R("The user wants 2+2. Easy."), T("2 + 2 = 4 (a <think> tag here is text)")], "end_turn"
    ),
    "thinking_tag_unclosed": Expect([R("still thinking when cut </thin")], "max_tokens"),
    "mixed_chunk": Expect(
        [R("Need weather."), T("Checking."), C("get_weather", "call_w", '{"city":"Paris"}')],
        "tool_use",
        (30, 12, None),
    ),
    "tool_fragmented": Expect(
        [C("get_weather", "call_abc", '{"location": "Zürich"}')], "tool_use", (50, 17, None)
    ),
    "tool_args_in_first_fragment": Expect(
        [T("Let me check."), C("search", "call_x1", '{"q":"tapes"}')], "tool_use"
    ),
    "tool_nameless_early_fragments": Expect(
        [C("read_file", "call_late", '{"path": "a.txt"}')], "tool_use"
    ),
    "mistral_whole_calls_no_index": Expect(
        [
            C("get_weather", "mZ7tool01", '{"location": "Oslo"}'),
            C("get_time", "bY3hbMJzp", '{"tz": "CET"}'),
        ],
        "tool_use",
        (72, 28, 0),
    ),
    "parallel_calls_sequential": Expect(
        [
            C("add", "call_a", '{"a":1,"b":2}'),
            C("noop", "call_b", ""),
            C("add", "call_c", '{"a":3,"b":4}'),
        ],
        "tool_use",
    ),
    "index_reused_with_new_ids": Expect(
        [C("ls", "call_1", "{}"), C("pwd", "call_2", "{}")], "tool_use"
    ),
    "content_and_finish_same_chunk": Expect([T("The whole answer at once.")], "end_turn"),
    "usage_on_every_chunk": Expect([T("ab")], "end_turn", (5, 2, None)),
    "groq_x_groq_usage": Expect([T("Fast.")], "end_turn", (40, 3, None)),
    "openrouter_error_in_200": Expect(
        [T("Par")], None, None, ("invalid_request", "Token limit reached")
    ),
    "groq_event_error": Expect(
        [], None, None, ("invalid_request", "Failed to call a function. Please adjust your prompt.")
    ),
    "done_without_finish_reason": Expect([T("partial")], "end_turn"),
    "truncated_no_done": Expect(
        [T("cut off mid")], None, None, ("api_error", "upstream stream ended before [DONE]")
    ),
    "finish_without_done": Expect([T("complete")], "end_turn"),
    "refusal_delta": Expect([T("I can't help with that.")], "refusal"),
    "empty_ids_crlf_unknown_finish": Expect([T("no ids")], "end_turn"),
}


def test_every_fixture_has_an_expectation() -> None:
    assert sorted(EXPECT) == sorted(STREAMS)


@pytest.mark.parametrize("name", sorted(STREAMS))
def test_decoder(name: str, snapshot_json: SnapshotAssertion) -> None:
    ctx = new_ctx(requested_model="asked-model")
    events = decode([STREAMS[name]], ctx)
    check_ir_stream(events)
    got = summary(events)
    want = EXPECT[name]
    assert got == {"parts": want.parts, "stop": want.stop, "usage": want.usage, "error": want.error}
    notes = [dataclasses.asdict(n) for n in ctx.notes]
    assert {"events": as_json(events), "notes": notes} == snapshot_json


@pytest.mark.parametrize("name", sorted(STREAMS))
def test_decoder_is_independent_of_network_chunking(name: str) -> None:
    raw = STREAMS[name]
    whole = decode([raw])
    for cut in range(1, len(raw)):
        assert decode([raw[:cut], raw[cut:]]) == whole, f"cut at byte {cut}"
    assert decode([raw[i : i + 1] for i in range(len(raw))]) == whole


@pytest.mark.parametrize("name", sorted(INVALID))
def test_decoder_rejects_broken_streams_at_every_cut(name: str) -> None:
    raw = INVALID[name]
    for cut in range(0, len(raw), 7):
        with pytest.raises(StreamProtocolError):
            decode([raw[:cut], raw[cut:]])


def test_decoder_names_the_closed_tool_call() -> None:
    with pytest.raises(StreamProtocolError, match=r"tool call \(id call_a\).*after it was closed"):
        decode([INVALID["fragment_after_call_closed"]])


def test_missing_ids_come_from_the_id_factory() -> None:
    events = decode([STREAMS["empty_ids_crlf_unknown_finish"]], new_ctx(requested_model="m1"))
    start = events[0]
    assert isinstance(start, ir.MessageStart)
    assert start.id == IdFactory("test").make("chatcmpl-")
    assert start.model == "m1"


def test_unknown_finish_reason_is_noted() -> None:
    ctx = new_ctx()
    decode([STREAMS["empty_ids_crlf_unknown_finish"]], ctx)
    assert [n.path for n in ctx.notes] == ["choices[0].finish_reason"]
    assert "weird_reason" in ctx.notes[0].reason


def _sse(*chunks: dict[str, Any] | str) -> bytes:
    return b"".join(
        b"data: " + (c if isinstance(c, str) else json.dumps(c)).encode() + b"\n\n" for c in chunks
    )


@pytest.mark.parametrize("held", ["<thi", "  "])
def test_text_held_back_until_done_is_the_answer(held: str) -> None:
    # "<thi" may still become a <think> tag, leading blanks may precede one: held back, and
    # released as text by a [DONE] that comes without a finish_reason
    chunk = {"id": "c", "model": "m", "choices": [{"index": 0, "delta": {"content": held}}]}
    events = decode([_sse(chunk, "[DONE]")])
    check_ir_stream(events)
    assert summary(events) == {"parts": [T(held)], "stop": "end_turn", "usage": None, "error": None}


def test_a_finish_before_anything_started_the_message() -> None:
    # no id, no content, no usage before the finish_reason: a later chunk's id or usage still
    # starts the message (once), and [DONE] adds no second Finish
    finish = {"id": "", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    usage = {"id": "c9", "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 0}}
    events = decode([_sse(finish, usage, usage, "[DONE]")])
    assert [type(ev) for ev in events] == [
        ir.Finish,
        ir.MessageStart,
        ir.UsageUpdate,
        ir.UsageUpdate,
    ]
    assert isinstance(events[1], ir.MessageStart) and events[1].id == "c9"


# =========================================================================== re-encoded for the SDK


def encode(events: list[ir.StreamEvent], ctx: Context) -> list[SseEvent]:
    enc = codec.StreamEncoder(ctx)
    out: list[SseEvent] = []
    for ev in events:
        out += enc.push(ev)
    return out + enc.finish()


_FINISH = {
    "end_turn": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


@pytest.mark.parametrize("name", sorted(STREAMS))
def test_decoded_stream_reencoded_satisfies_the_openai_sdk(name: str) -> None:
    want = EXPECT[name]
    ctx = Context(client="openai", upstream="anthropic", ids=IdFactory("t"), created=1700000000)
    ctx.include_usage = True
    wire = encode(decode([STREAMS[name]]), ctx)
    check_openai_stream(wire)
    raw = encode_all(wire)
    if want.error is not None:
        with pytest.raises(openai.APIError, match=want.error[1][:20]):
            openai_final_completion(raw)
        return
    done = openai_final_completion(raw)
    choice = done.choices[0]
    text = "".join(p["text"] for p in want.parts if "text" in p)
    assert (choice.message.content or "") == text
    calls = [
        (c.id, c.function.name, c.function.arguments)
        for c in choice.message.tool_calls or []
        if c.type == "function"
    ]
    # A tool call that streamed no arguments reaches the client as "{}", as OpenAI sends it.
    assert calls == [(p["id"], p["tool"], p["args"] or "{}") for p in want.parts if "tool" in p]
    assert choice.finish_reason == _FINISH[want.stop or "end_turn"]
    assert done.usage is not None
    prompt, completion, cached = want.usage or (0, 0, None)
    assert (done.usage.prompt_tokens, done.usage.completion_tokens) == (prompt, completion)
    details = done.usage.prompt_tokens_details
    assert (details.cached_tokens if details else None) == cached


# =========================================================================== encoder, hand-built IR


def wire_json(events: list[SseEvent]) -> list[Any]:
    """SSE events as readable JSON: data parsed, comments kept."""
    out: list[Any] = []
    for ev in events:
        if ev.comment is not None:
            out.append({"comment": ev.comment})
        elif ev.data == "[DONE]":
            out.append("[DONE]")
        else:
            out.append(json.loads(ev.data or ""))
    return out


START = ir.MessageStart("msg_01abc", "claude-sonnet-5", ir.Usage(input_tokens=10))


def _text(i: int, *chunks: str) -> list[ir.StreamEvent]:
    return [ir.PartStart(i, ir.TextPart("")), *(ir.TextDelta(i, c) for c in chunks), ir.PartStop(i)]


def _call(i: int, call_id: str, name: str, *chunks: str) -> list[ir.StreamEvent]:
    start = ir.PartStart(i, ir.ToolCallPart(call_id, name, ""))
    return [start, *(ir.ToolArgsDelta(i, c) for c in chunks), ir.PartStop(i)]


@dataclass(frozen=True)
class EncCase:
    name: str
    events: list[ir.StreamEvent]
    include_usage: bool = True
    notes: tuple[str, ...] = ()  # paths of the expected Notes


ENCODER_CASES = [
    EncCase(
        "text_with_usage",
        [
            START,
            *_text(0, "Hel", "lo"),
            ir.UsageUpdate(ir.Usage(output_tokens=3)),
            ir.Finish("end_turn"),
        ],
    ),
    EncCase("no_usage_chunk_unless_asked", [START, *_text(0, "x"), ir.Finish("end_turn")], False),
    EncCase(
        "thinking_signature_dropped_then_tools",
        [
            START,
            ir.PartStart(0, ir.ThinkingPart("")),
            ir.ThinkingDelta(0, "hmm"),
            ir.SignatureDelta(0, "sig=="),
            ir.PartStop(0),
            ir.PartStart(1, ir.RedactedThinkingPart("opaque")),
            ir.PartStop(1),
            *_call(2, "toolu_1", "Bash", "", '{"command":', '"ls"}'),
            *_call(3, "toolu_2", "Read", '{"path":"a"}'),
            ir.KeepAlive(),
            ir.UsageUpdate(ir.Usage(input_tokens=12, output_tokens=40, cache_read_tokens=2)),
            ir.Finish("tool_use"),
        ],
        notes=("content[0]", "content[1]"),
    ),
    EncCase(
        "opaque_server_tool_dropped",
        [
            START,
            ir.PartStart(0, ir.OpaquePart("anthropic", "server_tool_use", {"name": "web_search"})),
            ir.OpaqueDelta(0, "anthropic", {"type": "input_json_delta"}),
            ir.PartStop(0),
            *_text(1, "Found it."),
            ir.Finish("pause_turn"),
        ],
        notes=("content[0]",),
    ),
    EncCase(
        "error_mid_stream",
        [
            START,
            *_text(0, "par"),
            ir.StreamError(ir.ErrorInfo("overloaded", "Overloaded")),
            ir.Finish("end_turn"),
        ],
    ),
    EncCase("ends_without_finish", [START, ir.PartStart(0, ir.TextPart("")), ir.TextDelta(0, "a")]),
    EncCase("error_before_anything", [ir.StreamError(ir.ErrorInfo("rate_limit", "slow down"))]),
]


@pytest.mark.parametrize("case", ENCODER_CASES, ids=lambda c: c.name)
def test_encoder(case: EncCase, snapshot_json: SnapshotAssertion) -> None:
    ctx = Context(client="openai", upstream="anthropic", ids=IdFactory("t"), created=1700000000)
    ctx.include_usage = case.include_usage
    wire = encode(case.events, ctx)
    check_openai_stream(wire)
    assert tuple(n.path for n in ctx.notes) == case.notes
    assert wire_json(wire) == snapshot_json


def test_encoder_output_through_the_sdk_keeps_tools_thinking_and_usage() -> None:
    case = next(c for c in ENCODER_CASES if c.name == "thinking_signature_dropped_then_tools")
    ctx = Context(client="openai", upstream="anthropic", created=1700000000, include_usage=True)
    done = openai_final_completion(encode_all(encode(case.events, ctx)))
    assert done.id == "chatcmpl-01abc" and done.model == "claude-sonnet-5"
    msg = done.choices[0].message
    calls = msg.tool_calls or []
    assert [
        (c.id, c.function.name, c.function.arguments) for c in calls if c.type == "function"
    ] == [
        ("toolu_1", "Bash", '{"command":"ls"}'),
        ("toolu_2", "Read", '{"path":"a"}'),
    ]
    assert (msg.model_extra or {}).get("reasoning_content") == "hmm"
    assert done.choices[0].finish_reason == "tool_calls"
    assert done.usage is not None
    assert (done.usage.prompt_tokens, done.usage.completion_tokens) == (12, 40)
    assert done.usage.prompt_tokens_details is not None
    assert done.usage.prompt_tokens_details.cached_tokens == 2


@pytest.mark.parametrize(
    "name", ["error_mid_stream", "ends_without_finish", "error_before_anything"]
)
def test_encoder_failures_raise_in_the_sdk(name: str) -> None:
    case = next(c for c in ENCODER_CASES if c.name == name)
    ctx = Context(client="openai", upstream="anthropic", include_usage=True)
    wire = encode(case.events, ctx)
    assert all(ev.data != "[DONE]" for ev in wire)
    with pytest.raises(openai.APIError):
        openai_final_completion(encode_all(wire))
