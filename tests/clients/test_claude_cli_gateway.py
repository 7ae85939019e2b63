"""Proof, offline: the pinned Claude Code is the gateway's backend (``gateway_upstream=
claude-cli``), logged in with a (fake) subscription, and its own Anthropic traffic goes through a
second tapegate gateway to the local fake — so both of its sides are recorded::

    SDK / curl ─▶ front gateway ─▶ claude -p ─▶ back gateway ─▶ fake Anthropic upstream
                  (front.duckdb)   (its run =    (back.duckdb:
                                   the upstream  what the CLI
                                   leg)          sent Anthropic)
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from fakes.claude_code import QUIET_ENV
from fakes.procs import Service, free_port, start_service
from tests.clients.conftest import GATEWAY_ADDON, MITMDUMP, Gateway, GatewayFactory, recorder_cli
from tests.clients.egress import EgressGuard
from tests.clients.scripted import ScriptedUpstream

pytestmark = pytest.mark.clients

FAKE_TEXT = "Hello world!"
KEY = "gateway-key-for-tests-000"
OAUTH_TOKEN = "sk-ant-oat01-fake-subscription-token-000"
REFRESH_TOKEN = "sk-ant-ort01-fake-refresh-token-000"
SECRETS = (OAUTH_TOKEN, REFRESH_TOKEN, KEY)


@dataclass
class CliStack:
    fake: ScriptedUpstream
    back: Gateway
    front: Service
    front_db: Path
    tmp: Path
    restart_front: Any = None  # () -> Service: the front gateway stopped and started again

    def restart(self) -> None:
        self.front.stop()
        self.front = self.restart_front()

    @property
    def url(self) -> str:
        return self.front.url

    def openai(self) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.url + "/v1", api_key=KEY, max_retries=0)

    def anthropic(self) -> anthropic.Anthropic:
        return anthropic.Anthropic(base_url=self.url, api_key=KEY, max_retries=0)

    def query(self, sql: str, db: Path | None = None) -> list[tuple[Any, ...]]:
        """Rows from a recording; while its gateway runs, the gateway answers the query."""
        argv = [*recorder_cli(), "query", "--db", str(db or self.front_db), sql, "--format", "json"]
        out = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True)
        return [tuple(r.values()) for r in json.loads(out.stdout)]

    def runs(self) -> dict[str, list[tuple[str, Any]]]:
        """Each exchange's CLI run as recorded (its upstream leg): (event, data) in order, from
        the events of a stream or the body of an answer that was not streamed."""
        out: dict[str, list[tuple[str, Any]]] = {}
        for ex, event, data in self.query(
            "select exchange_id, event, data from events where leg = 'upstream' "
            "order by exchange_id, seq"
        ):
            out.setdefault(ex, []).append((event, json.loads(data)))
        for ex, body in self.query(
            "select id, upstream_response_body from exchanges where upstream_dialect = "
            "'claude_cli' and not stream"
        ):
            doc = body if isinstance(body, dict) else json.loads(body)
            out[ex] = [(e["event"], json.loads(e["data"])) for e in doc["events"]]
        return out

    def cli_processes(self) -> list[int]:
        """Live processes whose working directory is one of the CLI sessions'."""
        root = str(self.tmp / "sessions")
        pids = []
        for p in Path("/proc").iterdir():
            if not p.name.isdigit():
                continue
            try:
                if os.readlink(p / "cwd").startswith(root):
                    state = (p / "stat").read_text().rsplit(")", 1)[1].split()[0]
                    if state != "Z":
                        pids.append(int(p.name))
            except OSError:
                continue
        return pids


def _login(home: Path) -> None:
    """What ``claude /login`` leaves behind, with a fake token (expiring far in the future)."""
    (home / ".claude").mkdir(parents=True, exist_ok=True)
    creds = {
        "claudeAiOauth": {
            "accessToken": OAUTH_TOKEN,
            "refreshToken": REFRESH_TOKEN,
            "expiresAt": 4102444800000,
            "scopes": ["user:inference", "user:profile"],
            "subscriptionType": "pro",
        }
    }
    path = home / ".claude" / ".credentials.json"
    path.write_text(json.dumps(creds))
    path.chmod(0o600)


