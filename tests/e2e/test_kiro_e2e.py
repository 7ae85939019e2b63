"""Kiro as the upstream, end to end: the real gateway (mitmdump) in front of the fake Kiro
(fakes/kiro.py: event streams, request rules, tokens that expire), driven by the official SDKs,
recording into DuckDB.

Checked: text (streamed and not), a tool loop, tag-based thinking, a tool call cut off mid-way
(never delivered), an expired token refreshed mid-session (once), Kiro's own refusal reaching the
client with its reason, the gateway's size limit naming itself, /v1/models from Kiro's list, a
corrupt frame ending each client's stream with its own error, Responses API clients (text, a
tool loop, reasoning, a cut-off call as response.incomplete), and the recording: raw frames and
decoded events of the upstream leg, the exact body Kiro refused, and no token anywhere in the
file.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from fakes.kiro import PROFILE_ARN, FakeKiro
from fakes.procs import BIN, Service, free_port, start_service
from tests.e2e.conftest import GATEWAY_ADDON

pytestmark = pytest.mark.e2e

TOOLS = [
    {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "input_schema": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": False,
        },
    }
]
ASK = [{"role": "user", "content": "Weather in Paris?"}]
MODEL = "claude-sonnet-4-5-20250929"


@pytest.fixture(scope="module")
def kiro() -> Iterator[FakeKiro]:
    server = FakeKiro().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("kiro")


@pytest.fixture(scope="module")
def creds(home: Path) -> Path:
    p = home / "kiro-auth-token.json"
    p.write_text(
        json.dumps(
            {
                "accessToken": "stale-token",
                "refreshToken": "fake-refresh-1",
                "expiresAt": "2020-01-01T00:00:00Z",
                "authMethod": "social",
                "provider": "Github",
                "profileArn": PROFILE_ARN,
            }
        )
    )
    return p


@pytest.fixture(scope="module")
def gw(kiro: FakeKiro, creds: Path, home: Path) -> Iterator[Service]:
    port = free_port()
    argv = [
        str(BIN / "mitmdump"), "-q", "-s", str(GATEWAY_ADDON), "-p", str(port),
        "--listen-host", "127.0.0.1",
        "--set", "gateway_upstream_api=kiro",
        "--set", f"gateway_upstream={kiro.url}",
        "--set", f"kiro_credentials={creds}",
        "--set", f"kiro_auth_url={kiro.url}/refreshToken",
        "--set", "kiro_thinking=true",
        "--set", "gateway_retries=0",
        "--set", f"recorder_db={home / 'traffic.duckdb'}",
    ]  # fmt: skip
    svc = start_service("gateway", argv, port=port, log_dir=home)
    deadline = time.monotonic() + 30  # mitmdump listens before the addon has loaded
    while httpx.head(svc.url, timeout=30.0).status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.2)
    yield svc
    svc.stop()


def claude(gw: Service) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url, api_key="unused", max_retries=0)


def gpt(gw: Service) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gw.url}/v1", api_key="unused", max_retries=0)


def query(home: Path, sql: str) -> list[dict[str, Any]]:
    out = subprocess.run(
        [str(BIN / "recorder"), "query", sql, "--db", str(home / "traffic.duckdb"), "-f", "json"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    rows: list[dict[str, Any]] = json.loads(out.stdout)
    return rows


def wait_rows(home: Path, sql: str, n: int = 1) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 15
    while True:
        rows = query(home, sql)
        if len(rows) >= n or time.monotonic() > deadline:
            return rows
        time.sleep(0.2)


def test_text_streamed_and_whole(gw: Service, kiro: FakeKiro) -> None:
    with claude(gw).messages.stream(model=MODEL, max_tokens=100, messages=ASK) as s:
        msg = s.get_final_message()
    assert msg.content[0].text == "Hello world!" and msg.stop_reason == "end_turn"  # type: ignore[union-attr]
    assert msg.usage.output_tokens > 0
    whole = claude(gw).messages.create(model=MODEL, max_tokens=100, messages=ASK)
    assert whole.content[0].text == "Hello world!" and whole.stop_reason == "end_turn"  # type: ignore[union-attr]
    done = gpt(gw).chat.completions.create(model=MODEL, messages=ASK)
    assert done.choices[0].message.content == "Hello world!"
    assert done.choices[0].finish_reason == "stop"
    chunks = list(gpt(gw).chat.completions.create(model=MODEL, messages=ASK, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello world!"
    sent = json.loads(kiro.chat_requests()[-1].body)
    assert sent["profileArn"] == PROFILE_ARN
    assert (
        sent["conversationState"]["currentMessage"]["userInputMessage"]["modelId"]
        == "claude-sonnet-4.5"
    )
    assert kiro.chat_requests()[-1].headers["authorization"].startswith("Bearer fake-access-")


def test_tool_loop(gw: Service, kiro: FakeKiro) -> None:
    kiro.script_tool("get_weather", {"city": "Paris"})
    first = claude(gw).messages.create(model=MODEL, max_tokens=100, messages=ASK, tools=TOOLS)  # type: ignore[arg-type]
    assert first.stop_reason == "tool_use"
    call = first.content[-1]
    assert call.type == "tool_use" and call.input == {"city": "Paris"}
    turn = [
        *ASK,
        {"role": "assistant", "content": [b.model_dump() for b in first.content]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "14C, rain"}],
        },
    ]
    second = claude(gw).messages.create(model=MODEL, max_tokens=100, messages=turn, tools=TOOLS)  # type: ignore[arg-type]
    assert second.stop_reason == "end_turn"
    sent = json.loads(kiro.chat_requests()[-1].body)
    ctx = sent["conversationState"]["currentMessage"]["userInputMessage"]["userInputMessageContext"]
    assert ctx["toolResults"][0] == {
        "toolUseId": call.id,
        "content": [{"text": "14C, rain"}],
        "status": "success",
    }
    assert "additionalProperties" not in json.dumps(ctx["tools"])


def test_thinking_by_tags(gw: Service) -> None:
    with claude(gw).messages.stream(
        model=MODEL,
        max_tokens=2000,
        messages=ASK,
        thinking={"type": "enabled", "budget_tokens": 1024},
    ) as s:
        msg = s.get_final_message()
    assert [b.type for b in msg.content] == ["thinking", "text"]
    assert msg.content[0].thinking == "Let me think about this."  # type: ignore[union-attr]
    done = gpt(gw).chat.completions.create(model=MODEL, messages=ASK, reasoning_effort="low")
    assert done.choices[0].message.content == "Hello world!"
    assert done.choices[0].message.reasoning_content == "Let me think about this."  # type: ignore[attr-defined]


def test_a_tool_call_cut_off_is_not_delivered(gw: Service, kiro: FakeKiro) -> None:
    kiro.script("truncated-tool")
    with claude(gw).messages.stream(model=MODEL, max_tokens=100, messages=ASK, tools=TOOLS) as s:  # type: ignore[arg-type]
        msg = s.get_final_message()
    assert msg.stop_reason == "max_tokens" and [b.type for b in msg.content] == ["text"]
    kiro.script("truncated-tool")
    done = gpt(gw).chat.completions.create(
        model=MODEL,
        messages=ASK,
        tools=[
            {
                "type": "function",
                "function": {"name": "get_weather", "parameters": {"type": "object"}},
            }
        ],
    )
    assert done.choices[0].finish_reason == "length" and not done.choices[0].message.tool_calls


def test_expired_token_is_refreshed_mid_session(gw: Service, kiro: FakeKiro) -> None:
    claude(gw).messages.create(model=MODEL, max_tokens=100, messages=ASK)  # a live token first
    before = len(kiro.refreshes)
    kiro.expire_tokens()  # Kiro now refuses it (403)
    with claude(gw).messages.stream(model=MODEL, max_tokens=100, messages=ASK) as s:
        assert s.get_final_message().content[0].text == "Hello world!"  # type: ignore[union-attr]
    kiro.expire_tokens()
    whole = gpt(gw).chat.completions.create(model=MODEL, messages=ASK)
    assert whole.choices[0].message.content == "Hello world!"
    assert len(kiro.refreshes) == before + 2  # one refresh per expiry
    statuses = [r.headers["authorization"] for r in kiro.chat_requests()[-4:]]
    assert len(set(statuses)) == 3  # old, renewed, renewed again


def test_kiros_refusal_reaches_the_client_with_its_reason(gw: Service) -> None:
    with pytest.raises(anthropic.NotFoundError) as e:
        claude(gw).messages.create(model="claude-unknown-9", max_tokens=100, messages=ASK)
    assert "INVALID_MODEL_ID" in str(e.value)
    with pytest.raises(openai.NotFoundError) as o:
        gpt(gw).chat.completions.create(model="claude-unknown-9", messages=ASK)
    assert "INVALID_MODEL_ID" in str(o.value)


def test_the_size_limit_is_named(gw: Service, kiro: FakeKiro) -> None:
    n = len(kiro.chat_requests())
    with pytest.raises(anthropic.BadRequestError) as e:
        claude(gw).messages.create(
            model=MODEL, max_tokens=100, messages=[{"role": "user", "content": "x" * 1_300_000}]
        )
    assert "prompt is too long" in str(e.value) and "1,200,000 bytes" in str(e.value)
    assert len(kiro.chat_requests()) == n  # never sent


def test_models_from_kiro(gw: Service) -> None:
    r = httpx.get(f"{gw.url}/v1/models", headers={"authorization": "Bearer x"})
    ids = [m["id"] for m in r.json()["data"]]
    assert {"auto", "claude-sonnet-4.5", "claude-opus-4.6"} <= set(ids)


def test_the_recording(gw: Service, home: Path, kiro: FakeKiro) -> None:
    kiro.script("error:400")
    with pytest.raises(anthropic.BadRequestError):
        claude(gw).messages.create(
            model=MODEL, max_tokens=100, messages=[{"role": "user", "content": "rejected one"}]
        )
    rows = wait_rows(
        home,
        "select e.event, e.data from events e join exchanges x on x.id = e.exchange_id "
        "where x.upstream_dialect = 'kiro' and e.leg = 'upstream' and e.event = 'meteringEvent'",
    )
    assert rows and json.loads(rows[0]["data"])["payload"]["unit"] == "credit"
    names = {
        r["event"] for r in query(home, "select distinct event from events where leg = 'upstream'")
    }
    assert {"assistantResponseEvent", "toolUseEvent", "contextUsageEvent"} <= names
    chunks = query(home, "select count(*) as n from chunks")
    assert chunks[0]["n"] > 0
    refused = wait_rows(
        home,
        "select upstream_status, upstream_request_body from exchanges "
        "where upstream_status = 400 and upstream_dialect = 'kiro'",
    )
    assert refused and "rejected one" in json.dumps(refused[-1]["upstream_request_body"])
    dump = json.dumps(query(home, "select * from exchanges"), default=str)
    assert "fake-access-" not in dump and "fake-refresh-" not in dump


RESPONSES_TOOLS: list[Any] = [
    {
        "type": "function",
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
]


def test_responses_clients_text_tool_loop_and_reasoning(gw: Service, kiro: FakeKiro) -> None:
    with gpt(gw).responses.stream(model=MODEL, input="Weather in Paris?") as s:
        done = s.get_final_response()
    assert done.status == "completed" and done.output_text == "Hello world!"
    whole = gpt(gw).responses.create(model=MODEL, input="Weather in Paris?")
    assert whole.status == "completed" and whole.output_text == "Hello world!"
    kiro.script_tool("get_weather", {"city": "Paris"})
    with gpt(gw).responses.stream(
        model=MODEL, input="Weather in Paris?", tools=RESPONSES_TOOLS
    ) as s:
        first = s.get_final_response()
    calls = [o for o in first.output if o.type == "function_call"]
    assert first.status == "completed" and len(calls) == 1
    assert json.loads(calls[0].arguments) == {"city": "Paris"}
    second = gpt(gw).responses.create(
        model=MODEL,
        tools=RESPONSES_TOOLS,
        input=[
            {"role": "user", "content": "Weather in Paris?"},
            {
                "type": "function_call",
                "call_id": calls[0].call_id,
                "name": "get_weather",
                "arguments": calls[0].arguments,
            },
            {"type": "function_call_output", "call_id": calls[0].call_id, "output": "14C, rain"},
        ],
    )
    assert second.status == "completed" and second.output_text == "Hello world!"
    ctx = json.loads(kiro.chat_requests()[-1].body)["conversationState"]["currentMessage"][
        "userInputMessage"
    ]["userInputMessageContext"]
    assert ctx["toolResults"][0]["toolUseId"] == calls[0].call_id
    with gpt(gw).responses.stream(
        model=MODEL, input="Weather in Paris?", reasoning={"effort": "low"}
    ) as s:
        thought = s.get_final_response()
    kinds = [o.type for o in thought.output]
    assert kinds == ["reasoning", "message"] and thought.output_text == "Hello world!"


def test_responses_clients_see_a_cut_off_tool_call_as_incomplete(
    gw: Service, kiro: FakeKiro
) -> None:
    kiro.script("truncated-tool")
    events = list(
        gpt(gw).responses.create(
            model=MODEL, input="Weather in Paris?", tools=RESPONSES_TOOLS, stream=True
        )
    )
    last = events[-1]
    assert last.type == "response.incomplete"  # the SDK's final-response helper wants completed
    got = last.response
    assert got.incomplete_details is not None
    assert got.incomplete_details.reason == "max_output_tokens"
    assert not [o for o in got.output if o.type == "function_call"]
    assert not [e for e in events if e.type == "response.function_call_arguments.done"]


def test_a_corrupt_frame_is_the_clients_mid_stream_error(gw: Service, kiro: FakeKiro) -> None:
    kiro.script("corrupt")  # the text arrives, then a frame whose message CRC is wrong
    with pytest.raises(anthropic.APIStatusError) as e:  # an error event, never a guess
        with claude(gw).messages.stream(model=MODEL, max_tokens=100, messages=ASK) as s:
            s.get_final_message()
    assert "crc" in str(e.value).lower()
    kiro.script("corrupt")
    with pytest.raises(openai.APIError):
        list(gpt(gw).chat.completions.create(model=MODEL, messages=ASK, stream=True))
    kiro.script("corrupt")
    events = list(gpt(gw).responses.create(model=MODEL, input="Weather in Paris?", stream=True))
    assert [e.type for e in events if e.type.startswith("response.")][-1] == "response.failed"
    assert not [e for e in events if e.type == "response.completed"]
