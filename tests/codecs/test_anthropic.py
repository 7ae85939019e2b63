"""The Anthropic codec: requests, responses, errors and streams, both directions.

Fixtures under ``tests/fixtures/anthropic`` are hand-written from the documented wire format.
Streams our encoder writes are judged twice: by ``tests.grammar.check_anthropic_stream`` and by
the official SDK's own accumulator (``tests.sdk``).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

import anthropic as anthropic_sdk
import pytest
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

from recorder import ir
from recorder.codecs import anthropic as codec
from recorder.codecs.anthropic_parts import _STOP_REASON_FROM_IR, _STOP_REASON_TO_IR
from recorder.context import Context, IdFactory
from recorder.errors import StreamProtocolError, UnsupportedContentError, WireFormatError
from recorder.sse import SseEvent, SseParser, encode_all
from recorder.wire import anthropic as w
from tests.grammar import check_anthropic_stream
from tests.sdk import anthropic_error, anthropic_final_message, anthropic_parse_message

FIXTURES = Path(__file__).parents[1] / "fixtures" / "anthropic"
REQUESTS = sorted((FIXTURES / "requests").glob("*.json"))
RESPONSES = sorted((FIXTURES / "responses").glob("*.json"))
STREAMS = {p.stem: p.read_bytes() for p in sorted((FIXTURES / "streams").glob("*.sse"))}
COMPLETE_STREAMS = sorted(set(STREAMS) - {"error", "truncated"})


@pytest.fixture
def snapshot_json(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    return snapshot.use_extension(JSONSnapshotExtension)


def make_ctx(client: ir.Dialect = "anthropic", upstream: ir.Dialect = "anthropic") -> Context:
    return Context(client=client, upstream=upstream, ids=IdFactory("test"))


def to_json(obj: Any) -> Any:
    """IR values as JSON for snapshots, each dataclass tagged with its class name."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        fields = {f.name: to_json(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
        return {"_": type(obj).__name__, **fields}
    if isinstance(obj, list | tuple):
        return [to_json(x) for x in obj]
    if isinstance(obj, dict):
        return {k: to_json(v) for k, v in obj.items()}
    return obj


def notes(ctx: Context) -> list[str]:
    return [f"{n.path}: {n.reason}" for n in ctx.notes]


# --------------------------------------------------------------------------- requests


def normalize_request(body: dict[str, Any]) -> dict[str, Any]:
    """Forms the API treats alike: string content is one text block, stream false is absent."""

    def blocks(content: Any) -> Any:
        return [{"type": "text", "text": content}] if isinstance(content, str) else content

    out: dict[str, Any] = json.loads(json.dumps(body))
    if out.get("stream") is False:
        del out["stream"]
    if "system" in out:
        out["system"] = blocks(out["system"])
    for m in out["messages"]:
        m["content"] = blocks(m["content"])
        for b in m["content"]:
            if b["type"] == "tool_result" and "content" in b:
                b["content"] = blocks(b["content"])
    return out


@pytest.mark.parametrize("path", REQUESTS, ids=lambda p: p.stem)
def test_request_round_trip(path: Path, snapshot_json: SnapshotAssertion) -> None:
    body = json.loads(path.read_text())
    req = codec.request_to_ir(body)
    ctx = make_ctx()
    out = codec.request_from_ir(req, ctx)
    assert normalize_request(out) == normalize_request(body)
    assert ctx.notes == []
    assert to_json(req) == snapshot_json


def load_request(name: str) -> ir.Request:
    return codec.request_to_ir(json.loads((FIXTURES / "requests" / f"{name}.json").read_text()))


def test_claude_code_request_maps_its_new_features() -> None:
    req = load_request("claude_code_turn1")
    assert req.messages[-1].role == "system"  # mid-conversation system message stays in place
    assert req.thinking == ir.ThinkingConfig("adaptive", None, "high")
    assert req.user is not None and "sess-hand" in req.user
    assert set(req.extra) == {"context_management"}  # output_config fully mapped
    assert req.system[2].cache_control == {"type": "ephemeral", "ttl": "1h"}
    assert req.tools[1].extra == {"defer_loading": True, "input_examples": [{"path": "README.md"}]}


