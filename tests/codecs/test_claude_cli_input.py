"""Client requests as the CLI's stdin: history seeded without model calls, only the last user
message asks the model; what the CLI cannot do is noted or refused, never silently lost."""

from __future__ import annotations

from typing import Any

import pytest

from recorder.codecs import anthropic as anthropic_codec
from recorder.codecs import openai as openai_codec
from recorder.codecs.claude_cli_input import turn_input
from recorder.context import Context
from recorder.errors import UnsupportedContentError

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def openai_turn(body: dict[str, Any]):  # type: ignore[no-untyped-def]
    ctx = Context(client="openai", upstream="anthropic")
    return turn_input(openai_codec.request_to_ir({"model": "sonnet", **body}), ctx), ctx


def anthropic_turn(body: dict[str, Any]):  # type: ignore[no-untyped-def]
    ctx = Context(client="anthropic", upstream="anthropic")
    full = {"model": "sonnet", "max_tokens": 64, **body}
    return turn_input(anthropic_codec.request_to_ir(full), ctx), ctx


def test_first_turn_is_one_query_line() -> None:
    turn, ctx = openai_turn({"messages": [{"role": "user", "content": "hi"}]})
    assert turn.history == [] and turn.system == []
    [line] = turn.lines(resumed=False)
    assert line.data["type"] == "user" and "shouldQuery" not in line.data
    assert line.data["message"] == {"role": "user", "content": [{"type": "text", "text": "hi"}]}
    assert ctx.notes == []


def test_history_is_seeded_and_only_the_new_turn_asks() -> None:
    turn, _ = openai_turn(
        {
            "messages": [
                {"role": "system", "content": "Be terse."},
                {"role": "user", "content": "q1"},
                {"role": "assistant", "content": "a1"},
                {"role": "user", "content": "q2"},
            ]
        }
    )
    assert turn.system == ["Be terse."]
    seeded = turn.lines(resumed=False)
    assert [(ln.data["type"], ln.data.get("shouldQuery"), ln.wait) for ln in seeded] == [
        ("user", False, True),  # joins the history; wait for its result line
        ("assistant", None, False),
        ("user", None, True),  # the query
    ]
    assert seeded[1].data["message"]["content"] == [{"type": "text", "text": "a1"}]  # a list
    resumed = turn.lines(resumed=True)
    assert len(resumed) == 1 and resumed[0].data["message"]["content"][0]["text"] == "q2"


def test_trailing_user_messages_are_all_the_new_turn() -> None:
    turn, _ = anthropic_turn(
        {
            "messages": [
                {"role": "user", "content": "q1"},
                {"role": "assistant", "content": "a1"},
                {"role": "user", "content": "q2a"},
                {"role": "user", "content": "q2b"},
            ]
        }
    )
    lines = turn.lines(resumed=True)
    assert [ln.data.get("shouldQuery") for ln in lines] == [False, None]


