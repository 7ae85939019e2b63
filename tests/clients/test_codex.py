"""Pinned Codex (``codex exec --json``) through the gateway to a Chat Completions upstream and to
an Anthropic upstream: the gateway translates the Responses API both ways.

Each test runs twice (the ``stack`` fixture: an OpenAI-dialect fake, an Anthropic fake). Codex's
retries are off (fakes/codex.py), and every test counts the upstream's model turns and checks
that each is a streamed request in the upstream's own dialect, so a re-send or a request that
leaked through untranslated cannot hide.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from fakes.codex import CodexRun
from fakes.procs import BIN, REPO, free_port, start_service
from tests.clients.conftest import CodexRunner, Stack
from tests.clients.scripted import OPENAI_TOOL_CALL_ID, TOOL_CALL_ID

pytestmark = pytest.mark.clients

FAKE_TEXT = "Hello world!"  # what the fake's text mode streams
RECORDER = BIN / "recorder"
PATCH = "*** Begin Patch\n*** Add File: hello.txt\n+hi from codex\n*** End Patch\n"


def v1(stack: Stack) -> str:
    return stack.gateway.url + "/v1"


def assert_completed(run: CodexRun, stack: Stack) -> dict[str, Any]:
    assert stack.gateway.service.alive(), "gateway died:\n" + stack.gateway.service.log_tail()
    done = run.completed
    assert run.returncode == 0 and done is not None, (
        run.describe() + "\n--- gateway ---\n" + stack.gateway.service.log_tail()
    )
    return done


def assert_model_turns(stack: Stack, n: int) -> list[Any]:
    """Exactly ``n`` upstream requests, each streamed, each in the upstream's dialect."""
    turns = stack.fake.model_turns()
    paths = [t.path for t in turns]
    assert len(turns) == n, f"expected {n} upstream model request(s), got {paths}"
    endpoint = "/chat/completions" if stack.upstream_api == "openai" else "/v1/messages"
    for t in turns:
        assert t.path.split("?", 1)[0].endswith(endpoint), paths
        body = t.json()
        assert body.get("stream") is True, f"{t.path} was not a streaming request"
        assert "messages" in body and "input" not in body, "not translated: " + str(body)[:300]
    return turns


def tool_results(stack: Stack, body: dict[str, Any]) -> list[tuple[str, str]]:
    """(call id, text) of the tool results in an upstream request, in its dialect."""
    out = []
    for m in body["messages"]:
        if stack.upstream_api == "openai" and m.get("role") == "tool":
            out.append((m["tool_call_id"], _text(m["content"])))
        elif stack.upstream_api == "anthropic" and isinstance(m.get("content"), list):
            for b in m["content"]:
                if b.get("type") == "tool_result":
                    out.append((b["tool_use_id"], _text(b.get("content"))))
    return out


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(p.get("text", "") for p in content or [] if isinstance(p, dict))


def call_id(stack: Stack) -> str:
    return OPENAI_TOOL_CALL_ID if stack.upstream_api == "openai" else TOOL_CALL_ID


# ---------------------------------------------------------------------------- the answers


def test_plain_answer(stack: Stack, codex: CodexRunner) -> None:
    run = codex("say hi", base_url=v1(stack))

    done = assert_completed(run, stack)
    assert run.answer == FAKE_TEXT, run.describe()
    assert done["usage"]["input_tokens"] > 0 and done["usage"]["output_tokens"] > 0
    (turn,) = assert_model_turns(stack, 1)
    body = turn.json()
    names = {t.get("name") or t["function"]["name"] for t in body["tools"]}
    assert {"exec_command", "apply_patch"} <= names and "web_search" not in names


def test_tool_loop_runs_exec_command(stack: Stack, codex: CodexRunner) -> None:
    stack.fake.script_tool("exec_command", {"cmd": "echo hello-from-codex"})
    stack.fake.script("text")

    run = codex("run the echo", base_url=v1(stack))

    assert_completed(run, stack)
    (cmd,) = run.items("command_execution")
    assert cmd["exit_code"] == 0 and "hello-from-codex" in cmd["aggregated_output"], cmd
    assert run.answer == FAKE_TEXT
    second = assert_model_turns(stack, 2)[1].json()
    results = tool_results(stack, second)
    assert [r[0] for r in results] == [call_id(stack)], second["messages"][-3:]
    assert "hello-from-codex" in results[0][1]


