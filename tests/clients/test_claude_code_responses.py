"""Pinned Claude Code through the gateway to an upstream that speaks only the OpenAI Responses
API: text, a tool loop that really runs Bash, and thinking <-> reasoning (the reasoning item's
encrypted content travels in the thinking signature and reaches the upstream again on the next
turn). Every upstream request is counted and must be a streamed Responses request.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.clients.conftest import ClaudeRunner, Stack, _start_gateway
from tests.clients.scripted import OPENAI_TOOL_CALL_ID, ScriptedUpstream
from tests.clients.test_claude_code import FAKE_TEXT, assert_success

pytestmark = pytest.mark.clients


@pytest.fixture
def rstack(
    stack_pool: dict[str, Stack], tmp_path_factory: pytest.TempPathFactory, mitm_confdir: Path
) -> Stack:
    st = stack_pool.get("responses")
    if st is None or not st.gateway.service.alive():
        fake = ScriptedUpstream().start()
        log_dir = tmp_path_factory.mktemp("gateway-responses")
        try:
            gw = _start_gateway(
                fake.url + "/v1", "responses", log_dir=log_dir, confdir=mitm_confdir
            )
        except BaseException:
            fake.stop()
            raise
        st = stack_pool["responses"] = Stack(fake, gw, "responses")
    st.fake.clear()
    return st


def responses_turns(stack: Stack, n: int) -> list[dict[str, Any]]:
    turns = stack.fake.model_turns()
    assert len(turns) == n, [t.path for t in turns]
    bodies = []
    for t in turns:
        assert t.path.split("?", 1)[0].endswith("/v1/responses"), t.path
        body = t.json()
        assert body.get("stream") is True and "input" in body and "messages" not in body
        bodies.append(body)
    return bodies


def test_plain_answer(rstack: Stack, claude: ClaudeRunner) -> None:
    run = claude("say hi", base_url=rstack.gateway.url)

    result = assert_success(run, rstack)
    assert result["result"] == FAKE_TEXT and result["stop_reason"] == "end_turn"
    (body,) = responses_turns(rstack, 1)
    assert body["store"] is False and isinstance(body.get("instructions"), str)
    assert {t["name"] for t in body["tools"]} >= {"Bash"}


def test_tool_loop_runs_bash(rstack: Stack, claude: ClaudeRunner, workdir: Path) -> None:
    marker = workdir / "marker"
    rstack.fake.script_tool("Bash", {"command": f"touch {marker}", "description": "make marker"})
    rstack.fake.script("text")

    run = claude(
        "create the marker file", base_url=rstack.gateway.url, args=["--allowedTools", "Bash"]
    )

    result = assert_success(run, rstack)
    assert marker.exists(), run.describe()
    assert result["result"] == FAKE_TEXT and result["num_turns"] == 2
    second = responses_turns(rstack, 2)[1]["input"]
    calls = [i for i in second if i.get("type") == "function_call"]
    outputs = [i for i in second if i.get("type") == "function_call_output"]
    assert [c["call_id"] for c in calls] == [OPENAI_TOOL_CALL_ID]
    assert json.loads(calls[0]["arguments"])["command"] == f"touch {marker}"
    assert [o["call_id"] for o in outputs] == [OPENAI_TOOL_CALL_ID]


def test_reasoning_reaches_claude_code_as_thinking_and_comes_back(
    rstack: Stack, claude: ClaudeRunner, workdir: Path
) -> None:
    marker = workdir / "marker"
    rstack.fake.script_tool(
        "Bash",
        {"command": f"touch {marker}", "description": "make marker"},
        reasoning="I should make the marker.",
    )
    rstack.fake.script("text")

    run = claude(
        "think, then create the marker file",
        base_url=rstack.gateway.url,
        args=["--allowedTools", "Bash"],
        env={"MAX_THINKING_TOKENS": "2048"},
    )

    assert_success(run, rstack)
    thinking = run.assistant_blocks("thinking")
    assert [b["thinking"] for b in thinking] == ["I should make the marker."], run.describe()
    first, second = responses_turns(rstack, 2)
    assert first["reasoning"]["summary"] == "auto"
    assert first["include"] == ["reasoning.encrypted_content"]
    reasoning = [i for i in second["input"] if i.get("type") == "reasoning"]
    assert reasoning == [
        {
            "type": "reasoning",
            "id": "rs_clients01",
            "summary": [{"type": "summary_text", "text": "I should make the marker."}],
            "encrypted_content": "enc-clients01",
        }
    ], second["input"]
