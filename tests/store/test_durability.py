"""A writer in another process: kill -9 keeps every committed batch; a clean close keeps all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import duckdb

CHILD = textwrap.dedent(
    """
    import sys, time
    from recorder.store import StoreWriter
    from tests.store import samples
    path, mode = sys.argv[1], sys.argv[2]
    w = StoreWriter(path, flush_interval=0.05).start()
    print("ready", flush=True)
    n = 0
    while True:
        for _ in range(20):
            w.put(samples.streaming(id=f"ex{n}"))
            n += 1
        if mode == "clean" and n >= 400:
            w.close()
            print("closed", n, flush=True)
            break
        print("written", w.written, flush=True)
        time.sleep(0.005)
    """
)


def _spawn(db, mode: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(db), mode],
        stdout=subprocess.PIPE,
        text=True,
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))),
    )


def _count(db) -> tuple[int, int]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        ex = con.execute("SELECT count(*) FROM exchanges").fetchone()
        ev = con.execute("SELECT count(*) FROM events").fetchone()
    finally:
        con.close()
    assert ex is not None and ev is not None
    return ex[0], ev[0]


def test_kill_9_keeps_every_committed_batch(tmp_path):
    db = tmp_path / "k.duckdb"
    child = _spawn(db, "forever")
    assert child.stdout is not None
    last = 0
    deadline = time.monotonic() + 10
    for line in child.stdout:
        if line.startswith("written"):
            last = int(line.split()[1])
        if last >= 300 or time.monotonic() > deadline:
            break
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert last >= 300
    exchanges, events = _count(db)
    assert exchanges >= last  # nothing committed is lost
    assert events == exchanges * 15  # batches are atomic: no exchange without its events


def test_clean_close_keeps_everything(tmp_path):
    db = tmp_path / "c.duckdb"
    child = _spawn(db, "clean")
    out, _ = child.communicate(timeout=30)
    assert child.returncode == 0
    assert "closed 400" in out
    assert _count(db) == (400, 400 * 15)