def test_tool_round_request_maps_tools_and_results() -> None:
    req = load_request("claude_code_tool_round")
    assistant = req.messages[1].content
    assert isinstance(assistant[0], ir.ThinkingPart) and assistant[0].signature
    call = assistant[2]
    assert isinstance(call, ir.ToolCallPart)
    assert call.arguments == '{"command":"ls -la","opts":{"timeout":30,"unicode":"é"}}'
    result = req.messages[4].content[0]
    assert isinstance(result, ir.ToolResultPart) and result.is_error is True
    assert [type(p) for p in result.content] == [ir.TextPart, ir.ImagePart]
    assert req.parallel_tool_calls is False


def test_unknown_blocks_and_sources_stay_opaque() -> None:
    req = load_request("media_and_unknown")
    kinds = [(type(p).__name__, getattr(p, "type", None)) for p in req.messages[1].content]
    assert kinds == [
        ("OpaquePart", "server_tool_use"),
        ("OpaquePart", "web_search_tool_result"),
        ("RedactedThinkingPart", None),
        ("TextPart", None),
    ]
    images = req.messages[0].content[:3]
    assert isinstance(images[2], ir.OpaquePart) and images[2].type == "image"  # file source
    assert req.tools[0].extra["type"] == "web_search_20250305"
    assert req.messages[2].extra == {"x_future_field": 1}


@dataclass(frozen=True)
class BadBody:
    name: str
    body: Any
    message: str


BAD_REQUESTS = [
    BadBody("not_object", [1], "must be a JSON object"),
    BadBody("no_messages", {"model": "m"}, "messages: Field required"),
    BadBody(
        "model_not_string", {"model": 3, "messages": []}, "model: Input should be a valid string"
    ),
    BadBody("bad_role", {"model": "m", "messages": [{"role": "bot", "content": "x"}]}, "role"),
    BadBody(
        "tool_use_input_not_object",
        {
            "model": "m",
            "messages": [
                {
                    "role": "assistant",
                    "content": [{"type": "tool_use", "id": "t", "name": "n", "input": [1]}],
                }
            ],
        },
        "messages.0.content.0<tool_use>.input",
    ),
    BadBody(
        "block_without_type",
        {"model": "m", "messages": [{"role": "user", "content": [{"text": "x"}]}]},
        'messages.0.content.0: needs a string "type"',
    ),
]


@pytest.mark.parametrize("case", BAD_REQUESTS, ids=lambda c: c.name)
def test_bad_request_is_a_readable_wire_format_error(case: BadBody) -> None:
    with pytest.raises(WireFormatError, match=None) as e:
        codec.request_to_ir(case.body)
    assert case.message in str(e.value)


# ----------------------------------------------------------- requests from another dialect


def text(s: str) -> ir.TextPart:
    return ir.TextPart(s)


@dataclass(frozen=True)
class CrossRequest:
    name: str
    req: ir.Request


CROSS_REQUESTS = [
    CrossRequest(
        "openai_tool_conversation",
        ir.Request(
            model="claude-sonnet-5",
            messages=[
                ir.Message("system", [text("Be brief.")]),
                ir.Message("system", [text("Use tools.")]),
                ir.Message("user", [text("weather in Paris and Rome?")]),
                ir.Message(
                    "assistant",
                    [
                        ir.ThinkingPart("from reasoning_content", None),
                        ir.TextPart(""),
                        ir.ToolCallPart("call_1", "get_weather", '{"city":"Paris"}'),
                        ir.ToolCallPart("functions.get_weather:1", "get_weather", ""),
                    ],
                    extra={"refusal": None},
                ),
                ir.Message("user", [ir.ToolResultPart("call_1", [text("sunny")])]),
                ir.Message("user", [ir.ToolResultPart("functions.get_weather:1", [text("rain")])]),
                ir.Message("user", [text("and tomorrow?")]),
                ir.Message("system", [text("Answer in French.")]),
            ],
            tools=[
                ir.Tool("get_weather", "Weather", {"type": "object"}, extra={"type": "function"})
            ],
            tool_choice=ir.ToolChoice("auto"),
            parallel_tool_calls=False,
            temperature=0.3,
            stop_sequences=["END"],
            stream=True,
            include_usage=True,
            user="u-1",
            extra={"logprobs": True, "seed": 7},
        ),
    ),
    CrossRequest(
        "effort_only_thinking_without_max_tokens",
        ir.Request(
            model="claude-sonnet-5",
            messages=[ir.Message("user", [text("think hard")])],
            thinking=ir.ThinkingConfig("enabled", effort="high"),
            temperature=0.5,
            top_p=0.5,
        ),
    ),
    CrossRequest(
        "thinking_budget_clamped_and_signed_thinking_kept",
        ir.Request(
            model="claude-sonnet-5",
            max_tokens=2000,
            messages=[
                ir.Message("user", [text("q")]),
                ir.Message("assistant", [ir.ThinkingPart("t", "Sig=="), text("a")]),
                ir.Message("user", [ir.ImagePart(url="data:image/png;base64,iVBORw0KGgo=")]),
            ],
            thinking=ir.ThinkingConfig("enabled", effort="medium"),
        ),
    ),
    CrossRequest(
        "forced_tool_choice_drops_thinking",
        ir.Request(
            model="claude-sonnet-5",
            max_tokens=10000,
            messages=[ir.Message("user", [text("q")])],
            tools=[ir.Tool("x")],
            tool_choice=ir.ToolChoice("tool", "x"),
            thinking=ir.ThinkingConfig("enabled", budget_tokens=5000),
        ),
    ),
    CrossRequest(
        "tool_choice_without_tools_and_no_room_for_thinking",
        ir.Request(
            model="claude-sonnet-5",
            max_tokens=100,
            messages=[ir.Message("user", [text("q")])],
            tool_choice=ir.ToolChoice("any"),
            thinking=ir.ThinkingConfig("enabled", budget_tokens=5000),
        ),
    ),
]


