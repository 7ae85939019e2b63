"""IR requests -> Kiro chat requests (recorder/codecs/kiro_request.py).

Judged two ways: explicit expectations for each conversion rule of research/kiro.md §2.2, and
the fake Kiro's request rules (fakes/kiro_rules.py, written from the notes on their own),
which every translated request must pass, including a hypothesis-generated mix of conversations.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fakes import kiro_rules
from fakes.kiro import MODELS, PROFILE_ARN
from recorder import ir
from recorder.codecs import anthropic, kiro, openai
from recorder.codecs.kiro_request import THINKING_NOTE
from recorder.codecs.kiro_settings import KiroSettings
from recorder.context import Context, IdFactory
from recorder.errors import UnsupportedContentError

KNOWN = frozenset(m for m, _ in MODELS)


def new_ctx() -> Context:
    return Context(client="anthropic", upstream="kiro", ids=IdFactory("test"))


def from_anthropic(body: dict[str, Any], s: KiroSettings | None = None) -> tuple[dict, Context]:
    ctx = new_ctx()
    body = {"model": "claude-sonnet-4-5", "max_tokens": 100} | body
    out = kiro.request_from_ir(anthropic.request_to_ir(body), ctx, s or KiroSettings())
    return out, ctx


def accepted(out: dict[str, Any]) -> None:
    raw = json.dumps(out | {"profileArn": PROFILE_ARN}).encode()
    problem = kiro_rules.check(raw, KNOWN)
    assert problem is None, problem


def state(out: dict[str, Any]) -> dict[str, Any]:
    return out["conversationState"]


def current(out: dict[str, Any]) -> dict[str, Any]:
    return state(out)["currentMessage"]["userInputMessage"]


def roles(out: dict[str, Any]) -> list[str]:
    return [next(iter(item)) for item in state(out).get("history", [])]


def notes(ctx: Context) -> list[str]:
    return [f"{n.path}: {n.reason}" for n in ctx.notes]


WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Return current weather conditions for a city.",
    "input_schema": {
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": "City name"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        },
        "required": ["city"],
    },
}
TOOL_ID = "tooluse_Qx7vN2kLr8TzA1bC3dE4fG"


def test_research_fixture_a() -> None:
    """research/kiro.md, Synthetic fixtures (a): a 2-turn conversation with a tool result."""
    out, ctx = from_anthropic(
        {
            "system": "You are a concise assistant.",
            "tools": [WEATHER_TOOL],
            "messages": [
                {"role": "user", "content": "What is the weather in Paris right now?"},
                {
                    "role": "assistant",
                    "content": [
                        {"type": "text", "text": "I'll look that up."},
                        {
                            "type": "tool_use",
                            "id": TOOL_ID,
                            "name": "get_weather",
                            "input": {"city": "Paris", "unit": "celsius"},
                        },
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": TOOL_ID,
                            "content": '{"temp": 14, "conditions": "light rain"}',
                        }
                    ],
                },
            ],
        }
    )
    conversation_id = state(out)["conversationId"]
    assert out == {
        "conversationState": {
            "chatTriggerType": "MANUAL",
            "agentTaskType": "vibe",
            "conversationId": conversation_id,
            "history": [
                {
                    "userInputMessage": {
                        "content": "You are a concise assistant.\n\n"
                        "What is the weather in Paris right now?",
                        "modelId": "claude-sonnet-4.5",
                        "origin": "AI_EDITOR",
                    }
                },
                {
                    "assistantResponseMessage": {
                        "content": "I'll look that up.",
                        "toolUses": [
                            {
                                "toolUseId": TOOL_ID,
                                "name": "get_weather",
                                "input": {"city": "Paris", "unit": "celsius"},
                            }
                        ],
                    }
                },
            ],
            "currentMessage": {
                "userInputMessage": {
                    "content": "(empty placeholder)",
                    "modelId": "claude-sonnet-4.5",
                    "origin": "AI_EDITOR",
                    "userInputMessageContext": {
                        "tools": [
                            {
                                "toolSpecification": {
                                    "name": "get_weather",
                                    "description": WEATHER_TOOL["description"],
                                    "inputSchema": {"json": WEATHER_TOOL["input_schema"]},
                                }
                            }
                        ],
                        "toolResults": [
                            {
                                "toolUseId": TOOL_ID,
                                "content": [{"text": '{"temp": 14, "conditions": "light rain"}'}],
                                "status": "success",
                            }
                        ],
                    },
                }
            },
        }
    }
    accepted(out)
    assert "model: 'claude-sonnet-4-5' sent to Kiro as 'claude-sonnet-4.5' (normalised)" in notes(
        ctx
    )
    assert "max_tokens: Kiro has no sampling or output controls; not sent" in notes(ctx)


def test_single_turn_puts_the_system_text_in_the_current_message() -> None:
    out, _ = from_anthropic(
        {"system": "Be brief.", "messages": [{"role": "user", "content": "Hi"}]}
    )
    assert "history" not in state(out)
    assert current(out)["content"] == "Be brief.\n\nHi"
    assert "userInputMessageContext" not in current(out)
    accepted(out)


def test_system_pair_placement() -> None:
    s = KiroSettings(system_placement="pair")
    out, _ = from_anthropic(
        {"system": "Be brief.", "messages": [{"role": "user", "content": "Hi"}]}, s
    )
    assert roles(out) == ["userInputMessage", "assistantResponseMessage"]
    assert state(out)["history"][0]["userInputMessage"]["content"] == "Be brief."
    assert current(out)["content"] == "Hi"
    accepted(out)


def test_consecutive_roles_are_merged_and_edges_fixed() -> None:
    out, ctx = from_anthropic(
        {
            "messages": [
                {"role": "assistant", "content": "I start."},
                {"role": "assistant", "content": "Twice."},
                {"role": "user", "content": "a"},
                {"role": "user", "content": "b"},
                {"role": "assistant", "content": "Prefill"},
            ]
        }
    )
    assert roles(out) == [
        "userInputMessage",
        "assistantResponseMessage",
        "userInputMessage",
        "assistantResponseMessage",
    ]
    history = state(out)["history"]
    assert history[0]["userInputMessage"]["content"] == "(empty placeholder)"
    assert history[1]["assistantResponseMessage"]["content"] == "I start.\nTwice."
    assert history[2]["userInputMessage"]["content"] == "a\nb"
    assert history[3]["assistantResponseMessage"]["content"] == "Prefill"
    assert current(out)["content"] == "(empty placeholder)"
    said = "\n".join(notes(ctx))
    assert "consecutive assistant messages merged" in said
    assert "conversation starts with the assistant" in said
    assert "assistant prefill cannot be continued" in said
    accepted(out)


def test_openai_system_and_developer_messages() -> None:
    body = {
        "model": "claude-sonnet-4.5",
        "messages": [
            {"role": "system", "content": "S1"},
            {"role": "developer", "content": "S2"},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello"},
            {"role": "system", "content": "Late rule"},
            {"role": "user", "content": "Again"},
        ],
    }
    ctx = new_ctx()
    out = kiro.request_from_ir(openai.request_to_ir(body), ctx)
    assert state(out)["history"][0]["userInputMessage"]["content"] == "S1\n\nS2\n\nHi"
    assert current(out)["content"] == "<system-reminder>\nLate rule\n</system-reminder>\nAgain"
    accepted(out)


def test_orphans_and_duplicates_become_text() -> None:
    out, ctx = from_anthropic(
        {
            "tools": [WEATHER_TOOL],
            "messages": [
                {"role": "user", "content": "go"},
                {
                    "role": "assistant",
                    "content": [
                        {"type": "tool_use", "id": "t1", "name": "get_weather", "input": {}},
                        {
                            "type": "tool_use",
                            "id": "t2",
                            "name": "get_weather",
                            "input": {"city": "X"},
                        },
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": "t1", "content": "one"},
                        {"type": "tool_result", "tool_use_id": "t1", "content": "again"},
                        {"type": "tool_result", "tool_use_id": "zz", "content": "stray"},
                    ],
                },
            ],
        }
    )
    uses = state(out)["history"][1]["assistantResponseMessage"]
    assert [u["toolUseId"] for u in uses["toolUses"]] == ["t1"]
    assert uses["content"] == '[Tool call get_weather (t2) with input {"city": "X"}]'
    results = current(out)["userInputMessageContext"]["toolResults"]
    assert [r["toolUseId"] for r in results] == ["t1"]
    assert current(out)["content"] == "[Tool result for t1]\nagain\n[Tool result for zz]\nstray"
    said = "\n".join(notes(ctx))
    assert "tool call 't2' never answered" in said
    assert "tool result 't1' a duplicate" in said
    assert "tool result 'zz' without its tool call" in said
    accepted(out)


def test_tool_limits_and_schema_cleaning() -> None:
    long_name = "mcp__some_server__" + "very_long_tool_name_" * 4
    long_desc = "d" * 10_001
    out, ctx = from_anthropic(
        {
            "system": "Sys.",
            "tools": [
                {
                    "name": long_name,
                    "description": "ok",
                    "input_schema": {
                        "type": "object",
                        "properties": {
                            "additionalProperties": {"type": "string"},  # a property so named
                            "nested": {
                                "type": "object",
                                "properties": {"x": {"type": "integer"}},
                                "additionalProperties": False,
                                "required": [],
                            },
                        },
                        "additionalProperties": False,
                    },
                    "cache_control": {"type": "ephemeral"},
                },
                {"name": "big", "description": long_desc, "input_schema": {"type": "object"}},
                {"name": "nodesc", "input_schema": {"type": "object", "properties": {}}},
                {"type": "web_search_20250305", "name": "web_search", "max_uses": 3},
            ],
            "messages": [{"role": "user", "content": "hi"}],
        }
    )
    specs = [t["toolSpecification"] for t in current(out)["userInputMessageContext"]["tools"]]
    assert [s["name"] for s in specs][1:] == ["big", "nodesc"]
    short = specs[0]["name"]
    assert len(short) <= 64 and short != long_name
    assert specs[0]["inputSchema"]["json"] == {
        "type": "object",
        "properties": {
            "additionalProperties": {"type": "string"},
            "nested": {"type": "object", "properties": {"x": {"type": "integer"}}},
        },
    }
    assert specs[1]["description"].startswith("See the section '## Tool: big'")
    assert specs[1]["inputSchema"]["json"] == {"type": "object", "properties": {}}
    assert f"## Tool: big\n\n{long_desc}" in current(out)["content"]
    assert current(out)["content"].startswith("Sys.\n\n## Tool: big")
    assert specs[2]["description"] == "Tool: nodesc"
    said = "\n".join(notes(ctx))
    assert "tools[0].cache_control: Kiro has no prompt caching; dropped" in said
    assert "tools[3]: server tool 'web_search_20250305' cannot run on Kiro; dropped" in said
    assert "tools[1].description: over 10000 characters: moved to the system prompt" in said
    accepted(out)


def test_tools_used_in_history_but_not_defined_get_a_placeholder() -> None:
    out, ctx = from_anthropic(
        {
            "messages": [
                {"role": "user", "content": "go"},
                {
                    "role": "assistant",
                    "content": [
                        {"type": "tool_use", "id": "t1", "name": "Bash", "input": {"c": 1}}
                    ],
                },
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1"}]},
            ]
        }
    )
    specs = current(out)["userInputMessageContext"]["tools"]
    assert [s["toolSpecification"]["name"] for s in specs] == ["Bash"]
    results = current(out)["userInputMessageContext"]["toolResults"]
    assert results[0]["content"] == [{"text": "(empty result)"}]
    assert "placeholder definition" in "\n".join(notes(ctx))
    accepted(out)


def test_images_thinking_history_and_errors() -> None:
    png = "iVBORw0KGgo="
    out, ctx = from_anthropic(
        {
            "tools": [WEATHER_TOOL],
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "look"},
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/png", "data": png},
                        },
                    ],
                },
                {
                    "role": "assistant",
                    "content": [
                        {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                        {"type": "redacted_thinking", "data": "opaque"},
                        {
                            "type": "tool_use",
                            "id": "t1",
                            "name": "get_weather",
                            "input": {"city": "P"},
                        },
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": "t1",
                            "content": [
                                {"type": "text", "text": "shot:"},
                                {
                                    "type": "image",
                                    "source": {
                                        "type": "base64",
                                        "media_type": "image/jpeg",
                                        "data": "/9j/",
                                    },
                                },
                            ],
                            "is_error": True,
                        }
                    ],
                },
            ],
        }
    )
    first = state(out)["history"][0]["userInputMessage"]
    assert first["images"] == [{"format": "png", "source": {"bytes": png}}]
    assert (
        state(out)["history"][1]["assistantResponseMessage"]["content"]
        == "<thinking>hmm</thinking>"
    )
    cur = current(out)
    assert cur["images"] == [{"format": "jpeg", "source": {"bytes": "/9j/"}}]
    result = cur["userInputMessageContext"]["toolResults"][0]
    assert result == {
        "toolUseId": "t1",
        "content": [{"text": "shot:\n[image 1 of this message]"}],
        "status": "error",
    }
    said = "\n".join(notes(ctx))
    assert "thinking signature cannot travel" in said and "redacted (encrypted) thinking" in said
    accepted(out)


@pytest.mark.parametrize(
    ("block", "why"),
    [
        ({"type": "image", "source": {"type": "url", "url": "https://x/y.png"}}, "not by URL"),
        (
            {
                "type": "image",
                "source": {"type": "base64", "media_type": "image/bmp", "data": "Qk0="},
            },
            "not 'image/bmp'",
        ),
        (
            {
                "type": "document",
                "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBE"},
            },
            "takes no documents",
        ),
        (
            {"type": "server_tool_use", "id": "s", "name": "web_search", "input": {}},
            "no Kiro equivalent",
        ),
    ],
)
def test_content_kiro_cannot_carry_is_refused(block: dict[str, Any], why: str) -> None:
    with pytest.raises(UnsupportedContentError, match=why):
        from_anthropic({"messages": [{"role": "user", "content": [block]}]})


def test_plain_text_documents_become_text() -> None:
    doc = {
        "type": "document",
        "source": {"type": "text", "media_type": "text/plain", "data": "notes"},
        "title": "a.txt",
    }
    out, _ = from_anthropic(
        {"messages": [{"role": "user", "content": [doc, {"type": "text", "text": "sum up"}]}]}
    )
    assert current(out)["content"] == "[document: a.txt]\nnotes\nsum up"


def test_size_limit_is_a_clear_error_naming_the_limit() -> None:
    s = KiroSettings(max_body_bytes=2_000)
    with pytest.raises(
        kiro.KiroLimitError, match=r"over the limit of 2,000 bytes \(kiro_max_body\)"
    ) as e:
        from_anthropic({"messages": [{"role": "user", "content": "x" * 3000}]}, s)
    assert str(e.value).startswith("prompt is too long")
    assert isinstance(e.value, UnsupportedContentError)  # the gateway's 400 path


def test_thinking_tags_when_enabled() -> None:
    body = {
        "thinking": {"type": "enabled", "budget_tokens": 50_000},
        "messages": [{"role": "user", "content": "Why?"}],
    }
    off, ctx = from_anthropic(body)
    assert current(off)["content"] == "Why?"
    assert "thinking: Kiro has no thinking parameter" in "\n".join(notes(ctx))
    on, _ = from_anthropic(body, KiroSettings(thinking_tags=True))
    assert current(on)["content"] == (
        f"{THINKING_NOTE}\n\n"
        "<thinking_mode>enabled</thinking_mode><max_thinking_length>10000</max_thinking_length>\n"
        "Why?"
    )
    adaptive, _ = from_anthropic(
        {
            "thinking": {"type": "adaptive"},
            "output_config": {"effort": "low"},
            "messages": body["messages"],
        },
        KiroSettings(thinking_tags=True),
    )
    assert (
        "<thinking_mode>adaptive</thinking_mode><thinking_effort>low</thinking_effort>"
        in current(adaptive)["content"]
    )
    disabled, _ = from_anthropic(
        {"thinking": {"type": "disabled"}, "messages": body["messages"]},
        KiroSettings(thinking_tags=True),
    )
    assert "thinking_mode" not in current(disabled)["content"]


def test_conversation_id_is_stable_and_follows_claude_code_sessions() -> None:
    first = [{"role": "user", "content": "Hi"}]
    longer = first + [
        {"role": "assistant", "content": "Hello"},
        {"role": "user", "content": "More"},
    ]
    a, _ = from_anthropic({"system": "S", "messages": first})
    b, _ = from_anthropic({"system": "S", "messages": longer})
    c, _ = from_anthropic({"system": "T", "messages": first})
    assert state(a)["conversationId"] == state(b)["conversationId"] != state(c)["conversationId"]
    session = "0f7c9a52-3b1d-4e8e-9a0a-5d6c7b8e9f01"
    user_id = json.dumps({"device_id": "abc", "session_id": session})
    d, _ = from_anthropic({"metadata": {"user_id": user_id}, "messages": first})
    e, _ = from_anthropic(
        {"metadata": {"user_id": f"user_x_account__session_{session}"}, "messages": first}
    )
    assert state(d)["conversationId"] == state(e)["conversationId"] == session


def test_settings_change_the_envelope() -> None:
    s = KiroSettings(
        origin="KIRO_CLI", agent_task_type=None, known_models=frozenset({"claude-sonnet-4-5"})
    )
    out, ctx = from_anthropic({"messages": [{"role": "user", "content": "Hi"}]}, s)
    assert current(out)["origin"] == "KIRO_CLI"
    assert current(out)["modelId"] == "claude-sonnet-4-5"  # listed by Kiro: sent as is
    assert "agentTaskType" not in state(out)
    assert not any(n.path == "model" for n in ctx.notes)


def test_unknown_models_pass_through_unchanged() -> None:
    out, ctx = from_anthropic(
        {"model": "my-custom-model", "messages": [{"role": "user", "content": "Hi"}]}
    )
    assert current(out)["modelId"] == "my-custom-model"
    assert not any(n.path == "model" for n in ctx.notes)


def test_request_to_ir_reads_a_kiro_body_back() -> None:
    out, _ = from_anthropic(
        {
            "tools": [WEATHER_TOOL],
            "messages": [
                {"role": "user", "content": "go"},
                {
                    "role": "assistant",
                    "content": [
                        {
                            "type": "tool_use",
                            "id": "t1",
                            "name": "get_weather",
                            "input": {"city": "P"},
                        }
                    ],
                },
                {
                    "role": "user",
                    "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "sunny"}],
                },
            ],
        }
    )
    req = kiro.request_to_ir(out | {"profileArn": PROFILE_ARN})
    assert req.model == "claude-sonnet-4.5"
    assert [m.role for m in req.messages] == ["user", "assistant", "user"]
    call = req.messages[1].content[0]
    assert isinstance(call, ir.ToolCallPart) and json.loads(call.arguments) == {"city": "P"}
    result = req.messages[2].content[0]
    assert isinstance(result, ir.ToolResultPart) and result.tool_call_id == "t1"
    assert req.tools[0].name == "get_weather"
    assert req.extra["profileArn"] == PROFILE_ARN
    # and the IR goes back to the same conversation
    again = kiro.request_from_ir(req, new_ctx())
    assert state(again)["history"][1:] == state(out)["history"][1:]


# --------------------------------------------------------------------------- generated mixes

_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=12)
_user_block = st.one_of(
    _text.map(lambda t: {"type": "text", "text": t}),
    st.just(
        {"type": "image", "source": {"type": "base64", "media_type": "image/gif", "data": "R0lG"}}
    ),
)
_tool_names = st.sampled_from(["get_weather", "Bash", "x" * 70])


@st.composite
def conversations(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Messages of both roles in any order, tool calls answered, unanswered, repeated or
    answered out of place, empty texts: what clients send after retries and edits."""
    msgs: list[dict[str, Any]] = []
    ids: list[str] = []
    for n in range(draw(st.integers(1, 6))):
        if draw(st.booleans()):
            blocks = draw(st.lists(_user_block, max_size=3))
            for _ in range(draw(st.integers(0, 2))):
                tid = draw(st.sampled_from(ids)) if ids and draw(st.booleans()) else f"stray{n}"
                blocks.insert(
                    0, {"type": "tool_result", "tool_use_id": tid, "content": draw(_text)}
                )
            msgs.append({"role": "user", "content": blocks or draw(_text)})
        else:
            blocks = [{"type": "text", "text": draw(_text)}] if draw(st.booleans()) else []
            for k in range(draw(st.integers(0, 2))):
                tid = f"call{n}_{k}"
                ids.append(tid)
                blocks.append(
                    {"type": "tool_use", "id": tid, "name": draw(_tool_names), "input": {"a": k}}
                )
            msgs.append({"role": "assistant", "content": blocks or draw(_text)})
    return msgs


