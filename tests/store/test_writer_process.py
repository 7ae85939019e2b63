"""The gateway's writer process: same results as the in-process writer, loud failures, and
durable when the gateway is killed."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import duckdb
import pytest

from recorder.exchange import Exchange
from recorder.store import StoreError, load_exchanges, query, writer_process
from recorder.store.handoff import pack
from recorder.store.query_server import sidecar_path
from recorder.store.writer_process import EXCHANGE, WriterProcess, frame
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
        with pytest.raises(StoreError) as caught:
            other.start()
        # One line that names the holder and the way out, not DuckDB's paragraph.
        message = str(caught.value)
        assert f"process {os.getpid()} has it open" in message
        assert "recorder_db=" in message and "\n" not in message
    finally:
        holder.close()


def _wait(cond, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while not cond() and time.monotonic() < deadline:
        time.sleep(0.02)
    return bool(cond())


def test_a_writer_killed_with_9_is_restarted_and_loses_nothing(tmp_path):
    db = tmp_path / "r.duckdb"
    restarts: list[str] = []
    w = WriterProcess(db, on_restart=restarts.append).start()
    try:
        for i in range(100):
            w.put(samples.streaming(id=f"a{i}"))
        assert w.flush()
        first = w._proc
        assert first is not None
        os.kill(first.pid, signal.SIGSTOP)  # these wait in the pipe, handed over, uncommitted
        for i in range(100):
            w.put(samples.streaming(id=f"b{i}"))
        os.kill(first.pid, signal.SIGKILL)
        for i in range(100):  # while it restarts: queued, never refused
            w.put(samples.streaming(id=f"c{i}"))
            assert w.refusal() is None
        assert w.flush(timeout=60)
        assert w._proc is not first and w.restarts == 1 and w.failed is None
        assert restarts and "SIGKILL" in restarts[0]
    finally:
        w.close()
    rows = query(db, "SELECT count(*), count(DISTINCT id) FROM exchanges").rows
    assert rows == [[300, 300]]
    assert query(db, "SELECT count(*) FROM events").rows == [[300 * 15]]


def test_a_writer_that_dies_twice_is_reported_and_refuses_puts(tmp_path):
    errors: list[BaseException] = []
    w = WriterProcess(tmp_path / "d.duckdb", on_error=errors.append).start()
    first = w._proc
    assert first is not None
    first.kill()
    assert _wait(lambda: w._proc is not first and w.flush(timeout=1))
    assert w.failed is None
    w.put(samples.plain(id="between"))
    assert w._proc is not None
    w._proc.kill()
    assert _wait(lambda: w.failed is not None)
    assert isinstance(w.failed, StoreError) and errors == [w.failed]
    assert "SIGKILL" in str(w.failed)
    assert w.refusal() is not None and "failed" in str(w.refusal())
    with pytest.raises(StoreError):
        w.put(samples.plain())
    assert not w.flush()
    w.close()


def test_what_a_writer_dying_for_good_had_not_settled_is_named_not_dropped(tmp_path):
    # Issue 11, kill -9 of the writer twice under load: the exchanges handed to the second child
    # and not yet committed vanished without a word (answered 200, counted nowhere).
    errors: list[BaseException] = []
    w = WriterProcess(tmp_path / "u.duckdb", on_error=errors.append).start()
    try:
        first = w._proc
        assert first is not None
        first.kill()
        assert _wait(lambda: w._proc is not first and w.flush(timeout=1))
        w.put(samples.plain(id="stored"))
        assert w.flush()
        second = w._proc
        assert second is not None
        os.kill(second.pid, signal.SIGSTOP)  # handed over, never committed
        for i in range(3):
            w.put(samples.plain(id=f"in-flight-{i}"))
        os.kill(second.pid, signal.SIGKILL)
        assert _wait(lambda: w.failed is not None)
        assert errors == [w.failed]
        assert w.unconfirmed == ["in-flight-0", "in-flight-1", "in-flight-2"]
        assert w.written == 1
    finally:
        w.close()


def test_a_frame_it_cannot_read_is_counted_and_the_writer_goes_on(tmp_path):
    db = tmp_path / "f.duckdb"
    w = WriterProcess(db).start()
    try:
        w._send(frame(EXCHANGE, b"not marshal data"), exchange=True)
        w.put(samples.plain(id="after"))
        assert w.flush()
        assert _wait(lambda: w.skipped == 1)
        assert w.failed is None and w.written == 1
    finally:
        w.close()
    assert query(db, "SELECT id FROM exchanges").rows == [["after"]]


def test_no_single_exchange_kills_the_writer_process(tmp_path):
    db = tmp_path / "p.duckdb"
    w = WriterProcess(db).start()
    try:
        deep = samples.plain(id="deep")
        assert deep.client_request is not None
        deep.client_request.body = b'{"metadata":' + b"[" * 10_000 + b"]" * 10_000 + b"}"
        odd = samples.plain(id="odd")
        odd.model_requested = "\udfff"
        for ex in (deep, odd, samples.plain(id="after")):
            w.put(ex)
        assert w.flush() and w.written == 3 and w.restarts == 0 and w.failed is None
    finally:
        w.close()


GATEWAY = textwrap.dedent(
    """
    import sys
    from recorder.store.writer_process import EXCHANGE, WriterProcess, frame
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