@pytest.fixture
def cli_stack(
    claude_bin: Path,
    tmp_path: Path,
    fake_upstream: ScriptedUpstream,
    start_gateway: GatewayFactory,
    egress: EgressGuard,
    mitm_confdir: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> Iterator[CliStack]:
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)  # the CLI must use the login in HOME only
    back = start_gateway(fake_upstream.url, "anthropic", db=tmp_path / "back.duckdb")
    home = tmp_path / "home"
    _login(home)
    port = free_port()
    db = tmp_path / "front.duckdb"
    extra: list[str] = getattr(request, "param", [])
    argv = [
        MITMDUMP, "-s", GATEWAY_ADDON, "-p", str(port), "--listen-host", "127.0.0.1",
        "--set", f"confdir={mitm_confdir}",
        "--set", "gateway_upstream=claude-cli",
        "--set", f"claude_cli_path={claude_bin}",
        "--set", f"claude_cli_workdir={tmp_path / 'sessions'}",
        "--set", f"gateway_key={KEY}",
        "--set", f"recorder_db={db}",
        "--set", "gateway_retries=0",
        *extra,
    ]  # fmt: skip
    env = {"HOME": str(home), "ANTHROPIC_BASE_URL": back.url, **QUIET_ENV, **egress.env()}

    def start_front(n: int = 0) -> Service:
        name = f"front-{port}" + (f"-{n}" if n else "")
        return start_service(name, argv, port=port, log_dir=tmp_path, cwd=tmp_path, env=env)

    starts = iter(range(1, 100))
    stack = CliStack(
        fake_upstream, back, start_front(), db, tmp_path, lambda: start_front(next(starts))
    )
    try:
        yield stack
    finally:
        stack.front.stop()
        # Logged in with OAuth, the CLI sometimes fetches account data from api.anthropic.com
        # in the background; the guard refused it and the turns went on (docs/claude-cli.md).
        egress.allow("api.anthropic.com:443")


