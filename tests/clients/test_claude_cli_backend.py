"""The pinned Claude Code as a backend (recorder.claude_cli), its Anthropic traffic going to a
local fake: what the CLI sends upstream is what the client's conversation says, turn by turn.

Library level: the gateway's ``claude-cli`` upstream kind drives the same ``ClaudeCliBackend``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from fakes.claude_code import FAKE_API_KEY, QUIET_ENV
from recorder import ir
from recorder.claude_cli.invocation import CliPolicy
from recorder.claude_cli.turn import ClaudeCliBackend, CliSettings, CliTurn
from recorder.codecs import openai as openai_codec
from recorder.context import Context
from tests.clients.egress import EgressGuard
from tests.clients.scripted import ScriptedUpstream

pytestmark = pytest.mark.clients

FAKE_TEXT = "Hello world!"
OAUTH_TOKEN = "sk-ant-oat01-fake-subscription-token-000"


def backend(
    claude_bin: Path, tmp_path: Path, fake: ScriptedUpstream, egress: EgressGuard, **env: str
) -> ClaudeCliBackend:
    base = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path / "home"),
        "ANTHROPIC_BASE_URL": fake.url,
        "ANTHROPIC_API_KEY": FAKE_API_KEY,
        **QUIET_ENV,
        **egress.env(),
        **env,
    }
    base = {k: v for k, v in base.items() if v}
    settings = CliSettings(str(claude_bin), tmp_path / "sessions", timeout=60)
    return ClaudeCliBackend(settings, base)


def openai_turn(
    b: ClaudeCliBackend, messages: list[dict[str, Any]], policy: CliPolicy | None = None, **kw: Any
) -> tuple[CliTurn, list[ir.StreamEvent]]:
    ctx = Context(client="openai", upstream="anthropic")
    req = openai_codec.request_to_ir({"model": "sonnet", "messages": messages, **kw})
    turn = b.turn_for(req, ctx, policy)

    async def run() -> list[ir.StreamEvent]:
        async with contextlib.aclosing(turn.events()) as events:
            return [ev async for ev in events]

    return turn, asyncio.run(run())


def texts(messages: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(role, text) of each upstream message, Claude Code's own system reminders left out."""
    out = []
    for m in messages:
        content = m["content"]
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        text = "".join(
            b.get("text", "") for b in blocks if not b.get("text", "").startswith("<system-")
        )
        out.append((m["role"], text))
    return out


def test_two_turns_resume_one_cli_session(
    claude_bin: Path, tmp_path: Path, fake_upstream: ScriptedUpstream, egress: EgressGuard
) -> None:
    b = backend(claude_bin, tmp_path, fake_upstream, egress)
    t1, events = openai_turn(
        b, [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "q1"}]
    )
    assert isinstance(events[-1], ir.Finish), events[-1]
    assert "".join(e.text for e in events if isinstance(e, ir.TextDelta)) == FAKE_TEXT
    first = fake_upstream.model_turns()[-1].json()
    assert [b["text"] for b in first["system"]][-1] == "Be terse."  # replaces Claude Code's
    assert first["tools"] == []  # a pure chat model

    t2, events = openai_turn(
        b,
        [
            {"role": "system", "content": "Be terse."},
            {"role": "user", "content": "q1"},
            {"role": "assistant", "content": FAKE_TEXT},
            {"role": "user", "content": "/clear q2"},  # reaches the model, not the CLI
        ],
    )
    assert isinstance(events[-1], ir.Finish), events[-1]
    assert t2.resumed_from == t1.session
    argv = t2.transcripts[0].argv
    assert argv[argv.index("--resume") + 1] == t1.session.id  # type: ignore[union-attr]
    user_lines = [
        json.loads(text)
        for _, stream, text in t2.transcripts[0].lines
        if stream == "stdin" and '"type": "user"' in text
    ]
    assert len(user_lines) == 1  # turn 1 was not sent again
    second = fake_upstream.model_turns()[-1].json()
    assert texts(second["messages"]) == [
        ("user", "q1"),
        ("assistant", FAKE_TEXT),
        ("user", "/clear q2"),
    ]


