"""Pinned Claude Code through the gateway to Kiro (the fake Kiro of fakes/kiro.py): text, a tool
loop that really runs Bash, tag-based thinking, a tool call Kiro cut off (never executed), a
token that expires mid-session (refreshed once, the session goes on), and Kiro refusing a
request (its reason reaches Claude Code). Opt-in like every real-client test (``-m clients``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from fakes.claude_code import ClaudeRun
from fakes.kiro import FakeKiro
from tests.clients.conftest import ClaudeRunner, Gateway, start_kiro_gateway

pytestmark = pytest.mark.clients

MODEL = "claude-sonnet-4-5-20250929"  # Kiro's claude-sonnet-4.5
FAKE_TEXT = "Hello world!"


@pytest.fixture(scope="module")
def gateway(
    kiro: FakeKiro, tmp_path_factory: pytest.TempPathFactory, mitm_confdir: Path
) -> Iterator[Gateway]:
    home = tmp_path_factory.mktemp("kiro-gateway")
    gw = start_kiro_gateway(kiro, home, mitm_confdir, ["--set", "kiro_thinking=true"])
    yield gw
    gw.stop()


@pytest.fixture
def fake(kiro: FakeKiro) -> FakeKiro:
    kiro.clear()
    return kiro


def ok(run: ClaudeRun, gw: Gateway) -> dict[str, object]:
    assert gw.service.alive(), "gateway died:\n" + gw.service.log_tail()
    assert run.returncode == 0, run.describe() + "\n--- gateway ---\n" + gw.service.log_tail()
    result = run.result
    assert result["subtype"] == "success" and result["is_error"] is False, run.describe()
    return result


def test_plain_answer(gateway: Gateway, fake: FakeKiro, claude: ClaudeRunner) -> None:
    run = claude("say hi", base_url=gateway.url, args=["--model", MODEL])
    result = ok(run, gateway)
    assert result["result"] == FAKE_TEXT and result["stop_reason"] == "end_turn"
    sent = json.loads(fake.chat_requests()[-1].body)
    current = sent["conversationState"]["currentMessage"]["userInputMessage"]
    assert current["modelId"] == "claude-sonnet-4.5"
    names = [t["toolSpecification"]["name"] for t in current["userInputMessageContext"]["tools"]]
    assert "Bash" in names  # Claude Code's tools, accepted by the fake's request rules
    assert fake.rejected == []


def test_tool_loop_runs_bash_and_survives_an_expired_token(
    gateway: Gateway, fake: FakeKiro, claude: ClaudeRunner, workdir: Path
) -> None:
    marker = workdir / "marker"
    refreshes = len(fake.refreshes)
    # the token expires right after the tool call: the next turn meets a 403 first
    fake.script_tool(
        "Bash", {"command": f"touch {marker}", "description": "make marker"}, "+expire"
    )
    fake.script("text")
    run = claude(
        "create the marker file",
        base_url=gateway.url,
        args=["--model", MODEL, "--allowedTools", "Bash"],
    )
    result = ok(run, gateway)
    assert marker.exists(), "Bash did not run: " + run.describe()
    assert result["result"] == FAKE_TEXT and result["num_turns"] == 2
    assert len(fake.refreshes) == refreshes + 1  # one refresh, the session went on
    second = json.loads(fake.chat_requests()[-1].body)["conversationState"]
    results = second["currentMessage"]["userInputMessage"]["userInputMessageContext"]["toolResults"]
    assert [r["toolUseId"] for r in results] == ["tooluse_fake01"]
    uses = second["history"][-1]["assistantResponseMessage"]["toolUses"]
    assert uses[0]["input"]["command"] == f"touch {marker}"


def test_thinking(gateway: Gateway, fake: FakeKiro, claude: ClaudeRunner) -> None:
    run = claude(
        "think, then say hi", base_url=gateway.url, args=["--model", MODEL],
        env={"MAX_THINKING_TOKENS": "2048"},
    )  # fmt: skip
    result = ok(run, gateway)
    assert [b["thinking"] for b in run.assistant_blocks("thinking")] == ["Let me think about this."]
    assert result["result"] == FAKE_TEXT


def test_a_tool_call_cut_off_is_never_run(
    gateway: Gateway, fake: FakeKiro, claude: ClaudeRunner, workdir: Path
) -> None:
    marker = workdir / "never"
    bash = {"command": f"touch {marker}", "description": "x"}
    fake.script_tool("Bash", bash, mode="truncated-tool")  # cut off before its end
    fake.script("text", "text")
    run = claude(
        "make the file", base_url=gateway.url, args=["--model", MODEL, "--allowedTools", "Bash"]
    )
    assert not marker.exists(), run.describe()
    assert run.assistant_blocks("tool_use") == [], run.describe()


def test_kiros_refusal_reaches_claude_code(
    gateway: Gateway, fake: FakeKiro, claude: ClaudeRunner
) -> None:
    fake.script("improper:orphan-tool-result")
    run = claude("say hi", base_url=gateway.url, args=["--model", MODEL])
    assert run.result.get("is_error") is True, run.describe()
    assert "Improperly formed request." in run.stdout, run.describe()
    assert "orphan-tool-result" in run.stdout, run.describe()
    # Kiro's INVALID_MODEL_ID is a not-found model for Claude Code (its own wording)
    run = claude("say hi", base_url=gateway.url, args=["--model", "claude-unknown-9"])
    assert run.result.get("api_error_status") == 404, run.describe()
    assert run.lines[-2].get("error") == "model_not_found", run.describe()
