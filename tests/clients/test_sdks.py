"""Official SDKs as judges, through the gateway, to an OpenAI- and an Anthropic-dialect upstream.

- anthropic 2.x (installed; ``Authorization: Bearer``, a newer ``anthropic-version``)
- anthropic < 2 in the environments scripts/install-clients.sh builds under .clients/
  (``x-api-key``, ``anthropic-version: 2023-06-01``)
- openai (installed)
- the openai Agents SDK, in its own environment under .clients/ (Responses API, a tool loop)

Streaming and not, tools, upstream HTTP errors (SDK exception class by status) and a mid-stream
error (an exception, not a quietly short answer). SDKs don't notice a stream that closes early,
so every success also asserts the stop / finish reason.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from fakes.procs import REPO
from tests.clients.conftest import Stack
from tests.clients.expectations import expect_status
from tests.prereqs import missing

pytestmark = pytest.mark.clients

MODEL = "claude-sonnet-5"
FAKE_TEXT = "Hello world!"
KEY = "sk-test-sdk"
MESSAGES = [{"role": "user", "content": "hi"}]
WEATHER_ANTHROPIC = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
WEATHER_OPENAI = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": WEATHER_ANTHROPIC["input_schema"],
    },
}


def anthropic_client(stack: Stack) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=stack.gateway.url, api_key=KEY, max_retries=0)


def openai_client(stack: Stack) -> openai.OpenAI:
    return openai.OpenAI(base_url=stack.gateway.url + "/v1", api_key=KEY, max_retries=0)


def single_turn(stack: Stack) -> None:
    turns = stack.fake.model_turns()
    assert len(turns) == 1, [t.path for t in turns]


# ---------------------------------------------------------------------------- anthropic 2.x


def test_anthropic_sdk_sends_bearer(fake_upstream) -> None:
    """Premise of the 2.x tests: this SDK authenticates with ``Authorization: Bearer``."""
    client = anthropic.Anthropic(base_url=fake_upstream.url, api_key=KEY, max_retries=0)
    client.messages.create(model=MODEL, max_tokens=16, messages=MESSAGES)
    headers = fake_upstream.model_turns()[0].headers
    assert headers.get("authorization") == f"Bearer {KEY}" and "x-api-key" not in headers


@pytest.mark.parametrize("streamed", [False, True], ids=["json", "sse"])
def test_anthropic_text(stack: Stack, streamed: bool) -> None:
    client = anthropic_client(stack)
    if streamed:
        with client.messages.stream(model=MODEL, max_tokens=64, messages=MESSAGES) as s:
            msg = s.get_final_message()
    else:
        msg = client.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES)

    assert [b.type for b in msg.content] == ["text"]
    assert msg.content[0].text == FAKE_TEXT
    assert msg.stop_reason == "end_turn"
    assert msg.usage.output_tokens > 0
    single_turn(stack)
    assert stack.fake.model_turns()[0].json().get("stream", False) is streamed


@pytest.mark.parametrize("streamed", [False, True], ids=["json", "sse"])
def test_anthropic_tool_call(stack: Stack, streamed: bool) -> None:
    stack.fake.script("tool")
    client = anthropic_client(stack)
    kwargs = dict(model=MODEL, max_tokens=64, messages=MESSAGES, tools=[WEATHER_ANTHROPIC])
    if streamed:
        with client.messages.stream(**kwargs) as s:  # type: ignore[arg-type]
            msg = s.get_final_message()
    else:
        msg = client.messages.create(**kwargs)  # type: ignore[arg-type]

    uses = [b for b in msg.content if b.type == "tool_use"]
    assert [(u.name, u.input) for u in uses] == [("get_weather", {"city": "Paris"})]
    assert msg.stop_reason == "tool_use"
    single_turn(stack)


@dataclass(frozen=True)
class ErrorCase:
    status: int  # what the upstream answers
    anthropic_error: type[anthropic.APIStatusError]
    openai_error: type[openai.APIStatusError]


ERROR_CASES = [
    ErrorCase(429, anthropic.RateLimitError, openai.RateLimitError),
    ErrorCase(500, anthropic.InternalServerError, openai.InternalServerError),
    ErrorCase(529, anthropic.OverloadedError, openai.InternalServerError),  # openai: any 5xx
]


@pytest.mark.parametrize("case", ERROR_CASES, ids=lambda c: str(c.status))
def test_anthropic_upstream_error_status(
    stack: Stack, case: ErrorCase, request: pytest.FixtureRequest
) -> None:
    want = expect_status(request, "anthropic", stack, case.status)
    stack.fake.script(f"error:{case.status}")
    with pytest.raises(anthropic.APIStatusError) as info:
        anthropic_client(stack).messages.create(model=MODEL, max_tokens=64, messages=MESSAGES)
    assert type(info.value) is case.anthropic_error, info.value
    assert info.value.status_code == want
    single_turn(stack)


def test_anthropic_midstream_error_raises(stack: Stack) -> None:
    stack.fake.script("midstream-error")
    with pytest.raises(anthropic.APIError):
        with anthropic_client(stack).messages.stream(
            model=MODEL, max_tokens=64, messages=MESSAGES
        ) as s:
            s.get_final_message()
    single_turn(stack)


# ---------------------------------------------------------------------------- anthropic < 2

# The order legacy_anthropic.py runs its scenarios in, one upstream request each.
LEGACY_SCRIPT = ["text", "text", "tool", "error:429", "midstream-error"]
# One environment per pin, built by scripts/install-clients.sh (never by the test).
LEGACY_PINS = REPO / "clients" / "legacy-anthropic.txt"
LEGACY_ENVS = REPO / ".clients"
LEGACY_VERSIONS = [
    line.strip() for line in LEGACY_PINS.read_text().splitlines() if line.startswith("anthropic==")
]


def legacy_python(requirement: str) -> Path:
    env = LEGACY_ENVS / requirement.replace("==", "-")
    python = env / "bin" / "python"
    if not python.exists():
        missing(f"the {requirement} environment ({env.relative_to(REPO)})")
    return python


def run_legacy(requirement: str, base_url: str) -> dict[str, Any]:
    argv = [legacy_python(requirement), Path(__file__).with_name("legacy_anthropic.py"), base_url]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    if proc.returncode != 0:
        pytest.fail(f"{requirement} run failed (rc={proc.returncode}):\n{proc.stderr[-3000:]}")
    out: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["version"] == requirement.removeprefix("anthropic=="), "stale environment"
    return out


@pytest.mark.parametrize("requirement", LEGACY_VERSIONS)
def test_legacy_anthropic_sdk_x_api_key(stack: Stack, requirement: str) -> None:
    stack.fake.script(*LEGACY_SCRIPT)

    out = run_legacy(requirement, stack.gateway.url)

    assert out["headers"] == {
        "x-api-key": True,
        "authorization": False,
        "anthropic-version": "2023-06-01",
    }
    assert out["create"] == {"text": FAKE_TEXT, "stop_reason": "end_turn"}
    assert out["stream"] == {"text": FAKE_TEXT, "stop_reason": "end_turn"}
    assert out["tool"] == {"calls": [["get_weather", {"city": "Paris"}]], "stop_reason": "tool_use"}
    assert out["error_429"] == ["RateLimitError", 429]
    assert out["midstream_error"] != "no exception"
    assert len(stack.fake.model_turns()) == len(LEGACY_SCRIPT)


# ---------------------------------------------------------------------------- openai Agents SDK

# agents_sdk.py runs two tool loops (Runner.run, then Runner.run_streamed): a tool call, then the
# answer, one upstream request each.
AGENTS_SCRIPT = ["tool", "text", "tool", "text"]
AGENTS_PINS = REPO / "clients" / "openai-agents.txt"
AGENTS_REQUIREMENT = next(
    line.strip()
    for line in AGENTS_PINS.read_text().splitlines()
    if line.startswith("openai-agents==")
)


def test_openai_agents_sdk_tool_loop(stack: Stack) -> None:
    """The Agents SDK speaks the Responses API; the gateway translates it to the upstream's
    dialect and back: the agent runs its tool, sends the result, and takes the final answer."""
    stack.fake.script(*AGENTS_SCRIPT)
    argv = [
        legacy_python(AGENTS_REQUIREMENT),
        Path(__file__).with_name("agents_sdk.py"),
        stack.gateway.url + "/v1",
        MODEL,
    ]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    if proc.returncode != 0:
        pytest.fail(f"agents run failed (rc={proc.returncode}):\n{proc.stderr[-3000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])

    assert out["version"] == AGENTS_REQUIREMENT.removeprefix("openai-agents=="), "stale environment"
    assert out["run"] == {"final": FAKE_TEXT, "tools_ran": ["Paris"]}
    assert out["run_streamed"] == {
        "final": FAKE_TEXT,
        "tools_ran": ["Paris"],
        "terminal_events": ["response.completed", "response.completed"],
    }
    turns = stack.fake.model_turns()
    want = "/v1/chat/completions" if stack.upstream_api == "openai" else "/v1/messages"
    assert [t.path for t in turns] == [want] * len(AGENTS_SCRIPT)
    for answer_turn in (turns[1], turns[3]):  # the tool's output went upstream, in its dialect
        assert "sunny in Paris" in json.dumps(answer_turn.json())


# ---------------------------------------------------------------------------- openai


@pytest.mark.parametrize("streamed", [False, True], ids=["json", "sse"])
def test_openai_text(stack: Stack, streamed: bool) -> None:
    client = openai_client(stack)
    if streamed:
        chunks = list(
            client.chat.completions.create(
                model=MODEL,
                messages=MESSAGES,  # type: ignore[arg-type]
                stream=True,
                stream_options={"include_usage": True},
            )
        )
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        finish = [
            c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
        ]
        assert finish == ["stop"]
        assert any(c.usage and c.usage.completion_tokens > 0 for c in chunks)
    else:
        done = client.chat.completions.create(model=MODEL, messages=MESSAGES)  # type: ignore[arg-type]
        text = done.choices[0].message.content or ""
        assert done.choices[0].finish_reason == "stop"
        assert done.usage is not None and done.usage.completion_tokens > 0

    assert text == FAKE_TEXT
    single_turn(stack)


@pytest.mark.parametrize("streamed", [False, True], ids=["json", "sse"])
def test_openai_tool_call(stack: Stack, streamed: bool) -> None:
    stack.fake.script("tool")
    client = openai_client(stack)
    kwargs = dict(model=MODEL, messages=MESSAGES, tools=[WEATHER_OPENAI])
    if streamed:
        with client.chat.completions.stream(**kwargs) as s:  # type: ignore[arg-type]
            done = s.get_final_completion()
    else:
        done = client.chat.completions.create(**kwargs)  # type: ignore[call-overload]

    choice = done.choices[0]
    calls = [
        (c.function.name, json.loads(c.function.arguments)) for c in choice.message.tool_calls or []
    ]
    assert calls == [("get_weather", {"city": "Paris"})]
    assert choice.finish_reason == "tool_calls"
    single_turn(stack)


@pytest.mark.parametrize("case", ERROR_CASES, ids=lambda c: str(c.status))
def test_openai_upstream_error_status(
    stack: Stack, case: ErrorCase, request: pytest.FixtureRequest
) -> None:
    want = expect_status(request, "openai", stack, case.status)
    stack.fake.script(f"error:{case.status}")
    with pytest.raises(openai.APIStatusError) as info:
        openai_client(stack).chat.completions.create(model=MODEL, messages=MESSAGES)  # type: ignore[arg-type]
    assert type(info.value) is case.openai_error, info.value
    assert info.value.status_code == want
    single_turn(stack)


def test_openai_midstream_error_raises(stack: Stack) -> None:
    stack.fake.script("midstream-error")
    with pytest.raises(openai.APIError):
        for _ in openai_client(stack).chat.completions.create(
            model=MODEL,
            messages=MESSAGES,  # type: ignore[arg-type]
            stream=True,
        ):
            pass
    single_turn(stack)