def test_a_client_tool_call_and_its_result(
    claude_bin: Path, tmp_path: Path, fake_upstream: ScriptedUpstream, egress: EgressGuard
) -> None:
    b = backend(claude_bin, tmp_path, fake_upstream, egress)
    weather = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
    fake_upstream.script_tool("get_weather", {"city": "Paris"})
    t1, events = openai_turn(b, [{"role": "user", "content": "weather?"}], tools=[weather])
    assert isinstance(events[-1], ir.Finish) and events[-1].stop_reason == "tool_use"
    call = [e.part for e in events if isinstance(e, ir.PartStart)][-1]
    assert isinstance(call, ir.ToolCallPart) and call.name == "get_weather"
    offered = fake_upstream.model_turns()[-1].json()["tools"]
    assert [t["name"] for t in offered] == ["get_weather"]  # the client's name, unprefixed
    assert offered[0]["input_schema"]["properties"] == {"city": {"type": "string"}}
    assert t1.transcripts[0].killed is not None and t1.transcripts[0].exit_code is not None
    assert len(fake_upstream.model_turns()) == 1  # the CLI never ran the tool itself

    args = json.dumps({"city": "Paris"})
    t2, events = openai_turn(
        b,
        [
            {"role": "user", "content": "weather?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": call.id,
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": args},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21C"},
        ],
        tools=[weather],
    )
    assert isinstance(events[-1], ir.Finish) and events[-1].stop_reason == "end_turn"
    assert t2.resumed_from is None  # seeded: the CLI cannot resume a pending tool call
    body = fake_upstream.model_turns()[-1].json()
    tool_use = body["messages"][-2]["content"][-1]
    assert tool_use["type"] == "tool_use" and tool_use["name"] == "get_weather"
    result = body["messages"][-1]["content"][0]
    assert result["type"] == "tool_result" and result["tool_use_id"] == call.id


def test_529_behind_the_cli(
    claude_bin: Path, tmp_path: Path, fake_upstream: ScriptedUpstream, egress: EgressGuard
) -> None:
    b = backend(claude_bin, tmp_path, fake_upstream, egress)
    fake_upstream.script("error:529")
    _, events = openai_turn(b, [{"role": "user", "content": "q"}])
    assert isinstance(events[-1], ir.StreamError)
    assert (events[-1].error.kind, events[-1].error.status) == ("overloaded", 529)
    assert not any(isinstance(e, ir.MessageStart) for e in events)


def test_a_subscription_login_stays_with_the_cli(
    claude_bin: Path, tmp_path: Path, fake_upstream: ScriptedUpstream, egress: EgressGuard
) -> None:
    """An OAuth login (what ``claude /login`` leaves in ~/.claude) is used by the CLI; the
    gateway's side of the turn never holds it."""
    home = tmp_path / "home" / ".claude"
    home.mkdir(parents=True)
    credentials = {
        "claudeAiOauth": {
            "accessToken": OAUTH_TOKEN,
            "refreshToken": "sk-ant-ort01-fake-refresh-000",
            "expiresAt": 4102444800000,
            "scopes": ["user:inference", "user:profile"],
            "subscriptionType": "pro",
        }
    }
    (home / ".credentials.json").write_text(json.dumps(credentials))
    (home / ".credentials.json").chmod(0o600)
    b = backend(claude_bin, tmp_path, fake_upstream, egress, ANTHROPIC_API_KEY="")
    turn, events = openai_turn(b, [{"role": "user", "content": "q"}])
    assert isinstance(events[-1], ir.Finish), events[-1]
    assert fake_upstream.model_turns()[-1].headers["authorization"] == f"Bearer {OAUTH_TOKEN}"
    kept = json.dumps([dataclasses.asdict(t) for t in turn.transcripts])
    assert OAUTH_TOKEN not in kept and "sk-ant-ort01" not in kept
    # Logged in with OAuth, Claude Code sometimes fetches account data from api.anthropic.com
    # in the background (CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC does not stop it); the guard
    # refused it and the turn went on. Nothing else may leave.
    egress.allow("api.anthropic.com:443")


def test_an_unknown_history_is_seeded_without_model_calls(
    claude_bin: Path, tmp_path: Path, fake_upstream: ScriptedUpstream, egress: EgressGuard
) -> None:
    b = backend(claude_bin, tmp_path, fake_upstream, egress)
    history = [
        {"role": "user", "content": "q1"},
        {"role": "assistant", "content": "a1"},
        {"role": "user", "content": "q2"},
        {"role": "assistant", "content": "a2"},
        {"role": "user", "content": "q3"},
    ]
    t, events = openai_turn(b, history)
    assert isinstance(events[-1], ir.Finish), events[-1]
    assert t.resumed_from is None
    [turn] = fake_upstream.model_turns()  # one model call for the whole conversation
    assert texts(turn.json()["messages"]) == [
        ("user", "q1"),
        ("assistant", "a1"),
        ("user", "q2"),
        ("assistant", "a2"),
        ("user", "q3"),
    ]
