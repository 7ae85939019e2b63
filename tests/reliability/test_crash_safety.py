"""Crash safety: ``kill -9`` of the gateway at a random point under streaming load, again and
again on one database (twice in CI, 20 times with TAPEGATE_LONG=1). After every kill the database
opens, and it holds every exchange a client saw complete more than one flush interval before the
kill (the writer process sees its pipe end, commits what crossed it, and leaves)."""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path

import pytest

from fakes.procs import Service
from tests.reliability import gateway
from tests.reliability.conftest import REPORT
from tests.reliability.fuzzing import LONG, SEED
from tests.reliability.load import Done, Runner
from tests.reliability.test_soak import upstream  # noqa: F401  (the fixture)

pytestmark = pytest.mark.e2e

KILLS = int(os.environ.get("TAPEGATE_KILLS") or (20 if LONG else 2))
CLIENTS = 8
FLUSH_MS = 50  # recorder_flush_ms (the default)
WRITER_GONE = 60.0  # seconds the orphaned writer may take to commit and leave


def _wait_gone(pids: list[int], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = [p for p in pids if Path(f"/proc/{p}").exists() and not _zombie(p)]
        if not alive:
            return True
        time.sleep(0.05)
    return False


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except OSError:
        return False


def test_kill_9_at_random_points(upstream: Service, tmp_path: Path) -> None:  # noqa: F811
    rng = random.Random(SEED)
    db = tmp_path / "crash.duckdb"
    expected: list[Done] = []  # completed long enough before a kill: must be in the database
    completed = 0
    for n in range(KILLS):
        g = gateway.start(
            tmp_path / f"run{n}",
            [
                f"gateway_upstream={upstream.url}",
                "gateway_upstream_api=openai",
                "gateway_retries=0",
                f"recorder_flush_ms={FLUSH_MS}",
            ],  # fmt: skip
            db=db,
        )
        runner = Runner(g.url, CLIENTS, f"crash{n}")
        time.sleep(rng.uniform(0.3, 3.0))  # a random point of the load
        writers = g.pids()[1:]
        runner.halt()
        t_kill = time.monotonic()
        os.kill(g.svc.proc.pid, signal.SIGKILL)
        g.svc.proc.wait()
        load = runner.stop()
        completed += len(load.done)
        assert not load.failed, load.failed[:5]
        expected += [d for d in load.done if d.finished < t_kill - FLUSH_MS / 1000]
        assert _wait_gone(writers, WRITER_GONE), (
            f"the writer outlived the gateway by {WRITER_GONE} s"
        )
        # the database opens (no gateway holds it now) and holds every expected exchange
        rows = gateway.query(db, "select model_requested from exchanges")
        have = {r["model_requested"] for r in rows}
        missing = [d.model for d in expected if d.model not in have]
        assert not missing, f"kill {n + 1}: {len(missing)} completed exchanges lost: {missing[:5]}"
    REPORT["crash_safety"] = {
        "kills": KILLS,
        "exchanges_completed": completed,
        "completed_before_kill_minus_flush": len(expected),
        "lost": 0,
        "database_opened": KILLS,
    }
    assert expected, "no exchange completed before a kill: the load did not run"