@settings(max_examples=300, deadline=None)
@given(conversations(), st.booleans(), st.sampled_from(["prepend", "pair"]))
def test_any_conversation_translates_into_a_request_kiro_accepts(
    msgs: list[dict[str, Any]], with_tools: bool, placement: str
) -> None:
    body: dict[str, Any] = {"system": "sys", "messages": msgs}
    if with_tools:
        body["tools"] = [WEATHER_TOOL]
    try:
        out, _ = from_anthropic(body, KiroSettings(system_placement=placement))  # type: ignore[arg-type]
    except Exception as e:  # noqa: BLE001
        pytest.fail(f"{type(e).__name__}: {e}")
    accepted(out)


# --------------------------------------------------------------------------- the judge itself


def _body(history: list[Any], current_msg: dict[str, Any], **state_extra: Any) -> dict[str, Any]:
    st_: dict[str, Any] = {
        "chatTriggerType": "MANUAL",
        "currentMessage": {"userInputMessage": current_msg},
    }
    if history:
        st_["history"] = history
    return {"conversationState": st_ | state_extra}


def _u(content: str = "hi", **kw: Any) -> dict[str, Any]:
    return {"content": content, "modelId": "claude-sonnet-4.5", "origin": "AI_EDITOR"} | kw


def _a(content: str = "ok", **kw: Any) -> dict[str, Any]:
    return {"content": content} | kw


