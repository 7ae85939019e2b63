"""Re-record tests/claude_cli/recorded/*.jsonl: the stdout of the pinned Claude Code CLI, run by
the backend against the local fake upstream (nothing leaves 127.0.0.1).

    uv run python -m tests.claude_cli.record_fixtures

Run it after pinning a new Claude Code version, then read the diff: it shows what the new CLI
writes differently, and the decoder tests say whether that still decodes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import tempfile
from pathlib import Path
from typing import Any

from fakes.claude_code import CLAUDE_BIN, FAKE_API_KEY, QUIET_ENV
from recorder.claude_cli.invocation import CliPolicy
from recorder.claude_cli.turn import ClaudeCliBackend, CliSettings
from recorder.codecs import anthropic as anthropic_codec
from recorder.codecs import claude_cli as claude_cli_codec
from recorder.codecs import openai as openai_codec
from recorder.context import Context
from tests.clients.scripted import ScriptedUpstream

OUT = Path(__file__).with_name("recorded")
HI = {"model": "sonnet", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]}
WEATHER = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}

CITY = {
    "type": "json_schema",
    "schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}

# name -> (fake upstream modes, request body, policy, logged in)
SCENARIOS: dict[str, tuple[list[str], dict[str, Any], CliPolicy, bool]] = {
    "text": ([], HI, CliPolicy(), True),
    "thinking": (["thinking"], HI, CliPolicy(), True),
    "client_tool": (["tool"], {**HI, "tools": [WEATHER]}, CliPolicy(), True),
    "error_429": (["error:429"], HI, CliPolicy(), True),
    "error_500": (["error:500"], HI, CliPolicy(), True),
    "error_529": (["error:529"], HI, CliPolicy(), True),
    "midstream_error": (["midstream-error"], HI, CliPolicy(), True),
    "not_logged_in": ([], HI, CliPolicy(), False),
    "max_turns": (["tool", "text"], HI, CliPolicy(tools=("Read",), max_turns=1), True),
    "internal_tool": (["tool", "text"], HI, CliPolicy(tools=("Read",)), True),
    "structured": (["tool"], {**HI, "output_config": {"format": CITY}}, CliPolicy(), True),
}


async def record(tmp: Path, fake: ScriptedUpstream) -> None:
    for name, (modes, body, policy, logged_in) in SCENARIOS.items():
        env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp / name), "ANTHROPIC_BASE_URL": fake.url}
        env |= QUIET_ENV | ({"ANTHROPIC_API_KEY": FAKE_API_KEY} if logged_in else {})
        backend = ClaudeCliBackend(CliSettings(str(CLAUDE_BIN), tmp / "sessions"), env)
        fake.clear()
        fake.script(*modes)
        ctx = Context(client="anthropic", upstream="anthropic")
        turn = backend.turn_for(anthropic_codec.request_to_ir(body), ctx, policy)
        async with contextlib.aclosing(turn.events()) as events:
            async for _ in events:
                pass
        lines = [text for _, stream, text in turn.transcripts[-1].lines if stream == "stdout"]
        (OUT / f"{name}.jsonl").write_text("\n".join(lines) + "\n")
        print(f"{name}: {len(lines)} lines, exit {turn.transcripts[-1].exit_code}")


WIRE = Path(__file__).parents[1] / "fixtures" / "claude_cli"
CLIENT_TOOLS = {"client_tool": ["get_weather"]}


def write_wire_fixtures() -> None:
    """The recorded runs as the claude-cli backend serves them (tests/fixtures/claude_cli/
    streams/*.sse, and a request and a non-streamed response), the seeds of the fuzzing."""
    (WIRE / "streams").mkdir(parents=True, exist_ok=True)
    (WIRE / "responses").mkdir(parents=True, exist_ok=True)
    (WIRE / "requests").mkdir(parents=True, exist_ok=True)
    for name in SCENARIOS:
        lines = (OUT / f"{name}.jsonl").read_text().splitlines()
        invocation = {
            "argv": ["claude", "--print"],
            "client_tools": CLIENT_TOOLS.get(name, []),
            "structured": name == "structured",
        }
        events = [("invocation", json.dumps(invocation))]
        events += [("stdout", line) for line in lines]
        events.append(("exit", json.dumps({"exit_code": 0, "error": None})))
        sse = "".join(f"event: {e}\ndata: {d}\n\n" for e, d in events)
        (WIRE / "streams" / f"{name}.sse").write_text(sse)
        if name in ("text", "thinking", "structured"):
            body = {"events": [{"event": e, "data": d} for e, d in events]}
            (WIRE / "responses" / f"{name}.json").write_text(json.dumps(body, indent=1) + "\n")
    ctx = Context(client="openai", upstream="claude_cli")
    weather = {"type": "function", "function": {"name": "get_weather", "parameters": {}}}
    messages = [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": "Which city?"},
        {"role": "user", "content": "/clear Paris"},
    ]
    chat = {"model": "sonnet", "messages": messages, "tools": [weather], "stream": True}
    body = claude_cli_codec.request_from_ir(openai_codec.request_to_ir(chat), ctx)
    (WIRE / "requests" / "chat.json").write_text(json.dumps(body, indent=1) + "\n")


def main() -> None:
    fake = ScriptedUpstream().start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            asyncio.run(record(Path(tmp), fake))
    finally:
        fake.stop()
    write_wire_fixtures()


if __name__ == "__main__":
    main()