def check_anthropic_conversation(out: dict[str, Any]) -> None:
    """Invariants Anthropic enforces: alternating roles, tool results first in their turn and
    answering the previous turn's tool_use ids, no empty text."""
    w.validate(w.MessagesRequest, out, "request")
    roles = [m["role"] for m in out["messages"]]
    assert all(a != b for a, b in zip(roles, roles[1:], strict=False)), roles
    pending: set[str] = set()
    for m in out["messages"]:
        blocks = m["content"] if isinstance(m["content"], list) else []
        kinds = [b["type"] for b in blocks]
        assert kinds == sorted(kinds, key=lambda k: k != "tool_result"), kinds
        results = {b["tool_use_id"] for b in blocks if b["type"] == "tool_result"}
        assert results == pending, (results, pending)
        pending = {b["id"] for b in blocks if b["type"] == "tool_use"}
        assert all(b["text"] for b in blocks if b["type"] == "text")


@pytest.mark.parametrize("case", CROSS_REQUESTS, ids=lambda c: c.name)
def test_request_from_openai_ir(case: CrossRequest, snapshot_json: SnapshotAssertion) -> None:
    ctx = make_ctx(client="openai")
    out = codec.request_from_ir(case.req, ctx)
    check_anthropic_conversation(out)
    if "thinking" in out and out["thinking"]["type"] == "enabled":
        assert 1024 <= out["thinking"]["budget_tokens"] < out["max_tokens"]
    assert {"wire": out, "notes": notes(ctx)} == snapshot_json


def test_tool_id_sanitizing_is_shared_by_call_and_result() -> None:
    out = codec.request_from_ir(CROSS_REQUESTS[0].req, make_ctx(client="openai"))
    call = out["messages"][1]["content"][-1]
    result = out["messages"][2]["content"][1]
    assert call["id"] == result["tool_use_id"] != "functions.get_weather:1"
    assert call["input"] == {}  # "" arguments


@pytest.mark.parametrize(
    ("part", "message"),
    [
        (ir.OpaquePart("openai", "input_audio", {"type": "input_audio"}), "input_audio"),
        (ir.ImagePart(data="AAAA"), "media type"),
    ],
)
def test_content_anthropic_cannot_carry_is_refused(part: ir.Part, message: str) -> None:
    req = ir.Request(model="m", messages=[ir.Message("assistant", [part])], max_tokens=10)
    with pytest.raises(UnsupportedContentError, match=message):
        codec.request_from_ir(req, make_ctx(client="openai"))


@pytest.mark.parametrize("arguments", ['{"a":', "[1]"])
def test_broken_tool_arguments_in_history_are_carried_not_refused(arguments: str) -> None:
    call = ir.ToolCallPart("call_9", "f", arguments)
    req = ir.Request(model="m", messages=[ir.Message("assistant", [call])], max_tokens=10)
    ctx = make_ctx(client="openai")
    out = codec.request_from_ir(req, ctx)
    assert out["messages"][0]["content"][0]["input"] == {"_raw_arguments": arguments}
    assert any("_raw_arguments" in n.reason for n in ctx.notes)