def test_sdks_and_curl_are_answered_by_the_cli(cli_stack: CliStack) -> None:
    oa = cli_stack.openai()
    done = oa.chat.completions.create(model="sonnet", messages=[{"role": "user", "content": "hi"}])
    assert done.choices[0].message.content == FAKE_TEXT
    assert done.choices[0].finish_reason == "stop" and done.usage is not None
    chunks = list(
        oa.chat.completions.create(
            model="sonnet",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finish = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert text == FAKE_TEXT and finish == ["stop"] and chunks[-1].usage is not None
    with cli_stack.anthropic().messages.stream(
        model="claude-sonnet-5", max_tokens=100, messages=[{"role": "user", "content": "hi"}]
    ) as s:
        message = s.get_final_message()
    assert message.content[0].text == FAKE_TEXT and message.stop_reason == "end_turn"  # type: ignore[union-attr]
    curl = subprocess.run(
        [
            "curl", "-sS", "--noproxy", "*", f"{cli_stack.url}/v1/chat/completions",
            "-H", f"authorization: Bearer {KEY}", "-H", "content-type: application/json",
            "-d", json.dumps({"model": "haiku", "messages": [{"role": "user", "content": "hi"}]}),
        ],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert json.loads(curl.stdout)["choices"][0]["message"]["content"] == FAKE_TEXT
    models = [m.id for m in oa.models.list()]
    assert "sonnet" in models and "haiku" in models
    # the CLI really went upstream with the subscription's token, once per answer
    turns = cli_stack.fake.model_turns()
    assert len(turns) == 4
    assert all(t.headers.get("authorization") == f"Bearer {OAUTH_TOKEN}" for t in turns)
    assert turns[-1].json()["model"] == "claude-haiku-4-5-20251001"


def test_a_responses_client_is_answered_by_the_cli(cli_stack: CliStack) -> None:
    oa = cli_stack.openai()
    done = oa.responses.create(model="sonnet", input="hi")
    assert done.status == "completed" and done.output_text == FAKE_TEXT
    assert done.usage is not None and done.usage.output_tokens > 0
    events = list(oa.responses.create(model="sonnet", input="hi", stream=True))
    assert events[-1].type == "response.completed"
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert "".join(deltas) == FAKE_TEXT
    assert len(cli_stack.fake.model_turns()) == 2  # one CLI run, one model call, each


def test_two_turns_resume_one_cli_session(cli_stack: CliStack) -> None:
    oa = cli_stack.openai()
    history: list[Any] = [{"role": "system", "content": "Be terse."}]
    history.append({"role": "user", "content": "first question"})
    first = oa.chat.completions.create(model="sonnet", messages=history)
    history += [
        {"role": "assistant", "content": first.choices[0].message.content},
        {"role": "user", "content": "second question"},
    ]
    second = oa.chat.completions.create(model="sonnet", messages=history, stream=False)
    assert second.choices[0].message.content == FAKE_TEXT
    # what the CLI sent Anthropic for turn 2 carries turn 1
    body = cli_stack.fake.model_turns()[-1].json()
    said = [
        (
            m["role"],
            "".join(b.get("text", "") for b in m["content"] if "system-" not in b.get("text", "")),
        )
        if isinstance(m["content"], list)
        else (m["role"], m["content"])
        for m in body["messages"]
    ]
    assert said == [
        ("user", "first question"),
        ("assistant", FAKE_TEXT),
        ("user", "second question"),
    ]
    assert body["system"][-1]["text"] == "Be terse."
    # the second run resumed the first one's session, and was given only the new turn
    runs = cli_stack.runs()
    new, resumed = sorted(runs.values(), key=lambda run: run[0][1]["session"]["resume"])
    invocation = resumed[0][1]
    assert (
        invocation["session"]["resume"]
        and invocation["session"]["id"] == new[0][1]["session"]["id"]
    )
    assert "--resume" in invocation["argv"]
    users = [d for e, d in resumed if e == "stdin" and d.get("type") == "user"]
    assert len(users) == 1 and users[0]["message"]["content"][0]["text"] == "second question"
    # the map is in the recording: a restarted gateway resumes the conversation, streaming
    cli_stack.restart()
    history += [
        {"role": "assistant", "content": FAKE_TEXT},
        {"role": "user", "content": "third question"},
    ]
    chunks = list(cli_stack.openai().chat.completions.create(
        model="sonnet", messages=history, stream=True
    ))  # fmt: skip
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == FAKE_TEXT
    third = [run for run in cli_stack.runs().values() if run[0][1]["session"]["resume"]]
    ids = {run[0][1]["session"]["id"] for run in runs.values()}
    assert len(third) == 2 and {run[0][1]["session"]["id"] for run in third} == ids
    said = [d for run in third for e, d in run if e == "stdin" and d.get("type") == "user"]
    assert sorted(d["message"]["content"][0]["text"] for d in said) == [
        "second question", "third question",
    ]  # only the new turn, each time  # fmt: skip
    assert len(cli_stack.fake.model_turns()[-1].json()["messages"]) == 5
    # the stream's client asked for no usage; the recording has it, the CLI's cost and session
    [(usage, extra)] = cli_stack.query(
        "select output_tokens, extra from exchanges where stream order by started_at desc limit 1"
    )
    extra = extra if isinstance(extra, dict) else json.loads(extra)
    assert usage and extra["cost_usd"] > 0 and extra["backend_session"]["id"] in ids
    [(sessions,)] = cli_stack.query("select backend_sessions from sessions")
    assert sessions == sorted(ids)
    # a conversation no one knows is seeded with its history, and answered
    seeded = cli_stack.openai().chat.completions.create(
        model="sonnet",
        messages=[
            {"role": "user", "content": "an old question"},
            {"role": "assistant", "content": "an old answer"},
            {"role": "user", "content": "a new question"},
        ],
    )
    assert seeded.choices[0].message.content == FAKE_TEXT
    assert len(cli_stack.fake.model_turns()[-1].json()["messages"]) == 3


@pytest.mark.parametrize(
    "cli_stack",
    [["--set", "claude_cli_max_concurrency=1", "--set", "claude_cli_queue_timeout=0"]],
    indirect=True,
)
def test_beyond_the_concurrency_limit_a_429(cli_stack: CliStack) -> None:
    import threading

    cli_stack.fake.script("slow:4000")
    oa = cli_stack.openai()
    first: list[Any] = []
    t = threading.Thread(
        target=lambda: first.append(
            oa.chat.completions.create(model="sonnet", messages=[{"role": "user", "content": "a"}])
        )
    )
    t.start()
    deadline = time.monotonic() + 30
    while not cli_stack.cli_processes() and time.monotonic() < deadline:
        time.sleep(0.05)
    with pytest.raises(openai.RateLimitError) as e:
        oa.chat.completions.create(model="sonnet", messages=[{"role": "user", "content": "b"}])
    assert int(e.value.response.headers["retry-after"]) >= 1
    assert "claude_cli_max_concurrency" in e.value.message
    t.join(60)
    assert first and first[0].choices[0].message.content == FAKE_TEXT


def test_a_client_that_goes_away_kills_the_cli(cli_stack: CliStack) -> None:
    cli_stack.fake.script("events:200+gap:50")  # a long answer, ten seconds
    oa = cli_stack.openai()
    stream = oa.chat.completions.create(
        model="sonnet", messages=[{"role": "user", "content": "q"}], stream=True
    )
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            break
    assert cli_stack.cli_processes()  # it is answering
    stream.close()
    deadline = time.monotonic() + 15
    while cli_stack.cli_processes() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not cli_stack.cli_processes()


def test_529_behind_the_cli_reaches_the_client(cli_stack: CliStack) -> None:
    cli_stack.fake.script("error:529")
    with pytest.raises(anthropic.APIStatusError) as e:
        cli_stack.anthropic().messages.create(
            model="sonnet", max_tokens=10, messages=[{"role": "user", "content": "q"}]
        )
    assert e.value.status_code == 529
    assert e.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]
    # OpenAI's dialect has no 529: overloaded is its 503, as for any Anthropic upstream's 529
    cli_stack.fake.script("error:529")
    with pytest.raises(openai.InternalServerError) as oe:
        cli_stack.openai().chat.completions.create(
            model="sonnet", messages=[{"role": "user", "content": "q"}]
        )
    assert oe.value.status_code == 503 and "529" in oe.value.message


def test_no_claude_credential_in_recordings_or_logs(cli_stack: CliStack) -> None:
    oa = cli_stack.openai()
    oa.chat.completions.create(model="sonnet", messages=[{"role": "user", "content": "hi"}])
    front = cli_stack.query("select * from exchanges")
    front_events = cli_stack.query("select * from events")
    back = cli_stack.query("select * from exchanges", cli_stack.back.db)
    assert front and back
    seen = json.dumps([front, front_events, back], default=str)
    for secret in SECRETS:
        assert secret not in seen
    assert "[redacted]" in json.dumps(back, default=str)  # the back leg had the token, redacted
    for log in cli_stack.tmp.glob("*.log"):
        text = log.read_text(errors="replace")
        for secret in SECRETS:
            assert secret not in text, f"{secret[:12]}... in {log.name}"


def test_a_cassette_of_cli_runs_replays_without_the_cli(
    cli_stack: CliStack, start_gateway: GatewayFactory, tmp_path: Path
) -> None:
    oa = cli_stack.openai()
    messages = [{"role": "user", "content": "hi"}]
    live = oa.chat.completions.create(model="sonnet", messages=messages, stream=True)
    live_text = "".join(c.choices[0].delta.content or "" for c in live if c.choices)
    [(session,)] = cli_stack.query("select distinct session_id from exchanges")
    cli_stack.front.stop()  # the recording is complete once its gateway stops
    cassette = tmp_path / "cassette"
    subprocess.run(
        [*recorder_cli(), "export", "--db", str(cli_stack.front_db), "--session", session,
         str(cassette)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    doc = json.loads((cassette / "cassette.json").read_text())
    assert {it["upstream_dialect"] for it in doc["interactions"]} == {"claude_cli"}
    replay = start_gateway(
        str(cassette), "", extra=["--set", f"claude_cli_path={tmp_path / 'none'}"]
    )
    again = openai.OpenAI(base_url=replay.url + "/v1", api_key="x", max_retries=0)
    chunks = list(again.chat.completions.create(model="sonnet", messages=messages, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == live_text
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
