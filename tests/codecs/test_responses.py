"""The OpenAI Responses codec: requests, responses and errors, both directions, judged by the
openai SDK where a client reads the result, and by the other dialects' wire models where an
upstream would. Streams are tested in ``tests/translate/test_responses_streams.py``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import openai
import pytest
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

from recorder import ir
from recorder.codecs import anthropic as anthropic_codec
from recorder.codecs import openai as openai_codec
from recorder.codecs import responses as codec
from recorder.context import Context, IdFactory
from recorder.errors import UnsupportedContentError, WireFormatError
from recorder.ir import Dialect
from recorder.translate import translate_error, translate_request, translate_response
from recorder.wire import responses as w
from tests.sdk import anthropic_parse_message
from tests.sdk_openai import openai_parse_completion, responses_error, responses_parse

FIXTURES = Path(__file__).parents[1] / "fixtures" / "responses"
CODEX = json.loads((FIXTURES / "codex_tool_round.json").read_text())
PNG = "iVBORw0KGgo="


@pytest.fixture
def snapshot_json(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    return snapshot.use_extension(JSONSnapshotExtension)


def ctx(client: Dialect = "responses", upstream: Dialect = "anthropic") -> Context:
    return Context(client=client, upstream=upstream, ids=IdFactory("test"), created=1700000000)


# =========================================================================== requests to IR


def test_string_input_and_instructions() -> None:
    req = codec.request_to_ir(
        {"model": "m", "input": "hi", "instructions": "Be brief.", "max_output_tokens": 50}
    )
    assert req.system == [ir.TextPart("Be brief.")]
    assert req.messages == [ir.Message("user", [ir.TextPart("hi")])]
    assert req.max_tokens == 50 and not req.stream


def test_every_input_item_kind() -> None:
    body = {
        "model": "gpt-5.5",
        "input": [
            {"role": "developer", "content": "rules"},
            {
                "type": "message",
                "role": "system",
                "content": [{"type": "input_text", "text": "sys"}],
            },
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "look"},
                    {
                        "type": "input_image",
                        "image_url": f"data:image/png;base64,{PNG}",
                        "detail": "low",
                    },
                    {"type": "input_image", "image_url": "https://x/y.png"},
                    {"type": "input_image", "file_id": "file-1"},
                    {
                        "type": "input_file",
                        "file_data": "data:application/pdf;base64,JVBER",
                        "filename": "a.pdf",
                    },
                    {"type": "input_file", "file_url": "https://x/doc.pdf"},
                ],
            },
            {
                "type": "reasoning",
                "id": "rs_1",
                "summary": [
                    {"type": "summary_text", "text": "a"},
                    {"type": "summary_text", "text": "b"},
                ],
                "encrypted_content": "gAAA",
            },
            {
                "type": "message",
                "role": "assistant",
                "id": "msg_1",
                "status": "completed",
                "content": [
                    {"type": "output_text", "text": "Sure.", "annotations": []},
                    {"type": "refusal", "refusal": "not that"},
                ],
            },
            {
                "type": "function_call",
                "id": "fc_1",
                "call_id": "c1",
                "name": "f",
                "arguments": "{}",
            },
            {
                "type": "custom_tool_call",
                "id": "ctc_1",
                "call_id": "c2",
                "name": "apply_patch",
                "input": "*** Begin Patch",
            },
            {"type": "function_call_output", "call_id": "c1", "output": "ok"},
            {
                "type": "custom_tool_call_output",
                "call_id": "c2",
                "output": [{"type": "input_text", "text": "done"}],
            },
            {"role": "user", "content": "next"},
            {"type": "item_reference", "id": "msg_0"},
        ],
    }
    req = codec.request_to_ir(body)
    roles = [m.role for m in req.messages]
    assert roles == ["system", "system", "user", "assistant", "user", "user", "assistant"]
    user = req.messages[2].content
    assert user[1] == ir.ImagePart("image/png", PNG, extra={"detail": "low"})
    assert user[2] == ir.ImagePart(url="https://x/y.png")
    assert isinstance(user[3], ir.OpaquePart) and user[3].type == "input_image"
    assert user[4] == ir.DocumentPart("application/pdf", "JVBER", filename="a.pdf")
    assert user[5] == ir.DocumentPart(url="https://x/doc.pdf")
    turn = req.messages[3].content
    assert turn[0] == ir.ThinkingPart("a\n\nb", "tapegate:responses:rs_1:gAAA")
    assert turn[1:3] == [ir.TextPart("Sure."), ir.TextPart("not that")]
    assert turn[3] == ir.ToolCallPart("c1", "f", "{}")
    assert turn[4] == ir.ToolCallPart("c2", "apply_patch", "*** Begin Patch", kind="custom")
    results = req.messages[4].content
    assert results == [
        ir.ToolResultPart("c1", [ir.TextPart("ok")]),
        ir.ToolResultPart("c2", [ir.TextPart("done")]),
    ]
    assert isinstance(req.messages[6].content[0], ir.OpaquePart)


def test_tools_and_tool_choice_forms() -> None:
    tools = [
        {"type": "function", "name": "f", "parameters": {"type": "object"}, "strict": True},
        {
            "type": "custom",
            "name": "apply_patch",
            "format": {"type": "grammar", "syntax": "lark", "definition": "start: x"},
        },
        {"type": "web_search", "search_context_size": "low"},
        {"type": "namespace", "name": "multi_agent_v1", "tools": []},
    ]
    req = codec.request_to_ir({"model": "m", "input": "x", "tools": tools})
    assert [(t.name, t.kind) for t in req.tools] == [
        ("f", "function"),
        ("apply_patch", "custom"),
        ("web_search", "hosted"),
        ("multi_agent_v1", "hosted"),
    ]
    assert req.tools[0].strict is True and req.tools[1].format == tools[1]["format"]
    cases: list[tuple[Any, ir.ToolChoice | None]] = [
        ("auto", ir.ToolChoice("auto")),
        ("none", ir.ToolChoice("none")),
        ("required", ir.ToolChoice("any")),
        ({"type": "function", "name": "f"}, ir.ToolChoice("tool", "f")),
        ({"type": "custom", "name": "apply_patch"}, ir.ToolChoice("tool", "apply_patch")),
        ({"type": "allowed_tools", "mode": "required", "tools": []}, ir.ToolChoice("any")),
        ({"type": "web_search"}, None),
    ]
    for choice, expected in cases:
        req = codec.request_to_ir({"model": "m", "input": "x", "tool_choice": choice})
        assert req.tool_choice == expected, choice


@pytest.mark.parametrize(
    ("reasoning", "thinking", "extra"),
    [
        (
            {"effort": "high", "summary": "auto"},
            ir.ThinkingConfig("enabled", effort="high"),
            {"summary": "auto"},
        ),
        ({"effort": "none"}, ir.ThinkingConfig("disabled"), None),
        ({"summary": "detailed"}, None, {"summary": "detailed"}),
    ],
)
def test_reasoning_config(reasoning: dict[str, Any], thinking: Any, extra: Any) -> None:
    req = codec.request_to_ir({"model": "m", "input": "x", "reasoning": reasoning})
    assert req.thinking == thinking and req.extra.get("reasoning") == extra


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"model": "m", "input": 5}, "input"),
        ({"model": "m", "input": [{"role": "wizard", "content": "x"}]}, "input[0]"),
        ({"model": "m", "input": [{"type": "function_call", "name": "f"}]}, "call_id"),
    ],
)
def test_bad_requests_name_the_place(body: dict[str, Any], where: str) -> None:
    with pytest.raises(WireFormatError, match="invalid OpenAI Responses request") as e:
        codec.request_to_ir(body)
    assert where in str(e.value)


# ================================================================ Codex to other dialects


@pytest.mark.parametrize("upstream", ["anthropic", "openai"])
def test_codex_request_translates(upstream: Dialect, snapshot_json: SnapshotAssertion) -> None:
    c = ctx(upstream=upstream)
    out = translate_request(CODEX, c)
    again = (
        anthropic_codec.request_to_ir(out)
        if upstream == "anthropic"
        else openai_codec.request_to_ir(out)
    )
    names = [t.name for t in again.tools]
    assert "apply_patch" in names and "web_search" not in names and "tool_search" not in names
    apply_patch = next(t for t in again.tools if t.name == "apply_patch")
    assert apply_patch.parameters is not None and apply_patch.parameters["required"] == ["input"]
    assert "lark" in (apply_patch.description or "")
    assert c.custom_tools == {"apply_patch"}
    notes = {n.path: n.reason for n in c.notes}
    assert "hosted tool 'web_search'" in notes["tools[9]"]
    assert {"store", "include", "prompt_cache_key", "client_metadata"} <= notes.keys()
    assert {"request": out, "notes": [[n.path, n.reason] for n in c.notes]} == snapshot_json


def test_custom_calls_in_history_go_upstream_as_json_arguments() -> None:
    body = {
        "model": "m",
        "tools": [{"type": "custom", "name": "apply_patch"}],
        "input": [
            {"role": "user", "content": "edit"},
            {
                "type": "custom_tool_call",
                "call_id": "c1",
                "name": "apply_patch",
                "input": 'a "b"\n',
            },
            {"type": "custom_tool_call_output", "call_id": "c1", "output": "Done!"},
        ],
    }
    out = translate_request(body, ctx(upstream="anthropic"))
    assert out["messages"][1]["content"][0]["input"] == {"input": 'a "b"\n'}
    out = translate_request(body, ctx(upstream="openai"))
    call = out["messages"][1]["tool_calls"][0]["function"]
    assert json.loads(call["arguments"]) == {"input": 'a "b"\n'}
    desc = out["tools"][0]["function"]["description"]
    assert "free-form" in desc


@pytest.mark.parametrize("field", ["previous_response_id", "conversation", "prompt"])
def test_stored_state_is_refused_not_ignored(field: str) -> None:
    body = {"model": "m", "input": "more", field: "resp_1"}
    with pytest.raises(UnsupportedContentError, match=field):
        translate_request(body, ctx(upstream="openai"))


def test_effort_becomes_a_thinking_budget_and_reasoning_effort() -> None:
    body = {"model": "m", "input": "x", "reasoning": {"effort": "high"}}
    assert translate_request(body, ctx(upstream="anthropic"))["thinking"] == {
        "type": "enabled",
        "budget_tokens": 16384,
    }
    assert translate_request(body, ctx(upstream="openai"))["reasoning_effort"] == "high"


# ================================================================ IR to Responses requests


CLAUDE_CODE_TURN = {
    "model": "claude-sonnet-5",
    "max_tokens": 32000,
    "system": [
        {"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}}
    ],
    "thinking": {"type": "enabled", "budget_tokens": 10000},
    "tools": [{"name": "Bash", "description": "Run", "input_schema": {"type": "object"}}],
    "messages": [
        {"role": "user", "content": "list files"},
        {
            "role": "assistant",
            "content": [
                {
                    "type": "thinking",
                    "thinking": "ls it",
                    "signature": "tapegate:responses:rs_9:gAAAenc",
                },
                {"type": "thinking", "thinking": "old", "signature": "EqQBanthropic"},
                {"type": "text", "text": "Running."},
                {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "ls"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_1",
                    "content": "a.txt",
                    "is_error": True,
                },
                {"type": "text", "text": "go on"},
            ],
        },
    ],
    "stream": True,
}


def test_claude_code_turn_to_responses(snapshot_json: SnapshotAssertion) -> None:
    c = ctx(client="anthropic", upstream="responses")
    out = translate_request(CLAUDE_CODE_TURN, c)
    w.validate(w.ResponsesRequest, out, "request")  # our own wire model accepts it
    assert out["instructions"] == "You are Claude Code."
    assert out["reasoning"] == {"effort": "medium", "summary": "auto"}
    assert out["include"] == ["reasoning.encrypted_content"] and out["store"] is False
    items = out["input"]
    assert items[1] == {
        "type": "reasoning",
        "id": "rs_9",
        "summary": [{"type": "summary_text", "text": "ls it"}],
        "encrypted_content": "gAAAenc",
    }
    assert items[2] == {"role": "assistant", "content": "Running."}
    assert items[3]["type"] == "function_call" and json.loads(items[3]["arguments"]) == {
        "command": "ls"
    }
    assert items[4] == {
        "type": "function_call_output",
        "call_id": "toolu_1",
        "output": "Error: a.txt",
    }
    assert items[5] == {"role": "user", "content": [{"type": "input_text", "text": "go on"}]}
    assert any("Anthropic signature" in n.reason for n in c.notes)
    assert {"request": out, "notes": [[n.path, n.reason] for n in c.notes]} == snapshot_json


def test_chat_request_to_responses() -> None:
    body = {
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "sys"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "hi"},
                    {
                        "type": "image_url",
                        "image_url": {"url": "https://x/a.png", "detail": "high"},
                    },
                ],
            },
        ],
        "tools": [
            {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}},
            {"type": "custom", "custom": {"name": "grep", "format": {"type": "text"}}},
        ],
        "tool_choice": {"type": "function", "function": {"name": "f"}},
        "reasoning_effort": "low",
        "max_completion_tokens": 99,
        "stop": ["X"],
    }
    c = ctx(client="openai", upstream="responses")
    out = translate_request(body, c)
    assert out["input"][0] == {"role": "system", "content": "sys"}
    assert out["input"][1]["content"][1] == {
        "type": "input_image",
        "image_url": "https://x/a.png",
        "detail": "high",
    }
    assert out["tools"][1] == {"type": "custom", "name": "grep", "format": {"type": "text"}}
    assert out["tool_choice"] == {"type": "function", "name": "f"}
    assert (
        out["reasoning"] == {"effort": "low", "summary": "auto"} and out["max_output_tokens"] == 99
    )
    assert any(n.path == "stop_sequences" for n in c.notes)


def test_long_tool_names_are_shortened_for_a_responses_upstream_and_restored() -> None:
    name = "mcp__a_very_long_server_name__and_an_even_longer_tool_name_that_goes_on"
    body = {
        **CLAUDE_CODE_TURN,
        "tools": [{"name": name, "input_schema": {"type": "object"}}],
        "messages": [{"role": "user", "content": "x"}],
    }
    c = ctx(client="anthropic", upstream="responses")
    out = translate_request(body, c)
    wire = out["tools"][0]["name"]
    assert len(wire) <= 64 and wire != name
    resp = {
        "id": "resp_1",
        "status": "completed",
        "model": "m",
        "output": [
            {"type": "function_call", "id": "fc_1", "call_id": "c", "name": wire, "arguments": "{}"}
        ],
    }
    assert translate_response(resp, c)["content"][0]["name"] == name


# =========================================================================== responses


RESPONSE = {
    "id": "resp_1",
    "object": "response",
    "created_at": 1,
    "status": "completed",
    "model": "gpt-5.5",
    "output": [
        {
            "id": "rs_1",
            "type": "reasoning",
            "summary": [{"type": "summary_text", "text": "hmm"}],
            "encrypted_content": "gAAAenc",
        },
        {
            "id": "msg_1",
            "type": "message",
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "Hi.", "annotations": []}],
        },
        {"id": "ws_1", "type": "web_search_call", "status": "completed"},
        {
            "id": "fc_1",
            "type": "function_call",
            "status": "completed",
            "call_id": "call_1",
            "name": "f",
            "arguments": '{"a":1}',
        },
    ],
    "usage": {
        "input_tokens": 100,
        "input_tokens_details": {"cached_tokens": 40},
        "output_tokens": 20,
        "output_tokens_details": {"reasoning_tokens": 12},
        "total_tokens": 120,
    },
}


def test_response_to_ir() -> None:
    c = ctx(client="anthropic", upstream="responses")
    resp = codec.response_to_ir(RESPONSE, c)
    assert resp.stop_reason == "tool_use"
    assert resp.content == [
        ir.ThinkingPart("hmm", "tapegate:responses:rs_1:gAAAenc"),
        ir.TextPart("Hi."),
        ir.ToolCallPart("call_1", "f", '{"a":1}'),
    ]
    assert resp.usage == ir.Usage(100, 20, 40, None, 12)
    assert any("web_search_call" in n.reason for n in c.notes)


@pytest.mark.parametrize("client", ["anthropic", "openai"])
def test_responses_answer_reaches_other_clients(client: Dialect) -> None:
    body = translate_response(RESPONSE, ctx(client=client, upstream="responses"))
    if client == "anthropic":
        msg = anthropic_parse_message(body)
        assert msg.stop_reason == "tool_use" and [b.type for b in msg.content] == [
            "thinking",
            "text",
            "tool_use",
        ]
        assert msg.usage.cache_read_input_tokens == 40 and msg.usage.input_tokens == 60
    else:
        done = openai_parse_completion(body)
        assert done.choices[0].finish_reason == "tool_calls"
        assert done.usage is not None and done.usage.prompt_tokens == 100


def test_incomplete_and_refusal_responses() -> None:
    inc = {
        **RESPONSE,
        "status": "incomplete",
        "incomplete_details": {"reason": "max_output_tokens"},
        "output": RESPONSE["output"][1:2],
    }
    assert codec.response_to_ir(inc, ctx()).stop_reason == "max_tokens"
    ref = {
        **RESPONSE,
        "output": [
            {
                "id": "m",
                "type": "message",
                "role": "assistant",
                "content": [{"type": "refusal", "refusal": "No."}],
            }
        ],
    }
    resp = codec.response_to_ir(ref, ctx())
    assert resp.stop_reason == "refusal" and resp.content == [ir.TextPart("No.")]


def test_a_failed_response_body_is_not_an_answer() -> None:
    failed = {
        **RESPONSE,
        "status": "failed",
        "output": [],
        "error": {"code": "server_error", "message": "x"},
    }
    with pytest.raises(UnsupportedContentError, match="failed"):
        codec.response_to_ir(failed, ctx())


ANTHROPIC_ANSWER = {
    "id": "msg_01",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-5",
    "content": [
        {"type": "thinking", "thinking": "Let me see.", "signature": "EqQBsig"},
        {"type": "redacted_thinking", "data": "ENCRYPTED"},
        {"type": "text", "text": "Here."},
        {
            "type": "tool_use",
            "id": "toolu_1",
            "name": "apply_patch",
            "input": {"input": "*** Begin"},
        },
        {"type": "tool_use", "id": "toolu_2", "name": "exec_command", "input": {"cmd": "ls"}},
    ],
    "stop_reason": "tool_use",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 10,
        "cache_read_input_tokens": 5,
        "cache_creation_input_tokens": 2,
        "output_tokens": 7,
    },
}


def test_anthropic_answer_to_a_responses_client(snapshot_json: SnapshotAssertion) -> None:
    c = ctx(client="responses", upstream="anthropic")
    c.custom_tools = {"apply_patch"}
    body = translate_response(ANTHROPIC_ANSWER, c)
    resp = responses_parse(body)
    assert resp.status == "completed" and resp.output_text == "Here."
    types = [o.type for o in resp.output]
    assert types == ["reasoning", "reasoning", "message", "custom_tool_call", "function_call"]
    assert resp.output[0].encrypted_content == "tapegate:anthropic-signature:EqQBsig"
    assert resp.output[3].input == "*** Begin"
    assert resp.usage is not None and resp.usage.input_tokens == 17
    assert resp.usage.input_tokens_details.cached_tokens == 5
    assert body == snapshot_json


def test_stop_reasons_become_statuses() -> None:
    for stop, status, reason in [
        ("end_turn", "completed", None),
        ("max_tokens", "incomplete", "max_output_tokens"),
        ("refusal", "completed", None),
    ]:
        body = translate_response(
            {**ANTHROPIC_ANSWER, "stop_reason": stop, "content": [{"type": "text", "text": "x"}]},
            ctx(),
        )
        resp = responses_parse(body)
        assert resp.status == status
        assert (resp.incomplete_details.reason if resp.incomplete_details else None) == reason


# =========================================================================== round trips


def _codex_echo(resp_body: dict[str, Any]) -> list[dict[str, Any]]:
    """The output items as Codex sends them back as input on its next turn."""
    return [{k: v for k, v in item.items() if k != "status"} for item in resp_body["output"]]


def test_anthropic_thinking_survives_a_codex_round_trip() -> None:
    """Codex -> Anthropic: the signed thinking and redacted thinking come back intact on the
    next turn (Anthropic refuses a tool loop whose thinking lost its signature)."""
    c = ctx(client="responses", upstream="anthropic")
    c.custom_tools = {"apply_patch"}
    answer = translate_response(ANTHROPIC_ANSWER, c)
    outputs = [
        {"type": "custom_tool_call_output", "call_id": "toolu_1", "output": "Done!"},
        {"type": "function_call_output", "call_id": "toolu_2", "output": "a.txt"},
    ]
    body = {
        "model": "claude-sonnet-5",
        "tools": [
            {"type": "custom", "name": "apply_patch"},
            {"type": "function", "name": "exec_command", "parameters": {"type": "object"}},
        ],
        "reasoning": {"effort": "low"},
        "input": [{"role": "user", "content": "go"}, *_codex_echo(answer), *outputs],
    }
    out = translate_request(body, ctx(client="responses", upstream="anthropic"))
    assistant = out["messages"][1]["content"]
    assert assistant == [
        {"type": "thinking", "thinking": "Let me see.", "signature": "EqQBsig"},
        {"type": "redacted_thinking", "data": "ENCRYPTED"},
        {"type": "text", "text": "Here."},
        {
            "type": "tool_use",
            "id": "toolu_1",
            "name": "apply_patch",
            "input": {"input": "*** Begin"},
        },
        {"type": "tool_use", "id": "toolu_2", "name": "exec_command", "input": {"cmd": "ls"}},
    ]
    assert [b["tool_use_id"] for b in out["messages"][2]["content"]] == ["toolu_1", "toolu_2"]


def test_openai_reasoning_survives_a_claude_code_round_trip() -> None:
    """Claude Code -> Responses upstream: the reasoning item (id and encrypted content) comes
    back to the upstream through the thinking signature Claude Code echoes."""
    c = ctx(client="anthropic", upstream="responses")
    answer = translate_response(RESPONSE, c)
    body = {
        "model": "gpt-5.5",
        "max_tokens": 1000,
        "messages": [
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": answer["content"]},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "call_1", "content": "42"}],
            },
        ],
    }
    out = translate_request(body, ctx(client="anthropic", upstream="responses"))
    assert out["input"][1] == {
        "type": "reasoning",
        "id": "rs_1",
        "summary": [{"type": "summary_text", "text": "hmm"}],
        "encrypted_content": "gAAAenc",
    }
    assert out["input"][3]["call_id"] == "call_1" and out["input"][4]["output"] == "42"


@pytest.mark.parametrize(("a", "b"), [("anthropic", "openai"), ("openai", "anthropic")])
def test_requests_round_trip_through_responses(a: Dialect, b: Dialect) -> None:
    """a -> responses -> b keeps the conversation: texts, calls, results, tools, sampling."""
    src = {
        "anthropic": {
            "model": "m",
            "max_tokens": 100,
            "system": "sys",
            "temperature": 0.5,
            "tools": [{"name": "f", "description": "d", "input_schema": {"type": "object"}}],
            "messages": [
                {"role": "user", "content": "q"},
                {
                    "role": "assistant",
                    "content": [
                        {"type": "text", "text": "t"},
                        {"type": "tool_use", "id": "c1", "name": "f", "input": {"x": 1}},
                    ],
                },
                {
                    "role": "user",
                    "content": [{"type": "tool_result", "tool_use_id": "c1", "content": "r"}],
                },
            ],
        },
        "openai": {
            "model": "m",
            "max_tokens": 100,
            "temperature": 0.5,
            "tools": [
                {
                    "type": "function",
                    "function": {"name": "f", "description": "d", "parameters": {"type": "object"}},
                }
            ],
            "messages": [
                {"role": "system", "content": "sys"},
                {"role": "user", "content": "q"},
                {
                    "role": "assistant",
                    "content": "t",
                    "tool_calls": [
                        {
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "f", "arguments": '{"x":1}'},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "c1", "content": "r"},
            ],
        },
    }
    mid = translate_request(src[a], ctx(client=a, upstream="responses"))
    out = translate_request(mid, ctx(client="responses", upstream=b))
    direct = translate_request(src[a], ctx(client=a, upstream=b))
    # through Responses the request says the same as translated directly, except what the
    # Responses API adds: strict: false on tools whose client said nothing (its default is true)
    for key in ("model", "max_tokens", "temperature", "messages"):
        assert out[key] == direct[key]

    def loose(tools: list[dict[str, Any]]) -> list[str]:
        return [json.dumps(t, sort_keys=True).replace(', "strict": false', "") for t in tools]

    assert loose(out["tools"]) == loose(direct["tools"])


# =========================================================================== errors


@pytest.mark.parametrize(
    ("status", "body", "exc", "upstream"),
    [
        (
            429,
            {"type": "error", "error": {"type": "rate_limit_error", "message": "slow"}},
            openai.RateLimitError,
            "anthropic",
        ),
        (
            529,
            {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}},
            openai.InternalServerError,
            "anthropic",
        ),
        (500, "<html>oops</html>", openai.InternalServerError, "openai"),
        (
            400,
            {"error": {"message": "bad", "type": "invalid_request_error"}},
            openai.BadRequestError,
            "openai",
        ),
    ],
)
def test_upstream_errors_reach_a_responses_client(
    status: int, body: Any, exc: type[Exception], upstream: Dialect
) -> None:
    out_status, out = translate_error(status, body, ctx(client="responses", upstream=upstream))
    e = responses_error(out_status, out)
    assert isinstance(e, exc) and e.message


def test_responses_errors_to_ir() -> None:
    err = codec.error_to_ir(
        429, {"error": {"message": "Rate limit", "type": "requests", "code": "rate_limit_exceeded"}}
    )
    assert err.kind == "rate_limit" and err.message == "Rate limit"
    status, body = codec.error_from_ir(ir.ErrorInfo(kind="overloaded", message="busy"))
    assert status == 503 and body["error"]["message"] == "busy"


# =========================================================================== structured output

SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


def test_text_format_maps_to_response_format_and_output_config() -> None:
    fmt = {"type": "json_schema", "name": "City", "schema": SCHEMA, "strict": True}
    body = {"model": "m", "input": "x", "text": {"format": fmt, "verbosity": "low"}}
    req = codec.request_to_ir(body)
    assert req.output_format == ir.OutputFormat("json_schema", SCHEMA, "City", True)
    assert req.extra["text"] == {"verbosity": "low"}
    chat = translate_request(body, ctx(upstream="openai"))
    assert chat["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "City", "schema": SCHEMA, "strict": True},
    }
    c = ctx(upstream="anthropic")
    claude = translate_request(body, c)
    assert claude["output_config"] == {"format": {"type": "json_schema", "schema": SCHEMA}}
    back = translate_request(chat, ctx(client="openai", upstream="responses"))
    assert back["text"] == {"format": fmt}
    again = translate_request(claude, ctx(client="anthropic", upstream="responses"))
    assert again["text"]["format"]["schema"] == SCHEMA


def test_json_mode_has_no_anthropic_form() -> None:
    body = {"model": "m", "input": "x", "text": {"format": {"type": "json_object"}}}
    assert translate_request(body, ctx(upstream="openai"))["response_format"] == {
        "type": "json_object"
    }
    c = ctx(upstream="anthropic")
    assert "output_config" not in translate_request(body, c)
    assert any(n.path == "response_format" for n in c.notes)