def test_client_tool_round_trip_in_history() -> None:
    turn, _ = openai_turn(
        {
            "tools": [WEATHER],
            "messages": [
                {"role": "user", "content": "weather?"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
            ],
        }
    )
    assert turn.tools == [
        {
            "name": "get_weather",
            "description": "Weather for a city",
            "inputSchema": {"type": "object", "properties": {"city": {"type": "string"}}},
        }
    ]
    [tool_use] = turn.history[-1]["content"]
    assert tool_use == {
        "type": "tool_use",
        "id": "call_1",
        "name": "get_weather",
        "input": {"city": "Paris"},
    }
    [result] = turn.turn[0]["content"]
    assert result["type"] == "tool_result" and result["tool_use_id"] == "call_1"


@pytest.mark.parametrize(
    ("text", "blocks"),
    [
        ("/clear", ["/", "clear"]),
        ("//x y", ["//", "x y"]),
        ("/", ["/"]),  # a lone slash names no command
        (" /clear", [" /clear"]),  # not at the start
        ("a/b", ["a/b"]),
    ],
)
def test_slash_commands_are_defused(text: str, blocks: list[str]) -> None:
    turn, _ = openai_turn({"messages": [{"role": "user", "content": text}]})
    [line] = turn.lines(resumed=False)
    assert [b["text"] for b in line.data["message"]["content"]] == blocks


def test_slash_in_an_earlier_block_is_left_alone() -> None:
    turn, _ = anthropic_turn(
        {
            "messages": [
                {
                    "role": "user",
                    "content": [{"type": "text", "text": "/clear"}, {"type": "text", "text": "x"}],
                }
            ]
        }
    )
    [line] = turn.lines(resumed=False)
    assert [b["text"] for b in line.data["message"]["content"]] == ["/clear", "x"]


def test_mid_conversation_system_becomes_a_reminder_with_a_note() -> None:
    turn, ctx = openai_turn(
        {
            "messages": [
                {"role": "user", "content": "q1"},
                {"role": "assistant", "content": "a1"},
                {"role": "system", "content": "now in French"},
                {"role": "user", "content": "q2"},
            ]
        }
    )
    texts = [b["text"] for m in turn.turn for b in m["content"]]
    assert "<system-reminder>\nnow in French\n</system-reminder>" in texts
    assert any(n.path == "messages[2]" for n in ctx.notes)


def test_dropped_parameters_are_noted() -> None:
    _, ctx = openai_turn(
        {
            "messages": [{"role": "user", "content": "hi"}],
            "max_tokens": 10,
            "temperature": 0.2,
            "stop": ["x"],
            "logit_bias": {"50256": -100},
        }
    )
    assert {n.path for n in ctx.notes} >= {"max_tokens", "temperature", "stop", "logit_bias"}


def test_effort_maps_and_other_thinking_is_noted() -> None:
    turn, _ = openai_turn(
        {"messages": [{"role": "user", "content": "hi"}], "reasoning_effort": "low"}
    )
    assert turn.effort == "low"
    turn, ctx = anthropic_turn(
        {
            "messages": [{"role": "user", "content": "hi"}],
            "thinking": {"type": "enabled", "budget_tokens": 2048},
        }
    )
    assert turn.effort is None and any(n.path == "thinking" for n in ctx.notes)


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (
            {
                "messages": [
                    {"role": "user", "content": "q"},
                    {"role": "assistant", "content": "A:"},
                ]
            },
            "prefill",
        ),
        ({"messages": [{"role": "user", "content": "q"}], "n": 2}, "n > 1"),
        (
            {
                "messages": [{"role": "user", "content": "q"}],
                "tools": [{"type": "function", "function": {"name": "bad name!"}}],
            },
            "must match",
        ),
    ],
)
def test_what_the_cli_cannot_express_is_refused(body: dict[str, Any], why: str) -> None:
    with pytest.raises(UnsupportedContentError, match=why):
        openai_turn(body)


def test_server_tools_are_refused() -> None:
    with pytest.raises(UnsupportedContentError, match="server tool"):
        anthropic_turn(
            {
                "messages": [{"role": "user", "content": "q"}],
                "tools": [{"type": "web_search_20250305", "name": "web_search"}],
            }
        )


def test_tool_choice_none_offers_no_tools() -> None:
    turn, ctx = openai_turn(
        {"messages": [{"role": "user", "content": "q"}], "tools": [WEATHER], "tool_choice": "none"}
    )
    assert turn.tools == [] and any(n.path == "tool_choice" for n in ctx.notes)


def test_images_are_carried() -> None:
    image = {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"},
    }
    turn, _ = anthropic_turn(
        {"messages": [{"role": "user", "content": [{"type": "text", "text": "what?"}, image]}]}
    )
    [line] = turn.lines(resumed=False)
    assert line.data["message"]["content"][1] == image


def test_a_responses_client_maps_like_the_others() -> None:
    from recorder.codecs import responses as responses_codec

    body = {
        "model": "sonnet",
        "instructions": "Be terse.",
        "input": [
            {"type": "message", "role": "developer", "content": "Answer in French."},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "q1"}]},
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "a1"}],
            },
            {"type": "function_call", "call_id": "c1", "name": "get_weather", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
        ],
        "tools": [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}],
    }
    ctx = Context(client="responses", upstream="anthropic")
    turn = turn_input(responses_codec.request_to_ir(body), ctx)
    assert turn.system == ["Be terse.", "Answer in French."]
    assert [m["role"] for m in turn.history] == ["user", "assistant"]
    assert turn.history[-1]["content"][-1]["type"] == "tool_use"
    assert turn.turn[0]["content"][0]["type"] == "tool_result"
    assert turn.tools[0]["name"] == "get_weather"


def test_structured_output_becomes_a_json_schema() -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}}
    turn, ctx = openai_turn(
        {
            "messages": [{"role": "user", "content": "a city"}],
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "c", "schema": schema},
            },
        }
    )
    assert turn.json_schema == schema and any(n.path == "output_format" for n in ctx.notes)
    turn, _ = openai_turn(
        {
            "messages": [{"role": "user", "content": "json"}],
            "response_format": {"type": "json_object"},
        }
    )
    assert turn.json_schema == {"type": "object"}
    with pytest.raises(UnsupportedContentError, match="schema over"):
        big = {"type": "object", "description": "x" * 200_000}
        openai_turn(
            {
                "messages": [{"role": "user", "content": "q"}],
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "c", "schema": big},
                },
            }
        )