def test_apply_patch_changes_a_file(stack: Stack, codex: CodexRunner, workdir: Path) -> None:
    """Codex's apply_patch is a custom (free-form) tool: the upstream sees a function taking
    {"input": text}, and Codex gets back a custom tool call with the raw patch."""
    stack.fake.script_tool("apply_patch", {"input": PATCH})
    stack.fake.script("text")

    run = codex("add hello.txt", base_url=v1(stack), args=["-s", "workspace-write"])

    assert_completed(run, stack)
    assert (workdir / "hello.txt").read_text() == "hi from codex\n", run.describe()
    (change,) = run.items("file_change")
    assert change["status"] == "completed"
    first, second = (t.json() for t in assert_model_turns(stack, 2))
    tool = next(
        t for t in first["tools"] if (t.get("name") or t["function"]["name"]) == "apply_patch"
    )
    schema = tool.get("input_schema") or tool["function"]["parameters"]
    assert schema["required"] == ["input"]
    results = tool_results(stack, second)
    assert [r[0] for r in results] == [call_id(stack)] and "Success" in results[0][1], results


# ---------------------------------------------------------------------------- failures


@pytest.mark.parametrize("mode", ["error:500", "error:429", "error:529", "midstream-error"])
def test_upstream_failure_fails_the_turn(stack: Stack, codex: CodexRunner, mode: str) -> None:
    stack.fake.script(mode)

    run = codex("say hi", base_url=v1(stack))

    assert run.returncode != 0 and run.failed is not None, run.describe()
    assert run.completed is None
    assert len(stack.fake.model_turns()) == 1, "the turn was retried"
    assert stack.gateway.service.alive()


# ---------------------------------------------------------------------------- record -> replay


def _recorder(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(RECORDER), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=REPO,
    )


def _outcome(run: CodexRun) -> list[dict[str, Any]]:
    """What a user sees of a run: its items without ids and timing."""
    keep = ("type", "text", "command", "aggregated_output", "exit_code", "status", "changes")
    return [
        {k: e["item"][k] for k in keep if k in e["item"]}
        for e in run.events
        if e.get("type") == "item.completed"
    ]


@pytest.mark.parametrize("upstream_api", ["openai", "anthropic"])
def test_recorded_session_replays_deterministically(
    fake_upstream,
    start_gateway,
    codex: CodexRunner,
    workdir: Path,
    tmp_path: Path,
    upstream_api: str,
) -> None:
    fake_upstream.script_tool("exec_command", {"cmd": "echo replayed"})
    fake_upstream.script("thinking")
    db = tmp_path / "recorded.duckdb"
    base = fake_upstream.url + ("/v1" if upstream_api == "openai" else "")

    # 1. Record a session through the gateway.
    gw = start_gateway(base, upstream_api, db=db)
    home = tmp_path / "codex-home"
    original = codex("run the echo, then say hi", base_url=gw.url + "/v1", home=home)
    assert original.completed is not None, original.describe()
    assert len(fake_upstream.model_turns()) == 2
    gw.stop()

    # 2. Export the session (Codex's thread id groups it) as a cassette.
    thread = next(e["thread_id"] for e in original.events if e.get("type") == "thread.started")
    cassette = tmp_path / "cassettes" / "codex-tool-loop"
    done = _recorder("export", "--db", db, "--session", thread, cassette)
    assert done.returncode == 0, done.stderr
    interactions = json.loads((cassette / "cassette.json").read_text())["interactions"]
    assert len(interactions) == 2

    # 3. Replay it as the upstream, from a fresh replay server and CODEX_HOME.
    port = free_port()
    replay = start_service(
        "replay",
        [RECORDER, "replay", cassette, "--as", "upstream", "--port", str(port)],
        port=port,
        log_dir=tmp_path,
    )
    try:
        replay_base = replay.url + ("/v1" if upstream_api == "openai" else "")
        gw = start_gateway(replay_base, upstream_api, db=tmp_path / "replay.duckdb")
        import shutil

        shutil.rmtree(home)
        again = codex("run the echo, then say hi", base_url=gw.url + "/v1", home=home)
        assert again.completed is not None, again.describe() + "\n" + replay.log_tail()
        assert _outcome(again) == _outcome(original)
    finally:
        replay.stop()