# --------------------------------------------------------------------------- responses


@pytest.mark.parametrize("path", RESPONSES, ids=lambda p: p.stem)
def test_response_to_ir(path: Path, snapshot_json: SnapshotAssertion) -> None:
    body = json.loads(path.read_text())
    ctx = make_ctx(client="openai")
    resp = codec.response_to_ir(body, ctx)
    usage = body["usage"]
    cache = usage.get("cache_read_input_tokens", 0) + usage.get("cache_creation_input_tokens", 0)
    assert resp.usage.input_tokens == usage["input_tokens"] + cache
    # back to Anthropic: the same body up to the fields Anthropic always sends
    again = codec.response_from_ir(resp, make_ctx())
    assert again["content"] == body["content"]
    assert again["usage"]["input_tokens"] == usage["input_tokens"]
    assert {"ir": to_json(resp), "notes": notes(ctx)} == snapshot_json


def test_response_from_openai_ir_is_what_the_sdk_accepts() -> None:
    resp = ir.Response(
        id="chatcmpl-Abc.1",
        model="gpt-x",
        content=[
            ir.ThinkingPart("reasoning text"),  # no signature: "" on the wire, never fabricated
            ir.TextPart(""),
            ir.TextPart("Hi"),
            ir.ToolCallPart("call_1", "f", '{"a": [1, 2]}'),
            ir.ToolCallPart("", "g", ""),
        ],
        stop_reason="content_filter",
        usage=ir.Usage(input_tokens=100, output_tokens=7, cache_read_tokens=60, reasoning_tokens=3),
        extra={"system_fingerprint": "fp"},
    )
    ctx = make_ctx(client="anthropic", upstream="openai")
    body = codec.response_from_ir(resp, ctx)
    msg = anthropic_parse_message(body)
    assert msg.id == "msg_chatcmpl-Abc_1" and msg.model == "gpt-x"
    assert msg.stop_reason == "refusal"
    assert [b.type for b in msg.content] == ["thinking", "text", "tool_use", "tool_use"]
    assert msg.content[0].signature == ""  # type: ignore[union-attr]
    assert msg.content[2].input == {"a": [1, 2]}  # type: ignore[union-attr]
    assert msg.content[3].input == {} and msg.content[3].id.startswith("toolu_")  # type: ignore[union-attr]
    assert (msg.usage.input_tokens, msg.usage.cache_read_input_tokens) == (40, 60)
    assert msg.usage.cache_creation_input_tokens == 0
    assert notes(ctx) == [
        "content[1]: empty text block omitted",
        "system_fingerprint: no Anthropic equivalent; dropped",
    ]


def test_response_id_is_minted_only_when_missing() -> None:
    resp = ir.Response(id="", model="m", content=[], stop_reason="end_turn")
    first = codec.response_from_ir(resp, make_ctx(upstream="openai"))["id"]
    assert first.startswith("msg_")
    assert first == codec.response_from_ir(resp, make_ctx(upstream="openai"))["id"]


def test_stop_reason_tables_cover_every_ir_stop_reason() -> None:
    assert set(_STOP_REASON_FROM_IR) == set(get_args(ir.StopReason))
    assert set(_STOP_REASON_TO_IR.values()) <= set(get_args(ir.StopReason))
    for wire, sr in _STOP_REASON_TO_IR.items():
        assert _STOP_REASON_FROM_IR[sr] == wire


# --------------------------------------------------------------------------- errors


@dataclass(frozen=True)
class ErrIn:
    name: str
    status: int
    body: Any
    kind: ir.ErrorKind
    message: str


