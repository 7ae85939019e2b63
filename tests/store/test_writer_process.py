"""The gateway's writer process: same results as the in-process writer, loud failures, and
durable when the gateway is killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

from recorder.store import StoreError, load_exchanges, query
from recorder.store.query_server import sidecar_path
from recorder.store.writer_process import WriterProcess
from tests.store import samples

REPO = Path(__file__).resolve().parents[2]


def test_put_flush_close_stores_every_exchange_as_is(tmp_path):
    db = tmp_path / "w.duckdb"
    w = WriterProcess(db).start()
    try:
        assert sidecar_path(db).exists()  # `recorder query` works while it runs
        for i in range(30):
            w.put(samples.streaming(id=f"s{i}"))
        w.put(samples.failed())
        assert w.flush() and w.written == 31
        live = query(db, "SELECT count(*) FROM exchanges").rows
        assert live == [[31]]
    finally:
        w.close()
    assert not sidecar_path(db).exists()
    got = {ex.id: ex for ex in load_exchanges(db)}
    assert got["s7"] == samples.streaming(id="s7")
    assert got["ex-failed"] == samples.failed()


def test_a_file_it_cannot_open_fails_at_start(tmp_path):
    db = tmp_path / "held.duckdb"
    holder = duckdb.connect(str(db))  # another connection in this process: still a lock
    try:
        other = WriterProcess(db)
        with pytest.raises(StoreError):
            other.start()
    finally:
        holder.close()


def test_a_dead_writer_is_reported_and_refuses_puts(tmp_path):
    errors: list[BaseException] = []
    w = WriterProcess(tmp_path / "d.duckdb", on_error=errors.append).start()
    assert w._proc is not None
    w._proc.kill()
    deadline = time.monotonic() + 10
    while w.failed is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert isinstance(w.failed, StoreError) and errors == [w.failed]
    with pytest.raises(StoreError):
        w.put(samples.plain())
    assert not w.flush()
    w.close()


GATEWAY = textwrap.dedent(
    """
    import sys
    from recorder.store.writer_process import WriterProcess
    from tests.store import samples
    w = WriterProcess(sys.argv[1]).start()
    for i in range(200):
        w.put(samples.streaming(id=f"k{i}"))
    w.flush()
    print("flushed", w.written, flush=True)
    for i in range(200, 400):
        w.put(samples.streaming(id=f"k{i}"))
    import time; time.sleep(0.3)  # handed over, maybe not yet committed
    print("handed", flush=True)
    time.sleep(60)
    """
)


def test_kill_9_of_the_gateway_keeps_everything_it_handed_over(tmp_path):
    db = tmp_path / "k.duckdb"
    gw = subprocess.Popen(
        [sys.executable, "-c", GATEWAY, str(db)], stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    assert gw.stdout is not None
    assert gw.stdout.readline().split() == ["flushed", "200"]
    assert gw.stdout.readline().strip() == "handed"
    os.kill(gw.pid, signal.SIGKILL)
    gw.wait()
    deadline = time.monotonic() + 20  # the writer sees its pipe end, commits, closes, leaves
    while sidecar_path(db).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not sidecar_path(db).exists()
    assert query(db, "SELECT count(*) FROM exchanges").rows == [[400]]
    assert query(db, "SELECT count(*) FROM events").rows == [[400 * 15]]


def test_a_writer_that_cannot_keep_up_fails_loudly_instead_of_growing_the_proxy(tmp_path):
    db = tmp_path / "slow.duckdb"
    errors: list[BaseException] = []
    w = WriterProcess(db, on_error=errors.append, max_backlog=64 << 10).start()
    assert w._proc is not None
    os.kill(w._proc.pid, signal.SIGSTOP)  # a stalled disk, as the gateway sees it
    try:
        put = 0
        with pytest.raises(StoreError, match="cannot keep up"):
            for i in range(100_000):
                w.put(samples.streaming(id=f"p{i}"))
                put += 1
        assert errors and "behind" in str(errors[0])
    finally:
        os.kill(w._proc.pid, signal.SIGCONT)
    w.close()
    stored = query(db, "SELECT count(*), count(DISTINCT id) FROM exchanges").rows[0]
    assert 0 < stored[0] <= put and stored[0] == stored[1]
    events = query(db, "SELECT count(*) FROM events").rows[0][0]
    assert events == stored[0] * 15  # every stored exchange is whole: no frame was cut
