"""Recording end to end: the real gateway with its recorder on, driven by the official SDKs.

One gateway process per module records into a temp DuckDB file. While it runs, ``recorder
query`` is answered by the gateway itself (the file is locked); after a clean stop the file is
opened directly. Checked: both legs of a translated stream, usage and stop reason, an upstream
error, a client that hangs up mid-stream (partial events kept), a request refused by the
gateway's own auth, and that no key ever reaches the file.
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
import pytest

from fakes.procs import BIN, Service, free_port, start_service
from fakes.upstream import FakeUpstream
from tests.e2e.conftest import GATEWAY_ADDON

pytestmark = pytest.mark.e2e

GATEWAY_KEY = "gw-key-5a1f0c33d2"
UPSTREAM_KEY = "sk-upstream-9d8e7f6a5b4c"
TOOLS = [{"name": "get_weather", "description": "w", "input_schema": {"type": "object"}}]
MSG = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("rec") / "traffic.duckdb"


@pytest.fixture(scope="module")
def gw(fake: FakeUpstream, db: Path) -> Iterator[Service]:
    port = free_port()
    argv = [
        str(BIN / "mitmdump"), "-q", "-s", str(GATEWAY_ADDON), "-p", str(port),
        "--listen-host", "127.0.0.1",
        "--set", f"gateway_upstream={fake.url}/v1",
        "--set", "gateway_upstream_api=openai",
        "--set", "gateway_upstream_key_env=TAPEGATE_TEST_UPSTREAM_KEY",
        "--set", f"gateway_key={GATEWAY_KEY}",
        "--set", "gateway_retries=0",
        "--set", f"recorder_db={db}",
    ]  # fmt: skip
    svc = start_service(
        "gateway", argv, port=port, log_dir=db.parent,
        env={"TAPEGATE_TEST_UPSTREAM_KEY": UPSTREAM_KEY},
    )  # fmt: skip
    yield svc
    svc.stop()


def query(db: Path, sql: str) -> list[dict[str, Any]]:
    out = subprocess.run(
        [str(BIN / "recorder"), "query", sql, "--db", str(db), "--format", "json"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    rows: list[dict[str, Any]] = json.loads(out.stdout)
    return rows


def wait_rows(db: Path, sql: str, n: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        rows = query(db, sql)
        if len(rows) >= n or time.monotonic() > deadline:
            return rows
        time.sleep(0.1)


def client(gw: Service, mode: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        base_url=gw.url, api_key=GATEWAY_KEY, max_retries=0, default_headers={"x-fake-mode": mode}
    )


def test_recording_while_running_and_after(gw: Service, fake: FakeUpstream, db: Path) -> None:
    # 1. a translated stream with a tool call
    with client(gw, "tool").messages.stream(
        model="claude-sonnet-5", max_tokens=50, messages=MSG, tools=TOOLS
    ) as s:
        msg = s.get_final_message()
    assert msg.stop_reason == "tool_use"

    # 2. an upstream error
    with pytest.raises(anthropic.RateLimitError):
        client(gw, "error:429").messages.create(model="claude-sonnet-5", max_tokens=5, messages=MSG)

    # 3. a client that hangs up after a few events of a long stream
    body = {"model": "claude-sonnet-5", "max_tokens": 5, "stream": True, "messages": MSG}
    headers = {"x-api-key": GATEWAY_KEY, "x-fake-mode": "events:400+gap:5"}
    with httpx.stream("POST", f"{gw.url}/v1/messages", json=body, headers=headers) as r:
        for i, _ in enumerate(r.iter_lines()):
            if i > 10:
                break

    # 4. refused by the gateway's own auth
    bad = httpx.post(f"{gw.url}/v1/messages", json=body, headers={"x-api-key": "bad-key-77f3e1"})
    assert bad.status_code == 401

    # While the gateway holds the file, the query goes through the gateway itself.
    rows = wait_rows(db, "select * from exchanges order by started_at", 4)
    assert len(rows) == 4, rows
    ok, err, hung, refused = rows
    assert (ok["client_dialect"], ok["upstream_dialect"]) == ("anthropic", "openai")
    assert ok["stream"] and ok["status"] == 200 and ok["stop_reason"] == "tool_use"
    assert ok["output_tokens"] and ok["output_tokens"] > 0
    legs = query(
        db, f"select leg, count(*) n from events where exchange_id = '{ok['id']}' group by leg"
    )
    assert {r["leg"] for r in legs} == {"client", "upstream"}
    assert err["status"] == 429 and err["upstream_status"] == 429
    assert refused["status"] == 401

    # The hang-up is recorded once the gateway notices it, with the events that did pass.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        hung = query(db, f"select * from exchanges where id = '{hung['id']}'")[0]
        if hung["error"]:
            break
        time.sleep(0.2)
    assert hung["error"], hung
    partial = query(
        db, f"select count(*) n from events where exchange_id = '{hung['id']}' and leg = 'client'"
    )
    assert 0 < partial[0]["n"] < 400

    # After a clean stop the file opens directly and holds no secret.
    gw.stop()
    direct = query(db, "select count(*) n from exchanges")
    assert direct[0]["n"] == 4
    raw = b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*") if p.is_file())
    for secret in (GATEWAY_KEY, UPSTREAM_KEY, "bad-key-77f3e1"):
        assert secret.encode() not in raw, secret
    # ... and the upstream really received the key the gateway holds, converted to Bearer
    assert any(r.headers.get("authorization") == f"Bearer {UPSTREAM_KEY}" for r in fake.requests)


def test_kill_9_of_the_gateway_keeps_every_exchange_it_finished(
    fake: FakeUpstream, tmp_path: Path
) -> None:
    """The writer process outlives a SIGKILLed gateway just long enough to commit what it was
    handed, then leaves (no orphan, no lock, no sidecar)."""
    db = tmp_path / "killed.duckdb"
    svc = _recording_gateway(fake, db)
    try:
        anth = anthropic.Anthropic(base_url=svc.url, api_key="k", max_retries=0,
                                   default_headers={"x-fake-mode": "events:30"})  # fmt: skip
        for _ in range(20):
            with anth.messages.stream(model="m", max_tokens=5, messages=MSG) as s:
                assert s.get_final_message().stop_reason == "end_turn"
        sidecar = Path(str(db) + ".tapegate.json")
        writer_pid = json.loads(sidecar.read_text())["pid"]
        svc.proc.kill()  # SIGKILL, the gateway alone (not its process group)
        svc.proc.wait(10)
        deadline = time.monotonic() + 20
        while sidecar.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not sidecar.exists()
        assert _exited(writer_pid)
    finally:
        svc.stop()
    rows = query(db, "select id, stop_reason, output_tokens from exchanges")
    assert len(rows) == 20 and {r["stop_reason"] for r in rows} == {"end_turn"}
    legs = query(db, "select leg, count(*) n from events group by leg order by leg")
    assert [r["leg"] for r in legs] == ["client", "upstream"]


def _exited(pid: int, timeout: float = 5.0) -> bool:
    """Gone, or a zombie: orphaned, it is reaped by whatever init the machine runs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state == "Z":
            return True
        time.sleep(0.05)
    return False


