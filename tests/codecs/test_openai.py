"""The OpenAI Chat Completions codec: requests, non-streaming responses and errors, both ways.

Bodies are hand-written from the documented wire format. Each case is snapshotted (IR or wire
JSON plus the Notes) and also asserts the behaviour that matters; responses and errors written
for an OpenAI client are parsed by the openai SDK.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from typing import Any

import openai
import pytest
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

from recorder import ir
from recorder.codecs import openai as codec
from recorder.context import Context, IdFactory
from recorder.errors import UnsupportedContentError, WireFormatError
from tests.codecs.test_openai_stream import as_json
from tests.sdk_openai import openai_error, openai_parse_completion


@pytest.fixture
def snapshot_json(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    return snapshot.use_extension(JSONSnapshotExtension)


def to_openai_ctx() -> Context:
    return Context(client="anthropic", upstream="openai", ids=IdFactory("t"), created=1700000000)


def notes(ctx: Context) -> list[dict[str, str]]:
    return [dataclasses.asdict(n) for n in ctx.notes]


PNG = "iVBORw0KGgo="

# =========================================================================== request -> IR


@dataclass(frozen=True)
class ReqCase:
    name: str
    body: dict[str, Any]


REQUESTS_TO_IR = [
    ReqCase(
        "everything",
        {
            "model": "gpt-4o",
            "messages": [
                {"role": "developer", "content": "Be brief."},
                {"role": "system", "content": [{"type": "text", "text": "Sys"}]},
                {
                    "role": "user",
                    "name": "ann",
                    "content": [
                        {"type": "text", "text": "Look"},
                        {
                            "type": "image_url",
                            "image_url": {"url": f"data:image/png;base64,{PNG}", "detail": "low"},
                        },
                        {"type": "image_url", "image_url": {"url": "https://x/y.jpg"}},
                        {
                            "type": "file",
                            "file": {
                                "file_data": "data:application/pdf;base64,JVBE",
                                "filename": "a.pdf",
                            },
                        },
                        {"type": "input_audio", "input_audio": {"data": "AAA", "format": "wav"}},
                    ],
                },
                {
                    "role": "assistant",
                    "content": "Calling.",
                    "reasoning_content": "I should call.",
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "f", "arguments": '{"a": 1'},
                        },
                        {
                            "id": "call_2",
                            "type": "function",
                            "function": {"name": "g", "arguments": ""},
                        },
                    ],
                },
                {"role": "tool", "tool_call_id": "call_1", "content": "one"},
                {
                    "role": "tool",
                    "tool_call_id": "call_2",
                    "content": [{"type": "text", "text": "two"}],
                },
                {"role": "system", "content": "mid-conversation system"},
                {"role": "user", "content": "thanks"},
            ],
            "tools": [
                {
                    "type": "function",
                    "function": {
                        "name": "f",
                        "description": "F",
                        "parameters": {"type": "object"},
                        "strict": True,
                    },
                }
            ],
            "tool_choice": {"type": "function", "function": {"name": "f"}},
            "parallel_tool_calls": False,
            "max_completion_tokens": 100,
            "max_tokens": 5,
            "temperature": 0.2,
            "top_p": 0.9,
            "top_k": 40,
            "stop": "END",
            "stream": True,
            "stream_options": {"include_usage": True},
            "reasoning_effort": "low",
            "user": "u1",
            "response_format": {"type": "json_object"},
            "seed": 7,
            "n": 1,
            "logit_bias": {"50256": -100},
        },
    ),
    ReqCase(
        "legacy_functions",
        {
            "model": "gpt-3.5-turbo",
            "messages": [
                {"role": "user", "content": "weather?"},
                {
                    "role": "assistant",
                    "content": None,
                    "function_call": {"name": "w", "arguments": "{}"},
                },
                {"role": "function", "name": "w", "content": "sunny"},
            ],
            "functions": [{"name": "w", "parameters": {"type": "object", "properties": {}}}],
            "function_call": "auto",
        },
    ),
    ReqCase(
        "openrouter_reasoning_and_required",
        {
            "model": "deepseek/deepseek-r1",
            "messages": [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "hello", "reasoning": "greet back"},
                {"role": "user", "content": "bye"},
            ],
            "tools": [{"type": "function", "function": {"name": "x"}}],
            "tool_choice": "required",
            "stop": ["a", "b"],
            "reasoning_effort": "none",
        },
    ),
]


@pytest.mark.parametrize("case", REQUESTS_TO_IR, ids=lambda c: c.name)
def test_request_to_ir(case: ReqCase, snapshot_json: SnapshotAssertion) -> None:
    req = codec.request_to_ir(case.body)
    assert as_json(req) == snapshot_json


def test_request_to_ir_key_behaviours() -> None:
    req = codec.request_to_ir(REQUESTS_TO_IR[0].body)
    assert [m.role for m in req.messages] == [
        "system",
        "system",
        "user",
        "assistant",
        "user",
        "system",
        "user",
    ]
    assistant = req.messages[3].content
    assert isinstance(assistant[0], ir.ThinkingPart)  # reasoning first
    assert [type(p).__name__ for p in assistant[1:]] == ["TextPart", "ToolCallPart", "ToolCallPart"]
    assert (
        isinstance(assistant[2], ir.ToolCallPart) and assistant[2].arguments == '{"a": 1'
    )  # verbatim
    results = req.messages[4].content
    assert [p.tool_call_id for p in results if isinstance(p, ir.ToolResultPart)] == [
        "call_1",
        "call_2",
    ]
    assert req.max_tokens == 100 and req.stop_sequences == ["END"] and req.top_k == 40
    assert req.include_usage is True and req.thinking == ir.ThinkingConfig("enabled", effort="low")
    assert req.tool_choice == ir.ToolChoice("tool", "f")
    assert set(req.extra) == {"seed", "n", "logit_bias"}
    assert req.output_format == ir.OutputFormat("json_object")
    image = req.messages[2].content[1]
    assert isinstance(image, ir.ImagePart) and (image.media_type, image.data) == ("image/png", PNG)


@pytest.mark.parametrize(
    "body, where",
    [
        ({"messages": "hi"}, "messages"),
        ({"model": "m", "messages": [{"role": "wizard", "content": "x"}]}, "messages[0]"),
        (
            {"model": "m", "messages": [{"role": "tool", "content": "x"}]},
            "messages[0].tool.tool_call_id",
        ),
        (
            {"model": "m", "messages": [{"role": "user", "content": [{"type": "image_url"}]}]},
            "messages[0].user.content[0]",
        ),
        ({"model": "m", "messages": [], "max_tokens": "many"}, "max_tokens"),
    ],
)
def test_request_to_ir_rejects_bad_shapes_with_a_path(body: dict[str, Any], where: str) -> None:
    with pytest.raises(
        WireFormatError,
        match="invalid OpenAI request: " + re.escape(where),
    ):
        codec.request_to_ir(body)


# =========================================================================== IR -> request


def _claude_code_like() -> ir.Request:
    eph = {"type": "ephemeral"}
    return ir.Request(
        model="qwen3-coder",
        system=[
            ir.TextPart("x-anthropic-billing-header: cc"),
            ir.TextPart("You are Claude.", cache_control=eph),
        ],
        messages=[
            ir.Message(
                "user",
                [
                    ir.TextPart("<system-reminder>date</system-reminder>"),
                    ir.TextPart("list files", cache_control=eph),
                ],
            ),
            ir.Message(
                "assistant",
                [
                    ir.ThinkingPart("I will run ls.", signature="sig=="),
                    ir.RedactedThinkingPart("enc"),
                    ir.TextPart("Running."),
                    ir.ToolCallPart("toolu_1", "Bash", '{"command":"ls"}'),
                    ir.ToolCallPart("toolu_2", "Screenshot", ""),
                    ir.OpaquePart(
                        "anthropic",
                        "server_tool_use",
                        {
                            "type": "server_tool_use",
                            "id": "srv_1",
                            "name": "web_search",
                            "input": {"query": "q"},
                        },
                    ),
                ],
            ),
            ir.Message(
                "user",
                [
                    ir.TextPart("Here you go"),
                    ir.ToolResultPart(
                        "toolu_1", [ir.TextPart("a.txt"), ir.TextPart("b.txt")], cache_control=eph
                    ),
                    ir.ToolResultPart(
                        "toolu_2",
                        [ir.TextPart("shot"), ir.ImagePart("image/png", PNG)],
                        is_error=True,
                    ),
                    ir.ImagePart(url="https://x/y.png"),
                    ir.DocumentPart("application/pdf", "JVBE", filename="r.pdf"),
                    ir.DocumentPart("text/plain", "plain words", filename="n.txt"),
                ],
            ),
            ir.Message("system", [ir.TextPart("agent list")]),
        ],
        tools=[
            ir.Tool(
                "Bash",
                "Run",
                {"type": "object", "properties": {"command": {"type": "string"}}},
                cache_control=eph,
            ),
            ir.Tool("Screenshot"),
            ir.Tool("web_search", extra={"type": "web_search_20250305", "max_uses": 5}),
            ir.Tool("Edit", "E", {"type": "object"}, extra={"input_examples": [{}]}),
        ],
        tool_choice=ir.ToolChoice("any"),
        parallel_tool_calls=True,
        max_tokens=32000,
        temperature=1.0,
        top_k=5,
        stop_sequences=["\n\nHuman:"],
        stream=True,
        thinking=ir.ThinkingConfig("enabled", budget_tokens=31999),
        user='{"device_id":"d"}',
        extra={"context_management": {"edits": []}, "output_config": {"effort": "high"}},
    )


def test_request_from_ir_claude_code_shape(snapshot_json: SnapshotAssertion) -> None:
    ctx = to_openai_ctx()
    body = codec.request_from_ir(_claude_code_like(), ctx)
    assert {"body": body, "notes": notes(ctx)} == snapshot_json
    msgs = body["messages"]
    assert [m["role"] for m in msgs] == [
        "system",
        "user",
        "assistant",
        "tool",
        "tool",
        "user",
        "system",
    ]
    assert msgs[0]["content"] == "x-anthropic-billing-header: cc\n\nYou are Claude."
    assert msgs[1]["content"] == "<system-reminder>date</system-reminder>\n\nlist files"
    assistant = msgs[2]
    assert assistant["reasoning_content"] == "I will run ls."
    assert assistant["content"].startswith("Running.\n[server_tool_use: {")
    assert [c["function"]["arguments"] for c in assistant["tool_calls"]] == [
        '{"command":"ls"}',
        "{}",
    ]
    assert msgs[3] == {"role": "tool", "tool_call_id": "toolu_1", "content": "a.txt\n\nb.txt"}
    assert msgs[4]["content"] == "Error: shot"
    follow = msgs[5]["content"]  # the tool result's image first, then the sibling content in order
    assert [p["type"] for p in follow] == ["image_url", "text", "image_url", "file", "text"]
    assert follow[1]["text"] == "Here you go"
    assert follow[0]["image_url"]["url"] == f"data:image/png;base64,{PNG}"
    assert [t["function"]["name"] for t in body["tools"]] == ["Bash", "Screenshot", "Edit"]
    assert body["tools"][1]["function"]["parameters"] == {"type": "object", "properties": {}}
    assert body["tool_choice"] == "required" and body["reasoning_effort"] == "high"
    assert body["stream_options"] == {"include_usage": True} and body["max_tokens"] == 32000
    assert "top_k" not in body and body["stop"] == ["\n\nHuman:"]
    paths = {n.path for n in ctx.notes}
    assert {
        "top_k",
        "context_management",
        "output_config",
        "tools[2]",
        "tools[3].input_examples",
        "messages[2].content[2].is_error",
        "messages[1].content[0].signature",
        "messages[1].content[1]",
        "messages[1].content[5]",
        "system[1].cache_control",
        "thinking.budget_tokens",
    } <= paths


@pytest.mark.parametrize(
    "thinking, effort",
    [
        (ir.ThinkingConfig("enabled", budget_tokens=1024), "low"),
        (ir.ThinkingConfig("enabled", budget_tokens=4096), "low"),
        (ir.ThinkingConfig("enabled", budget_tokens=4097), "medium"),
        (ir.ThinkingConfig("enabled", budget_tokens=16384), "medium"),
        (ir.ThinkingConfig("enabled", budget_tokens=16385), "high"),
        (ir.ThinkingConfig("adaptive", effort="medium"), "medium"),
        (ir.ThinkingConfig("adaptive"), None),
        (ir.ThinkingConfig("disabled"), None),
        (None, None),
    ],
)
def test_thinking_to_reasoning_effort(
    thinking: ir.ThinkingConfig | None, effort: str | None
) -> None:
    req = ir.Request("m", [ir.Message("user", [ir.TextPart("hi")])], thinking=thinking)
    body = codec.request_from_ir(req, to_openai_ctx())
    assert body.get("reasoning_effort") == effort
    assert "stream_options" not in body


@pytest.mark.parametrize(
    "part",
    [
        ir.DocumentPart(url="https://x/doc.pdf"),
        ir.ThinkingPart("in a user turn"),
        ir.ToolCallPart("c", "n", "{}"),
    ],
    ids=lambda p: type(p).__name__,
)
def test_request_from_ir_refuses_content_it_cannot_carry(part: ir.Part) -> None:
    req = ir.Request("m", [ir.Message("user", [part])])
    with pytest.raises(UnsupportedContentError):
        codec.request_from_ir(req, to_openai_ctx())


def test_tool_choice_without_tools_is_dropped_with_a_note() -> None:
    req = ir.Request(
        "m",
        [ir.Message("user", [ir.TextPart("hi")])],
        tools=[ir.Tool("ws", extra={"type": "web_search_20250305"})],
        tool_choice=ir.ToolChoice("auto"),
        parallel_tool_calls=False,
    )
    ctx = to_openai_ctx()
    body = codec.request_from_ir(req, ctx)
    assert "tools" not in body and "tool_choice" not in body and "parallel_tool_calls" not in body
    assert [n.path for n in ctx.notes] == ["tools[0]", "tool_choice"]


# =========================================================================== responses


@dataclass(frozen=True)
class RespCase:
    name: str
    body: dict[str, Any]
    stop: ir.StopReason | None
    kinds: list[str] = field(default_factory=list)


def _completion(message: dict[str, Any], finish: str | None = "stop", **top: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-r1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o",
        "choices": [
            {"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish}
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 4, "total_tokens": 14},
        **top,
    }


RESPONSES_TO_IR = [
    RespCase(
        "text", _completion({"content": "Hi"}, system_fingerprint="fp"), "end_turn", ["TextPart"]
    ),
    RespCase(
        "tools_with_reasoning",
        _completion(
            {
                "content": None,
                "reasoning_content": "think",
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "f", "arguments": "{}"},
                    },
                    {"type": "function", "function": {"name": "g", "arguments": '{"x":1}'}},
                ],
            },
            "tool_calls",
        ),
        "tool_use",
        ["ThinkingPart", "ToolCallPart", "ToolCallPart"],
    ),
    RespCase("refusal", _completion({"content": None, "refusal": "No."}), "refusal", ["TextPart"]),
    RespCase(
        "inline_think",
        _completion({"content": "<think>hm</think>\n\nOK"}, "length"),
        "max_tokens",
        ["ThinkingPart", "TextPart"],
    ),
    RespCase(
        "legacy_function_call",
        _completion(
            {"content": None, "function_call": {"name": "w", "arguments": "{}"}}, "function_call"
        ),
        "tool_use",
        ["ToolCallPart"],
    ),
    RespCase(
        "deepseek_cache_usage_vllm_empty_tools",
        {
            **_completion({"content": "x", "tool_calls": []}),
            "usage": {
                "prompt_tokens": 100,
                "completion_tokens": 5,
                "total_tokens": 105,
                "prompt_cache_hit_tokens": 64,
                "prompt_cache_miss_tokens": 36,
            },
        },
        "end_turn",
        ["TextPart"],
    ),
    RespCase(
        "no_choices", {"id": "", "object": "chat.completion", "model": "", "choices": []}, None, []
    ),
]


@pytest.mark.parametrize("case", RESPONSES_TO_IR, ids=lambda c: c.name)
def test_response_to_ir(case: RespCase, snapshot_json: SnapshotAssertion) -> None:
    ctx = to_openai_ctx()
    resp = codec.response_to_ir(case.body, ctx)
    assert resp.stop_reason == case.stop
    assert [type(p).__name__ for p in resp.content] == case.kinds
    assert {"response": as_json(resp), "notes": notes(ctx)} == snapshot_json


def test_response_to_ir_usage_and_ids() -> None:
    ctx = to_openai_ctx()
    resp = codec.response_to_ir(RESPONSES_TO_IR[5].body, ctx)
    assert (resp.usage.input_tokens, resp.usage.output_tokens, resp.usage.cache_read_tokens) == (
        100,
        5,
        64,
    )
    tools = codec.response_to_ir(RESPONSES_TO_IR[1].body, to_openai_ctx()).content
    assert isinstance(tools[2], ir.ToolCallPart) and tools[2].id == IdFactory("t").make("call_")


def test_response_to_ir_rejects_a_bad_shape() -> None:
    with pytest.raises(WireFormatError, match=r"choices\[0\]\.message"):
        codec.response_to_ir({"choices": [{"index": 0}]}, to_openai_ctx())


def test_response_from_ir_is_what_the_sdk_parses(snapshot_json: SnapshotAssertion) -> None:
    resp = ir.Response(
        id="msg_01XYZ",
        model="claude-sonnet-5",
        content=[
            ir.ThinkingPart("plan", signature="sig"),
            ir.TextPart("Answer ", extra={"citations": [{"url": "u"}]}),
            ir.TextPart("continues."),
            ir.OpaquePart("anthropic", "web_search_tool_result", {"content": []}),
            ir.ToolCallPart("toolu_9", "Bash", ""),
        ],
        stop_reason="tool_use",
        usage=ir.Usage(
            input_tokens=30, output_tokens=9, cache_read_tokens=20, cache_creation_tokens=5
        ),
        extra={"container": None},
    )
    ctx = Context(client="openai", upstream="anthropic", created=1700000000)
    body = codec.response_from_ir(resp, ctx)
    assert {"body": body, "notes": notes(ctx)} == snapshot_json
    parsed = openai_parse_completion(body)
    assert parsed.id == "chatcmpl-01XYZ" and parsed.created == 1700000000
    msg = parsed.choices[0].message
    assert msg.content == "Answer continues."
    assert (msg.model_extra or {})["reasoning_content"] == "plan"
    assert msg.tool_calls is not None
    assert msg.tool_calls[0].type == "function" and msg.tool_calls[0].function.arguments == "{}"
    assert parsed.choices[0].finish_reason == "tool_calls"
    assert parsed.usage is not None and parsed.usage.total_tokens == 39
    assert {n.path for n in ctx.notes} == {
        "content[0].signature",
        "content[1].citations",
        "content[3]",
        "container",
    }


@pytest.mark.parametrize(
    "stop, finish",
    [
        ("end_turn", "stop"),
        ("max_tokens", "length"),
        ("stop_sequence", "stop"),
        ("tool_use", "tool_calls"),
        ("content_filter", "content_filter"),
        ("refusal", "content_filter"),
        ("pause_turn", "length"),
        ("context_window_exceeded", "length"),
        (None, "stop"),
    ],
)
def test_finish_reason_table(stop: ir.StopReason | None, finish: str) -> None:
    resp = ir.Response("msg_1", "m", [ir.TextPart("x")], stop)
    body = codec.response_from_ir(resp, Context(client="openai", upstream="anthropic"))
    assert body["choices"][0]["finish_reason"] == finish


# =========================================================================== errors


@pytest.mark.parametrize(
    "status, body, kind, message, code",
    [
        (
            401,
            {
                "error": {
                    "message": "Incorrect API key",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": "invalid_api_key",
                }
            },
            "authentication",
            "Incorrect API key",
            "invalid_api_key",
        ),
        (
            429,
            {
                "error": {
                    "message": "quota",
                    "type": "insufficient_quota",
                    "code": "insufficient_quota",
                }
            },
            "billing",
            "quota",
            "insufficient_quota",
        ),
        (
            429,
            {
                "error": {
                    "message": "Rate limit exceeded: free-models-per-day",
                    "code": 429,
                    "metadata": {"provider_name": "X"},
                }
            },
            "rate_limit",
            "Rate limit exceeded: free-models-per-day",
            "429",
        ),
        (
            404,
            {"error": {"code": "404", "message": "Resource not found"}},
            "not_found",
            "Resource not found",
            "404",
        ),
        (
            404,
            {
                "error": {
                    "type": "invalid_request_error",
                    "code": "DeploymentNotFound",
                    "message": "no deployment",
                }
            },
            "not_found",
            "no deployment",
            "DeploymentNotFound",
        ),
        (
            400,
            {
                "object": "error",
                "message": "max_tokens too large",
                "type": "BadRequestError",
                "param": None,
                "code": 400,
            },
            "invalid_request",
            "max_tokens too large",
            "400",
        ),
        (500, {"error": "boom"}, "api_error", "boom", None),
        (502, "<html>Bad Gateway</html>", "bad_gateway", "<html>Bad Gateway</html>", None),
        (503, b"", "unavailable", "HTTP 503", None),
        (504, None, "timeout", "HTTP 504", None),
        (422, {"detail": "Unprocessable"}, "invalid_request", "Unprocessable", None),
        (529, '{"error":{"message":"Overloaded"}}', "overloaded", "Overloaded", None),
        (418, {}, "invalid_request", "HTTP 418", None),
    ],
)
def test_error_to_ir(status: int, body: Any, kind: str, message: str, code: str | None) -> None:
    err = codec.error_to_ir(status, body)
    assert (err.kind, err.message, err.code, err.status) == (kind, message, code, status)


_ERROR_TABLE = [
    ("invalid_request", 400, "invalid_request_error", openai.BadRequestError),
    ("authentication", 401, "invalid_request_error", openai.AuthenticationError),
    ("permission", 403, "invalid_request_error", openai.PermissionDeniedError),
    ("not_found", 404, "invalid_request_error", openai.NotFoundError),
    ("request_too_large", 413, "invalid_request_error", openai.APIStatusError),
    ("rate_limit", 429, "rate_limit_exceeded", openai.RateLimitError),
    ("billing", 402, "insufficient_quota", openai.APIStatusError),
    ("timeout", 504, "server_error", openai.InternalServerError),
    ("api_error", 500, "server_error", openai.InternalServerError),
    ("overloaded", 503, "server_error", openai.InternalServerError),
    ("bad_gateway", 502, "server_error", openai.InternalServerError),
    ("unavailable", 503, "server_error", openai.InternalServerError),
]


@pytest.mark.parametrize("kind, status, type_, exc", _ERROR_TABLE)
def test_error_from_ir(kind: ir.ErrorKind, status: int, type_: str, exc: type[Exception]) -> None:
    got_status, body = codec.error_from_ir(ir.ErrorInfo(kind, "went wrong", param="messages"))
    assert (got_status, body["error"]["type"], body["error"]["param"]) == (
        status,
        type_,
        "messages",
    )
    raised = openai_error(got_status, body)
    assert isinstance(raised, exc) and raised.message.endswith("went wrong")
    assert (raised.type, raised.param) == (type_, "messages")
    assert codec.error_to_ir(got_status, json.dumps(body)).kind in (
        kind,
        "unavailable",
        "api_error",
        "invalid_request",
    )