def test_a_writer_that_cannot_keep_up_refuses_new_traffic_and_loses_nothing(tmp_path):
    db = tmp_path / "slow.duckdb"
    w = WriterProcess(db, max_backlog=64 << 10).start()
    assert w._proc is not None
    os.kill(w._proc.pid, signal.SIGSTOP)  # a stalled disk, as the gateway sees it
    try:
        put = 0
        while w.refusal() is None:
            w.put(samples.streaming(id=f"p{put}"))
            put += 1
        assert "behind" in str(w.refusal())
        w.put(samples.streaming(id=f"p{put}"))  # an exchange under way is still taken
        put += 1
    finally:
        os.kill(w._proc.pid, signal.SIGCONT)
    assert w.flush() and w.refusal() is None  # caught up: traffic is let through again
    w.close()
    assert w.failed is None
    stored = query(db, "SELECT count(*), count(DISTINCT id) FROM exchanges").rows[0]
    assert stored == [put, put]
    events = query(db, "SELECT count(*) FROM events").rows[0][0]
    assert events == put * 15


def test_a_restarted_writer_commits_the_large_exchanges_it_is_sent_again(tmp_path):
    # The incident of issue 11 in small: large exchanges under a small limit, the writer killed
    # with a WAL full of them and more in the pipe; the new one must commit all it is resent
    # (it used to answer each with "cannot rollback - no transaction is active", not recorded).
    db = tmp_path / "big.duckdb"
    w = WriterProcess(db, memory_limit="16MB").start()
    try:
        for i in range(4):
            w.put(samples.large(f"a{i}", 3 << 20))
        assert w.flush(timeout=60)
        first = w._proc
        assert first is not None
        os.kill(first.pid, signal.SIGSTOP)
        for i in range(4):
            w.put(samples.large(f"b{i}", 3 << 20))
        os.kill(first.pid, signal.SIGKILL)
        for i in range(2):
            w.put(samples.large(f"c{i}", 3 << 20))
        assert w.flush(timeout=60)
        assert (w.restarts, w.failed, w.skipped, w.unstorable) == (1, None, 0, 0)
    finally:
        w.close()
    rows = query(db, "SELECT count(*), count(DISTINCT id) FROM exchanges").rows
    assert rows == [[10, 10]]


def test_what_it_loads_before_it_says_ready_is_no_codec() -> None:
    """The gateway waits for its writer process until it holds the file: DuckDB and the store,
    not the codecs (pydantic models, ~0.4 s), which only the exchanges stored later need."""
    code = (
        "import sys, recorder.store.writer_process, recorder.store.writer, "
        "recorder.store.query_server; print(' '.join(sorted(sys.modules)))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, timeout=120, cwd=REPO).stdout.split()  # fmt: skip
    assert "duckdb" in loaded
    codecs = [m for m in loaded if m in ("recorder.dialects", "recorder.summary", "pydantic")]
    assert codecs == []


def test_the_child_is_started_before_the_modules_that_talk_to_it_load() -> None:
    """addons.prestart starts the child first thing: what starts it is the standard library."""
    code = "import sys, recorder.store.spawn; print(' '.join(sorted(sys.modules)))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, timeout=120, cwd=REPO).stdout.split()  # fmt: skip
    ours = {m for m in loaded if m.split(".")[0] in ("recorder", "addons", "duckdb")}
    assert ours == {"recorder", "recorder.store", "recorder.store.results", "recorder.store.spawn"}


def test_a_prestarted_writer_is_taken_by_the_next_writer_and_stores(tmp_path):
    from recorder.store import spawn

    spawn.prestart()
    warm = spawn._prestarted
    assert warm is not None
    spawn.prestart()  # one is enough
    assert spawn._prestarted is warm
    db = tmp_path / "warm.duckdb"
    w = WriterProcess(db).start()
    try:
        assert w._proc is warm and spawn._prestarted is None
        w.put(samples.streaming(id="s"))
        assert w.flush() and w.written == 1
    finally:
        w.close()
    assert [ex.id for ex in load_exchanges(db)] == ["s"]


def test_a_prestarted_writer_that_is_not_needed_goes_without_a_word(tmp_path):
    from recorder.store import spawn

    spawn.prestart()
    warm = spawn._prestarted
    assert warm is not None
    spawn.discard_prestarted()
    assert spawn._prestarted is None and warm.returncode is not None
    # Never given its settings (the gateway stopped while starting): it exits 0, silent.
    done = subprocess.run(
        [sys.executable, "-m", "recorder.store.writer_process"], stdin=subprocess.DEVNULL,
        capture_output=True, timeout=120, cwd=REPO,
    )  # fmt: skip
    assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")


class _Holding:
    """A writer for ``_serve`` that keeps what it is put, and a pipe that, at every read,
    notes how many references to those exchanges exist besides the writer's."""

    def __init__(self, frames: bytes) -> None:
        self.pipe = io.BytesIO(frames)
        self.put_so_far: list[Exchange] = []
        self.others: list[int] = []
        self.written = 0

    def _look(self) -> None:
        # getrefcount's argument, the list's entry and the loop's name: 3 means nobody else
        self.others += [sys.getrefcount(ex) - 3 for ex in self.put_so_far]

    def read(self, n: int) -> bytes:
        self._look()
        return self.pipe.read(n)

    def readinto(self, buf: Any) -> int:
        self._look()
        return self.pipe.readinto(buf)

    def wait_below(self, limit: int) -> None:
        pass

    def put(self, ex: Exchange, replayed: bool = False) -> None:
        self.put_so_far.append(ex)


def test_the_pipe_reader_holds_no_frame_while_it_waits_for_the_next():
    # A 20 MB request stayed referenced (its frame and its Exchange) until the next frame came.
    frames = b"".join(frame(EXCHANGE, pack(samples.plain(id=f"x{i}"))) for i in range(3))
    holding = _Holding(frames)
    writer_process._serve(holding, holding, lambda msg: None)  # type: ignore[arg-type]
    assert [ex.id for ex in holding.put_so_far] == ["x0", "x1", "x2"]
    assert holding.others and set(holding.others) == {0}
