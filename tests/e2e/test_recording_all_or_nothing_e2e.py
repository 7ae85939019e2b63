"""Recording is all or nothing (issue 11): the real gateway with its recorder on, against the
fake upstream, driven with raw HTTP.

* No single request can stop the recorder: a body nested 10,000 levels deep (a 400 naming the
  limit) or a model name holding a lone surrogate escape is recorded, and so is everything
  after it.
* A writer process killed with ``kill -9`` is restarted: every later exchange is recorded.
* Killed a second time, recording has failed for good: every later request gets a 503 in its
  own dialect, with ``x-should-retry: false``, and the upstream never sees it, although the
  gateway retries 5xx answers by default.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fakes.procs import Service
from fakes.upstream import FakeUpstream
from tests.e2e.test_recording_e2e import _recording_gateway, query

pytestmark = pytest.mark.e2e

OK = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
DEEP = (
    b'{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}],"metadata":{"x":'
    + b"[" * 10_000
    + b"]" * 10_000
    + b"}}"
)
SURROGATE = b'{"model":"\\udfff","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}'


@pytest.fixture
def gw(fake: FakeUpstream, tmp_path: Path) -> Iterator[tuple[Service, Path]]:
    db = tmp_path / "all-or-nothing.duckdb"
    svc = _recording_gateway(fake, db)  # default retries: 503s would be retried upstream
    yield svc, db
    svc.stop()


def _post(
    svc: Service, body: bytes | dict[str, object], path: str = "/v1/messages"
) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"content-type": "application/json", "x-api-key": "k"}
    return httpx.post(f"{svc.url}{path}", content=content, headers=headers, timeout=30)


def _writer_pid(db: Path, other_than: int | None = None, timeout: float = 30.0) -> int:
    sidecar = Path(str(db) + ".tapegate.json")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            pid = int(json.loads(sidecar.read_text())["pid"])
        except (OSError, ValueError, KeyError):
            pid = None
        if pid is not None and pid != other_than:
            return pid
        time.sleep(0.05)
    raise AssertionError("no (new) writer process")


def _count(db: Path) -> int:
    return int(query(db, "select count(*) n from exchanges")[0]["n"])


def test_no_request_stops_the_recorder(gw: tuple[Service, Path]) -> None:
    svc, db = gw
    deep, odd = _post(svc, DEEP), _post(svc, SURROGATE)
    assert deep.status_code == 400, deep.text[:300]  # not a 500: the client's mistake, named
    err = deep.json()["error"]
    assert err["type"] == "invalid_request_error" and "gateway_max_json_depth" in err["message"]
    assert odd.status_code == 200, odd.text[:300]
    after = _post(svc, OK)
    assert after.status_code == 200
    rows = query(db, "select model_requested, status, error from exchanges order by started_at")
    assert len(rows) == 3, rows
    assert rows[1]["model_requested"] == "\ufffd"  # stored, its lone surrogate replaced
    assert rows[2]["status"] == 200 and rows[2]["error"] is None


def test_a_killed_writer_is_restarted_then_a_dead_one_refuses_traffic(
    gw: tuple[Service, Path], fake: FakeUpstream
) -> None:
    svc, db = gw
    assert _post(svc, OK).status_code == 200
    first = _writer_pid(db)
    os.kill(first, signal.SIGKILL)
    for _ in range(5):  # while it restarts, and after: served and recorded
        assert _post(svc, OK).status_code == 200
    second = _writer_pid(db, other_than=first)
    assert _count(db) == 6

    os.kill(second, signal.SIGKILL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # the gateway notices the second death
        r = _post(svc, OK)
        if r.status_code == 503:
            break
        time.sleep(0.1)
    seen = len(fake.requests)
    for path, body in (("/v1/messages", OK), ("/v1/chat/completions", {**OK, "stream": True})):
        r = _post(svc, body, path)
        assert r.status_code == 503 and r.headers["x-should-retry"] == "false"
        err = r.json()
        if path == "/v1/messages":
            assert err["type"] == "error" and "not recording" in err["error"]["message"]
        else:
            assert "not recording" in err["error"]["message"]
    assert len(fake.requests) == seen  # neither forwarded nor retried