ERRORS_IN = [
    ErrIn(
        "auth",
        401,
        {
            "type": "error",
            "error": {"type": "authentication_error", "message": "invalid x-api-key"},
            "request_id": "req_1",
        },
        "authentication",
        "invalid x-api-key",
    ),
    ErrIn(
        "not_found",
        404,
        {"type": "error", "error": {"type": "not_found_error", "message": "model: x"}},
        "not_found",
        "model: x",
    ),
    ErrIn(
        "overloaded",
        529,
        {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
        "overloaded",
        "Overloaded",
    ),
    ErrIn(
        "api_error_503",
        503,
        {"type": "error", "error": {"type": "api_error", "message": "x"}},
        "unavailable",
        "x",
    ),
    ErrIn(
        "aws_shape",
        403,
        {"message": "You don't have access to the model"},
        "permission",
        "You don't have access to the model",
    ),
    ErrIn("html_text", 502, "<html>Bad Gateway</html>", "bad_gateway", "<html>Bad Gateway</html>"),
    ErrIn(
        "json_bytes",
        400,
        b'{"type":"error","error":{"type":"invalid_request_error","message":"bad"}}',
        "invalid_request",
        "bad",
    ),
    ErrIn("empty", 504, b"", "timeout", "upstream answered HTTP 504"),
    ErrIn("odd_4xx", 418, {"what": 1}, "invalid_request", "upstream answered HTTP 418"),
]


@pytest.mark.parametrize("case", ERRORS_IN, ids=lambda c: c.name)
def test_error_to_ir(case: ErrIn) -> None:
    err = codec.error_to_ir(case.status, case.body)
    assert (err.kind, err.message, err.status) == (case.kind, case.message, case.status)


ERROR_KINDS: list[tuple[ir.ErrorKind, int, str, type[Exception]]] = [
    ("invalid_request", 400, "invalid_request_error", anthropic_sdk.BadRequestError),
    ("authentication", 401, "authentication_error", anthropic_sdk.AuthenticationError),
    ("billing", 402, "billing_error", anthropic_sdk.APIStatusError),
    ("permission", 403, "permission_error", anthropic_sdk.PermissionDeniedError),
    ("not_found", 404, "not_found_error", anthropic_sdk.NotFoundError),
    ("request_too_large", 413, "request_too_large", anthropic_sdk.APIStatusError),
    ("rate_limit", 429, "rate_limit_error", anthropic_sdk.RateLimitError),
    ("api_error", 500, "api_error", anthropic_sdk.InternalServerError),
    ("bad_gateway", 502, "api_error", anthropic_sdk.InternalServerError),
    ("unavailable", 503, "api_error", anthropic_sdk.InternalServerError),
    ("timeout", 504, "timeout_error", anthropic_sdk.InternalServerError),
    ("overloaded", 529, "overloaded_error", anthropic_sdk.OverloadedError),
]


def test_error_table_covers_every_kind() -> None:
    assert {k for k, *_ in ERROR_KINDS} == set(get_args(ir.ErrorKind))


@pytest.mark.parametrize(("kind", "status", "wire_type", "exc"), ERROR_KINDS, ids=lambda x: str(x))
def test_error_from_ir(
    kind: ir.ErrorKind, status: int, wire_type: str, exc: type[Exception]
) -> None:
    got_status, body = codec.error_from_ir(ir.ErrorInfo(kind=kind, message="boom", status=599))
    assert (got_status, body) == (
        status,
        {"type": "error", "error": {"type": wire_type, "message": "boom"}},
    )
    raised = anthropic_error(got_status, body)
    assert isinstance(raised, exc) and raised.status_code == status


def test_error_from_ir_keeps_a_plausible_upstream_status() -> None:
    assert codec.error_from_ir(ir.ErrorInfo("invalid_request", "x", status=422))[0] == 422
    assert codec.error_from_ir(ir.ErrorInfo("timeout", "x", status=408))[0] == 408
    assert codec.error_from_ir(ir.ErrorInfo("rate_limit", "x", status=400))[0] == 429


# --------------------------------------------------------------------------- stream decoder


def decode(raw: bytes, cuts: tuple[int, ...] = ()) -> list[ir.StreamEvent]:
    parser, dec = SseParser(), codec.StreamDecoder(make_ctx(client="openai"))
    out: list[ir.StreamEvent] = []
    prev = 0
    for cut in (*cuts, len(raw)):
        for ev in parser.feed(raw[prev:cut]):
            out += dec.push(ev)
        prev = cut
    for ev in parser.close():
        out += dec.push(ev)
    return out + dec.finish()


@pytest.mark.parametrize("name", sorted(STREAMS))
def test_decoder(name: str, snapshot_json: SnapshotAssertion) -> None:
    events = decode(STREAMS[name])
    errors = [e for e in events if isinstance(e, ir.StreamError)]
    assert len(errors) == (1 if name in ("error", "truncated") else 0)
    assert sum(isinstance(e, ir.MessageStart) for e in events) == 1
    assert to_json(events) == snapshot_json


@pytest.mark.parametrize("name", sorted(STREAMS))
def test_decoder_output_does_not_depend_on_chunking(name: str) -> None:
    raw = STREAMS[name]
    whole = to_json(decode(raw))
    for i in range(1, len(raw)):
        assert to_json(decode(raw, (i,))) == whole, f"split at byte {i}"


def test_decoder_details() -> None:
    events = decode(STREAMS["tool"])
    args = "".join(e.json for e in events if isinstance(e, ir.ToolArgsDelta) and e.index == 1)
    assert json.loads(args) == {"amount": 12.5, "from_cur": "EUR"}
    assert not any(isinstance(e, ir.ToolArgsDelta) and e.index == 2 for e in events)  # "" only
    usage = [e.usage for e in events if isinstance(e, ir.UsageUpdate)][-1]
    assert (usage.input_tokens, usage.cache_read_tokens, usage.output_tokens) == (2520, 2000, 61)
    padded = decode(STREAMS["padded"])
    assert sum(isinstance(e, ir.KeepAlive) for e in padded) == 3  # comment + 2 pings
    assert any(
        isinstance(e, ir.OpaqueDelta) and e.data["type"] == "citations_delta" for e in padded
    )
    err = [e for e in decode(STREAMS["error"]) if isinstance(e, ir.StreamError)][0].error
    assert (err.kind, err.message) == ("overloaded", "Overloaded")
    cut = [e for e in decode(STREAMS["truncated"]) if isinstance(e, ir.StreamError)][0].error
    assert cut.message == "upstream stream ended before message_stop"


def sse(kind: str, data: str) -> SseEvent:
    return SseEvent(event=kind, data=data)


START = sse(
    "message_start", '{"type":"message_start","message":{"id":"msg_1","model":"m","usage":{}}}'
)
TEXT_START = sse(
    "content_block_start",
    '{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}',
)


@pytest.mark.parametrize(
    ("events", "message"),
    [
        ([sse("message_start", '{"type":"message_start",')], "not JSON"),
        ([sse("message_start", "[1]")], "not an object"),
        ([sse("message_start", '{"type":"message_start"}')], "malformed"),
        ([START, START], "second message_start"),
        (
            [
                START,
                sse(
                    "content_block_delta",
                    '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x"}}',
                ),
            ],
            "not open",
        ),
        ([START, TEXT_START, TEXT_START], "is open"),
        (
            [
                START,
                TEXT_START,
                sse(
                    "content_block_delta",
                    '{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{"}}',
                ),
            ],
            "inside a text block",
        ),
    ],
)
def test_decoder_rejects_broken_streams(events: list[SseEvent], message: str) -> None:
    dec = codec.StreamDecoder(make_ctx(client="openai"))
    with pytest.raises(StreamProtocolError, match=message):
        for ev in events:
            dec.push(ev)


# --------------------------------------------------------------------------- stream encoder


@dataclass(frozen=True)
class EncodeCase:
    name: str
    events: list[ir.StreamEvent]
    text: str = ""
    tools: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    thinking: str = ""
    stop: str | None = "end_turn"
    usage: tuple[int, int, int] | None = None  # input, output, cache_read as the SDK sees them
    error: str | None = None  # expected error type when the stream must fail


U = ir.UsageUpdate
P = ir.PartStart
ENCODE_CASES = [
    EncodeCase(
        "text_with_usage_after_finish",
        [
            ir.MessageStart("chatcmpl-1", "gpt-x"),
            P(0, text("")),
            ir.TextDelta(0, "Hel"),
            ir.TextDelta(0, "lo"),
            ir.PartStop(0),
            ir.Finish("end_turn"),
            U(ir.Usage(input_tokens=120, output_tokens=5, cache_read_tokens=100)),
        ],
        text="Hello",
        usage=(20, 5, 100),
    ),
    EncodeCase(
        "tool_args_streamed_and_whole",
        [
            ir.MessageStart("c", "m"),
            P(0, text("")),
            ir.TextDelta(0, "Checking."),
            ir.PartStop(0),
            P(1, ir.ToolCallPart("call_a", "get_weather", "")),
            ir.ToolArgsDelta(1, '{"ci'),
            ir.ToolArgsDelta(1, 'ty":"Paris"}'),
            ir.PartStop(1),
            P(2, ir.ToolCallPart("call_b", "list_files", '{"dir":"."}')),
            ir.PartStop(2),
            P(3, ir.ToolCallPart("call_c", "no_args", "")),
            ir.PartStop(3),
            ir.Finish("tool_use"),
        ],
        text="Checking.",
        tools=[("get_weather", {"city": "Paris"}), ("list_files", {"dir": "."}), ("no_args", {})],
        stop="tool_use",
    ),
    EncodeCase(
        "unsigned_and_signed_thinking",
        [
            ir.MessageStart("c", "m"),
            P(0, ir.ThinkingPart("")),
            ir.ThinkingDelta(0, "hmm "),
            ir.ThinkingDelta(0, "ok"),
            ir.PartStop(0),
            P(1, ir.ThinkingPart("whole", "Sig==")),
            ir.PartStop(1),
            P(2, text("42")),
            ir.PartStop(2),
            ir.Finish("max_tokens"),
        ],
        text="42",
        thinking="hmm okwhole",
        stop="max_tokens",
    ),
    EncodeCase(
        "keepalives_no_message_start_no_part_stop",
        [
            ir.KeepAlive(),
            P(0, text("x")),
            ir.KeepAlive(),
            ir.TextDelta(0, "y"),
            ir.Finish("content_filter"),
        ],
        text="xy",
        stop="refusal",
    ),
    EncodeCase(
        "error_mid_stream",
        [
            ir.MessageStart("c", "m"),
            P(0, text("")),
            ir.TextDelta(0, "par"),
            ir.StreamError(ir.ErrorInfo("rate_limit", "slow down")),
            ir.TextDelta(0, "ignored"),
        ],
        error="rate_limit_error",
    ),
    EncodeCase(
        "ended_without_finish",
        [ir.MessageStart("c", "m"), P(0, text("")), ir.TextDelta(0, "cut")],
        error="api_error",
    ),
    EncodeCase(
        "error_before_anything",
        [ir.StreamError(ir.ErrorInfo("overloaded", "busy"))],
        error="overloaded_error",
    ),
]


def encode(events: list[ir.StreamEvent], ctx: Context | None = None) -> list[SseEvent]:
    enc = codec.StreamEncoder(ctx or make_ctx(upstream="openai"))
    out: list[SseEvent] = []
    for ev in events:
        out += enc.push(ev)
    return out + enc.finish()


def readable(events: list[SseEvent]) -> list[dict[str, Any]]:
    return [
        {"comment": e.comment}
        if e.comment is not None
        else {"event": e.event, "data": json.loads(e.data or "")}
        for e in events
    ]


@pytest.mark.parametrize("case", ENCODE_CASES, ids=lambda c: c.name)
def test_encoder(case: EncodeCase, snapshot_json: SnapshotAssertion) -> None:
    out = encode(case.events)
    check_anthropic_stream(out)
    assert readable(out) == snapshot_json
    raw = encode_all(out)
    if case.error is not None:
        assert json.loads(out[-1].data or "")["error"]["type"] == case.error
        with pytest.raises(anthropic_sdk.APIStatusError):
            anthropic_final_message(raw)
        return
    msg = anthropic_final_message(raw)
    assert msg.stop_reason == case.stop
    assert "".join(b.text for b in msg.content if b.type == "text") == case.text
    assert "".join(b.thinking for b in msg.content if b.type == "thinking") == case.thinking
    assert [(b.name, b.input) for b in msg.content if b.type == "tool_use"] == case.tools
    if case.usage is not None:
        u = msg.usage
        assert (u.input_tokens, u.output_tokens, u.cache_read_input_tokens) == case.usage
        assert u.cache_creation_input_tokens == 0


def test_encoder_refuses_broken_tool_arguments_with_an_error() -> None:
    enc = codec.StreamEncoder(make_ctx(upstream="openai"))
    opening: list[ir.StreamEvent] = [
        ir.MessageStart("c", "m"),
        P(0, ir.ToolCallPart("call_1", "f", "")),
        ir.ToolArgsDelta(0, "{oops"),
    ]
    for ev in opening:
        enc.push(ev)
    with pytest.raises(UnsupportedContentError, match="'f'"):
        enc.push(ir.PartStop(0))


@pytest.mark.parametrize("name", COMPLETE_STREAMS)
def test_decode_then_encode_is_what_the_sdk_saw_in_the_original(name: str) -> None:
    """Anthropic -> IR -> Anthropic keeps everything a client accumulates."""
    ctx = make_ctx()
    out = encode(decode(STREAMS[name]), ctx)
    check_anthropic_stream(out)
    original = anthropic_final_message(STREAMS[name])
    again = anthropic_final_message(encode_all(out))
    assert again.model_dump() == original.model_dump()
