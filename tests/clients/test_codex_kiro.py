"""Pinned Codex (``codex exec --json``, the Responses API) through the gateway to Kiro (the fake
Kiro of fakes/kiro.py): a plain answer, an ``exec_command`` loop that really runs, Codex's
``apply_patch`` custom tool writing a file, a tool call Kiro cut off (never run), and Kiro's
refusal failing the turn. Codex asks for ``gpt-5.5``: the routes file's alias names the Kiro
model, the way a user points Codex at Kiro. Opt-in like every real-client test (``-m clients``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fakes.codex import CodexRun
from fakes.kiro import FakeKiro
from tests.clients.conftest import CodexRunner, Gateway, start_kiro_gateway

pytestmark = pytest.mark.clients

FAKE_TEXT = "Hello world!"
KIRO_MODEL = "claude-sonnet-4.5"
PATCH = "*** Begin Patch\n*** Add File: hello.txt\n+hi from codex\n*** End Patch\n"


@pytest.fixture(scope="module")
def gateway(
    kiro: FakeKiro, tmp_path_factory: pytest.TempPathFactory, mitm_confdir: Path
) -> Iterator[Gateway]:
    home = tmp_path_factory.mktemp("kiro-codex-gateway")
    routes = home / "routes.yaml"
    routes.write_text(f'aliases:\n  "gpt-*": {KIRO_MODEL}\n')
    gw = start_kiro_gateway(kiro, home, mitm_confdir, ["--set", f"gateway_config={routes}"])
    yield gw
    gw.stop()


@pytest.fixture
def fake(kiro: FakeKiro) -> FakeKiro:
    kiro.clear()
    return kiro


def completed(run: CodexRun, gw: Gateway) -> dict[str, Any]:
    assert gw.service.alive(), "gateway died:\n" + gw.service.log_tail()
    done = run.completed
    assert run.returncode == 0 and done is not None, (
        run.describe() + "\n--- gateway ---\n" + gw.service.log_tail()
    )
    return done


def turns(fake: FakeKiro, n: int) -> list[dict[str, Any]]:
    """Exactly ``n`` chat requests reached Kiro (none re-sent), as their bodies."""
    sent = [json.loads(r.body) for r in fake.chat_requests()]
    assert len(sent) == n, f"expected {n} Kiro request(s), got {len(sent)}"
    return sent


def current(body: dict[str, Any]) -> dict[str, Any]:
    message: dict[str, Any] = body["conversationState"]["currentMessage"]["userInputMessage"]
    return message


def test_plain_answer(gateway: Gateway, fake: FakeKiro, codex: CodexRunner) -> None:
    run = codex("say hi", base_url=gateway.url + "/v1")

    done = completed(run, gateway)
    assert run.answer == FAKE_TEXT, run.describe()
    assert done["usage"]["output_tokens"] > 0
    (body,) = turns(fake, 1)
    assert current(body)["modelId"] == KIRO_MODEL  # gpt-5.5 through the routes file's alias
    tools = current(body)["userInputMessageContext"]["tools"]
    names = {t["toolSpecification"]["name"] for t in tools}
    assert {"exec_command", "apply_patch"} <= names
    assert fake.rejected == []


def test_tool_loop_runs_exec_command(gateway: Gateway, fake: FakeKiro, codex: CodexRunner) -> None:
    fake.script_tool("exec_command", {"cmd": "echo hello-from-codex"})
    fake.script("text")

    run = codex("run the echo", base_url=gateway.url + "/v1")

    completed(run, gateway)
    (cmd,) = run.items("command_execution")
    assert cmd["exit_code"] == 0 and "hello-from-codex" in cmd["aggregated_output"], cmd
    # the fake's tool turn says its text before the call: one message per turn
    assert [m["text"] for m in run.items("agent_message")] == [FAKE_TEXT, FAKE_TEXT]
    second = turns(fake, 2)[1]
    results = current(second)["userInputMessageContext"]["toolResults"]
    assert [r["toolUseId"] for r in results] == ["tooluse_fake01"]
    assert "hello-from-codex" in json.dumps(results[0]["content"])
    assert fake.rejected == []


def test_apply_patch_changes_a_file(
    gateway: Gateway, fake: FakeKiro, codex: CodexRunner, workdir: Path
) -> None:
    fake.script_tool("apply_patch", {"input": PATCH})
    fake.script("text")

    run = codex("add hello.txt", base_url=gateway.url + "/v1", args=["-s", "workspace-write"])

    completed(run, gateway)
    assert (workdir / "hello.txt").read_text() == "hi from codex\n", run.describe()
    (change,) = run.items("file_change")
    assert change["status"] == "completed"
    second = turns(fake, 2)[1]
    results = current(second)["userInputMessageContext"]["toolResults"]
    assert "Success" in json.dumps(results[0]["content"]), results


def test_a_tool_call_cut_off_is_never_run(
    gateway: Gateway, fake: FakeKiro, codex: CodexRunner, workdir: Path
) -> None:
    marker = workdir / "never"
    fake.script_tool("exec_command", {"cmd": f"touch {marker}"}, mode="truncated-tool")

    run = codex("make the file", base_url=gateway.url + "/v1")

    assert gateway.service.alive()
    assert not marker.exists(), run.describe()
    assert run.items("command_execution") == [], run.describe()
    turns(fake, 1)


def test_kiros_refusal_fails_the_turn(gateway: Gateway, fake: FakeKiro, codex: CodexRunner) -> None:
    fake.script("improper:orphan-tool-result")

    run = codex("say hi", base_url=gateway.url + "/v1")

    assert run.returncode != 0 and run.failed is not None, run.describe()
    assert "Improperly formed request." in run.stdout, run.describe()
    turns(fake, 1)