_SPEC = {
    "toolSpecification": {
        "name": "f",
        "description": "d",
        "inputSchema": {"json": {"type": "object"}},
    }
}
_USE = {"toolUseId": "t1", "name": "f", "input": {}}
_RES = {"toolUseId": "t1", "content": [{"text": "r"}], "status": "success"}


@pytest.mark.parametrize(
    ("body", "rule"),
    [
        (_body([{"assistantResponseMessage": _a()}], _u()), "first-user"),
        (_body([{"userInputMessage": _u()}], _u()), "alternation"),
        (_body([], _u("")), "empty-content"),
        (_body([], _u(), chatTriggerType="AUTO"), "trigger"),
        (_body([], _u(images=[{"format": "bmp", "source": {"bytes": "x"}}])), "images"),
        (
            _body([], _u(userInputMessageContext={"tools": [_SPEC | {"cachePoint": {}}]})),
            "tool-shape",
        ),
        (
            _body(
                [],
                _u(
                    userInputMessageContext={
                        "tools": [
                            {
                                "toolSpecification": {
                                    "name": "x" * 65,
                                    "description": "d",
                                    "inputSchema": {"json": {}},
                                }
                            }
                        ]
                    }
                ),
            ),
            "tool-name",
        ),
        (
            _body(
                [],
                _u(
                    userInputMessageContext={
                        "tools": [
                            {
                                "toolSpecification": {
                                    "name": "f",
                                    "description": "d",
                                    "inputSchema": {"json": {"additionalProperties": False}},
                                }
                            }
                        ]
                    }
                ),
            ),
            "tool-schema",
        ),
        (
            _body(
                [{"userInputMessage": _u()}, {"assistantResponseMessage": _a(toolUses=[_USE])}],
                _u(userInputMessageContext={"tools": [_SPEC]}),
            ),
            "orphan-tool-use",
        ),
        (
            _body(
                [{"userInputMessage": _u()}, {"assistantResponseMessage": _a()}],
                _u(userInputMessageContext={"tools": [_SPEC], "toolResults": [_RES]}),
            ),
            "orphan-tool-result",
        ),
        (
            _body(
                [{"userInputMessage": _u()}, {"assistantResponseMessage": _a(toolUses=[_USE])}],
                _u(userInputMessageContext={"toolResults": [_RES]}),
            ),
            "tool-undefined",
        ),
        (_body([], _u(modelId=None)), "null"),
        (_body([], _u(modelId="claude-nope")), "model-id"),
    ],
)
def test_the_fake_rules_catch_each_known_cause(body: dict[str, Any], rule: str) -> None:
    problem = kiro_rules.check(json.dumps(body).encode(), KNOWN)
    assert problem is not None and problem.rule == rule, problem


def test_the_fake_rules_refuse_oversized_bodies_with_kiros_reason() -> None:
    raw = json.dumps(_body([], _u("x" * 2000))).encode()
    problem = kiro_rules.check(raw, KNOWN, kiro_rules.Limits(max_body_bytes=1000))
    assert problem is not None and problem.reason == "CONTENT_LENGTH_EXCEEDS_THRESHOLD"