def test_a_stream_that_succeeds_on_a_retry_is_recorded_like_any_stream(
    fake: FakeUpstream, tmp_path: Path
) -> None:
    """The gateway writes a retried stream to the client itself (so that it streams), then kills
    the flow so mitmproxy adds nothing: the record must not take that kill for a failure."""
    db = tmp_path / "retried.duckdb"
    svc = _recording_gateway(fake, db, "gateway_retries=2", "gateway_retry_backoff=0.01")
    try:
        fake.script("error:503", "events:8")
        anth = anthropic.Anthropic(base_url=svc.url, api_key="k", max_retries=0)
        with anth.messages.stream(model="m", max_tokens=5, messages=MSG) as s:
            assert s.get_final_message().stop_reason == "end_turn"
    finally:
        svc.stop()
    [row] = query(db, "select id, status, error, stop_reason, extra from exchanges")
    assert (row["status"], row["error"], row["stop_reason"]) == (200, None, "end_turn")
    assert row["extra"]["attempts"] == 2  # JSON columns come back as JSON
    legs = query(db, "select leg, count(*) n from events group by leg order by leg")
    assert [r["leg"] for r in legs] == ["client", "upstream"] and legs[1]["n"] >= 8


def _recording_gateway(fake: FakeUpstream, db: Path, *sets: str) -> Service:
    """A gateway of its own (translating to the fake's OpenAI dialect) recording into ``db``."""
    port = free_port()
    argv = [
        str(BIN / "mitmdump"), "-q", "-s", str(GATEWAY_ADDON), "-p", str(port),
        "--listen-host", "127.0.0.1", "--set", f"gateway_upstream={fake.url}/v1",
        "--set", "gateway_upstream_api=openai", "--set", f"recorder_db={db}",
    ]  # fmt: skip
    for s in sets:
        argv += ["--set", s]
    return start_service(db.stem, argv, port=port, log_dir=db.parent)
