"""The gateway's writer in a child process: recording off the proxy's interpreter lock.

Why a process (measured, README "Benchmarks"): a writer *thread* converts every row to DuckDB
values while holding the GIL, and mitmproxy's event loop waits for it; at 16 concurrent streams
that cost the gateway 12-25% of its throughput, while the second core sat a quarter idle. Here
the proxy's only work per exchange is :func:`~recorder.store.handoff.pack` and one
non-blocking pipe write; parsing the taped bytes into events, rows, Appender batches, commits
and the query endpoint all run in the child, on the other core.

:class:`WriterProcess` has :class:`~recorder.store.writer.StoreWriter`'s interface (``start``,
``put``, ``flush``, ``close``, ``failed``, ``written``). The child (``python -m
recorder.store.writer_process``, its settings on stdin) runs a StoreWriter and the
:class:`~recorder.store.query_server.QueryServer` for ``recorder query``, so the sidecar file
names the child's pid.

Pipes: frames go down the child's stdin (one kind byte, a 4-byte big-endian length, the
payload); one JSON object per line comes back on its stdout (ready / error / flushed / failed /
closed). The first frame is the child's settings (its database, flush interval, ...), so that a
child can start before they are known (:func:`~recorder.store.spawn.prestart`: its interpreter
and DuckDB load while the gateway's own modules do). It says ready once it holds the file and
serves queries; the codecs load with the first exchange it stores (the gateway is answering by
then). The child ignores SIGINT and SIGTERM: a Ctrl-C or a service manager's SIGTERM reaches the
whole process group, and the child must outlive the gateway's own shutdown to store what it is
still sent. It ends when its stdin ends, also when the gateway is killed with ``kill -9``: it
then commits whatever arrived and removes the sidecar, so a hard kill loses only what had not
crossed the pipe (at most about one flush interval).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import signal
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from recorder import secrets
from recorder.exchange import Exchange
from recorder.store.handoff import pack, unpack
from recorder.store.results import QueryResult, StoreError
from recorder.store.spawn import OPEN_FLAG, reap, spawn, take_prestarted

EXCHANGE, FLUSH, STOP, SETTINGS = b"E", b"F", b"S", b"O"


class _Barrier:
    __slots__ = ("n", "done")

    def __init__(self, n: int) -> None:
        self.n = n
        self.done = threading.Event()


def frame(kind: bytes, payload: bytes = b"") -> bytes:
    return kind + len(payload).to_bytes(4, "big") + payload


WRITER_MEMORY_LIMIT = "128MB"  # DuckDB's, in the writer process (see main)
_PIPE_BYTES = 1 << 20  # ~60 streamed exchanges in flight before the backlog thread takes over
# What the child holds unpacked, waiting to be written, before it stops reading the pipe.
_CHILD_QUEUE_BYTES = 128 << 20


class WriterProcess:
    """``put`` from the event loop: pack and one non-blocking pipe write, no thread hand-off.

    Why not a queue and a sender thread: waking a second Python thread per exchange makes the
    two trade the interpreter lock, which cost the event loop more than packing does. When
    the pipe is full (the child is behind), the rest waits in ``_backlog`` and a backlog
    thread writes it as the pipe drains; ``put`` keeps order by appending behind it.

    Nothing handed over is lost when the child dies (``kill -9``, the OOM killer, a crash): every
    exchange frame is kept (``_unacked``) until the child reports it *settled* (committed, or
    counted as skipped), and a dead child is restarted once (``max_restarts``) and sent again
    whatever it had not settled; the new child skips those that were committed after all. While
    it restarts, ``put`` keeps queueing. A second death, or a child that cannot start, is the
    end: ``failed`` is set, ``on_error`` called, every later ``put`` raises. A child whose
    database fails (it reports ``failed``) is killed and goes the same way.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        flush_interval: float = 0.05,  # StoreWriter's default
        on_error: Callable[[BaseException], None] | None = None,
        on_restart: Callable[[str], None] | None = None,
        start_timeout: float = 60.0,
        max_backlog: int = 256 << 20,
        max_restarts: int = 1,
        memory_limit: str = WRITER_MEMORY_LIMIT,
    ) -> None:
        self.path = str(path)
        self.memory_limit = memory_limit  # the child's DuckDB memory_limit (see main)
        self.flush_interval = flush_interval
        self.on_error = on_error
        self.on_restart = on_restart
        self.start_timeout = start_timeout
        self.max_restarts = max_restarts
        self.restarts = 0
        self.failed: BaseException | None = None
        self.written = 0  # exchanges committed, as of the child's last report
        self.unstorable = 0  # of those, stored as failed rows (the writer's counters)
        self.skipped = 0  # exchanges that could not be stored at all
        # Ids of the exchanges handed to the last child and never settled when recording failed
        # for good: none is sent again, some may have been committed before it died.
        self.unconfirmed: list[str] = []
        self.query_port: int | None = None
        self.created = False  # the first child created the database (it was not there)
        self._barriers: dict[int, _Barrier] = {}
        self._next_barrier = 0
        self._lock = threading.Lock()  # the pipe, the backlog and the unsettled frames
        # Bytes the pipe did not take yet, in order (FLUSH and STOP frames included).
        self._backlog: deque[memoryview] = deque()
        self._backlog_bytes = 0
        self._backlogged = threading.Condition(self._lock)
        # Exchange frames handed over and not yet settled by the child, oldest first; the first
        # one is exchange number ``_unacked_base`` (counted from 0 over the whole run).
        self._unacked: deque[bytes] = deque()
        self._unacked_base = 0
        self._unacked_bytes = 0
        # The most unsettled bytes the proxy holds before it refuses *new* traffic (see
        # :meth:`refusal`): a child that cannot keep up (a stalled disk) must not grow the
        # proxy until it dies. What is already under way is still handed over.
        self.max_backlog = max_backlog
        self._child_base = 0  # exchange number of the first frame sent to the current child
        self._written_base = 0  # exchanges earlier children committed
        self._counted = (0, 0)  # (unstorable, skipped) earlier children counted
        self._fd = -1  # the current child's stdin; -1 while there is none (restarting)
        self._proc: subprocess.Popen[bytes] | None = None
        self._drainer: threading.Thread | None = None
        self._reader: threading.Thread | None = None
        self._closing = False
        self._last_failure: str | None = None  # what the child said before it was killed

    def start(self) -> WriterProcess:
        proc = self._spawn(replayed=0)
        with self._lock:
            self._attach(proc)
        self._drainer = threading.Thread(target=self._drain, name="tapegate-backlog", daemon=True)
        self._reader = threading.Thread(target=self._read_loop, name="tapegate-hear", daemon=True)
        self._drainer.start()
        self._reader.start()
        return self

    def _spawn(self, replayed: int) -> subprocess.Popen[bytes]:
        """Start a child (or take the one :func:`~recorder.store.spawn.prestart` started), send
        it its settings and wait for it to say it is ready (StoreError if it does not)."""
        settings = {
            "path": self.path, "flush_interval": self.flush_interval, "replayed": replayed,
            "memory_limit": self.memory_limit, "redact": ",".join(secrets.extra_patterns()),
        }  # fmt: skip
        data = frame(SETTINGS, json.dumps(settings).encode())
        proc = take_prestarted()
        try:
            _send_settings(proc, data)
        except OSError:  # the prestarted child died since: a new one
            reap(proc)
            proc = spawn()
            _send_settings(proc, data)
        assert proc.stdout is not None
        first = _read_line(proc.stdout, self.start_timeout)
        msg = _message(first)
        if not msg.get("ready"):
            proc.kill()
            proc.wait()
            why = msg.get("error") or f"writer process did not start ({first[:200]!r})"
            raise StoreError(str(why))
        self.query_port = msg.get("port")
        self.created = self.created or msg.get("created") is True
        return proc

    def _attach(self, proc: subprocess.Popen[bytes]) -> None:
        """Make ``proc`` the current child (the lock is held)."""
        assert proc.stdin is not None
        self._proc = proc
        self._fd = proc.stdin.fileno()
        os.set_blocking(self._fd, False)
        with contextlib.suppress(OSError, AttributeError):  # Linux only; the default also works
            fcntl.fcntl(self._fd, fcntl.F_SETPIPE_SZ, _PIPE_BYTES)

    # ------------------------------------------------------------------ caller side

    def put(self, ex: Exchange) -> None:
        """Hand ``ex`` to the writer; never blocks. Raises StoreError once writing failed."""
        if self.failed is not None:
            raise StoreError(f"recording to {self.path} failed: {self.failed}")
        self._send(frame(EXCHANGE, pack(ex)), exchange=True)

    def refusal(self) -> str | None:
        """Why new traffic must not be let through now (None: the writer can take it)."""
        if self.failed is not None:
            return f"recording to {self.path} failed ({self.failed})"
        if self._unacked_bytes > self.max_backlog:
            mb = self._unacked_bytes >> 20
            return f"the recorder's writer is {mb} MB behind; try again shortly"
        return None

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until everything put so far is committed (or the writer failed)."""
        if self._proc is None or self.failed is not None or self._closing:
            return False
        with self._lock:
            barrier = _Barrier(self._next_barrier)
            self._next_barrier += 1
            self._barriers[barrier.n] = barrier
        self._send(frame(FLUSH, str(barrier.n).encode()))
        return barrier.done.wait(timeout) and self.failed is None

    def close(self, timeout: float = 30.0) -> None:
        """Send what is left, let the child commit and close the file, wait for it."""
        if self._proc is None or self._closing:
            return
        if self.failed is not None:  # it takes nothing more, STOP included: do not wait for it
            self.restarts = self.max_restarts
            self._proc.kill()
        self._send(frame(STOP))
        with self._lock:
            self._closing = True  # the backlog thread closes the pipe once it is empty
            self._backlogged.notify_all()
        if self._reader is not None:
            self._reader.join(timeout)  # the last child has left (restarted ones included)
        if self._reader is not None and self._reader.is_alive() and self._proc is not None:
            self.restarts = self.max_restarts  # the child is stuck: no new one now
            self._proc.kill()
            self._reader.join(timeout)
        if self._drainer is not None:
            self._drainer.join(timeout)

    # ------------------------------------------------------------------ the pipe

    def _send(self, data: bytes, exchange: bool = False) -> None:
        with self._lock:
            if self.failed is not None and not self._closing:
                return
            if exchange:
                self._unacked.append(data)
                self._unacked_bytes += len(data)
            if self._backlog or self._fd < 0:  # behind already, or restarting: keep the order
                self._keep(memoryview(data))
                return
            try:
                n = os.write(self._fd, data)
            except BlockingIOError:
                n = 0
            except OSError:  # the child is gone: the reader thread restarts it and resends
                n = 0
            if n < len(data):
                self._keep(memoryview(data)[n:])
                self._backlogged.notify_all()

    def _keep(self, rest: memoryview) -> None:
        """Queue ``rest`` behind the backlog (the lock is held)."""
        self._backlog.append(rest)
        self._backlog_bytes += len(rest)

    def _drain(self) -> None:
        """The backlog thread: idle until the pipe was full, then writes as it drains; closes
        the pipe when closing and everything is written."""
        while True:
            with self._lock:
                while True:
                    if self.failed is not None:
                        return
                    if self._fd >= 0 and self._backlog:
                        break
                    if self._fd >= 0 and self._closing:  # everything is written
                        assert self._proc is not None and self._proc.stdin is not None
                        self._proc.stdin.close()  # the file object owns the fd: close it there
                        self._fd = -1
                        return
                    self._backlogged.wait(1.0)
                head, fd = self._backlog[0], self._fd
            with contextlib.suppress(OSError, ValueError):  # the fd closed meanwhile: retried
                select.select([], [fd], [], 1.0)
            with self._lock:
                if self._fd != fd or not self._backlog:  # a restart rebuilt the backlog
                    continue
                try:
                    n = os.write(fd, head)
                except BlockingIOError:
                    continue
                except OSError:  # the child is gone: the reader thread restarts it
                    self._fd = -1
                    continue
                self._backlog_bytes -= n
                if n < len(head):
                    self._backlog[0] = head[n:]
                else:
                    self._backlog.popleft()

    def _read_loop(self) -> None:
        while True:
            proc = self._proc
            assert proc is not None and proc.stdout is not None
            for line in proc.stdout:
                self._hear(_message(line), proc)
            code = proc.wait()
            if self._closing and code == 0:
                break
            why = f"writer process {_ended(code)}"
            if self.restarts >= self.max_restarts or not self._restart(why):
                self._fail(StoreError(why))
                break
        with self._lock:  # nobody will answer these any more
            for barrier in self._barriers.values():
                barrier.done.set()
            self._barriers.clear()
            self._backlogged.notify_all()

    def _hear(self, msg: dict[str, Any], proc: subprocess.Popen[bytes]) -> None:
        if "settled" in msg:
            self._settled(msg)
        if "flushed" in msg:
            with self._lock:
                barrier = self._barriers.pop(int(msg["flushed"]), None)
            if barrier is not None:
                barrier.done.set()
        elif "failed" in msg:  # the child's database failed: a restart may cure it
            self._last_failure = str(msg["failed"])
            proc.kill()

    def _settled(self, msg: dict[str, Any]) -> None:
        self.written = self._written_base + int(msg.get("written", 0))
        self.unstorable = self._counted[0] + int(msg.get("unstorable", 0))
        self.skipped = self._counted[1] + int(msg.get("skipped", 0))
        with self._lock:
            upto = self._child_base + int(msg["settled"])
            while self._unacked and self._unacked_base < upto:
                self._unacked_bytes -= len(self._unacked.popleft())
                self._unacked_base += 1

    def _restart(self, why: str) -> bool:
        """Start a new child and send it every frame the dead one had not settled."""
        self.restarts += 1
        if self._last_failure:
            why = f"{why} after: {self._last_failure}"
            self._last_failure = None
        if self.on_restart is not None:
            self.on_restart(why)
        with self._lock:
            old = self._proc
            self._fd = -1
            replayed = len(self._unacked)
        if old is not None and old.stdin is not None:
            with contextlib.suppress(OSError):
                old.stdin.close()
        try:
            proc = self._spawn(replayed)
        except (StoreError, OSError) as e:
            self._fail(StoreError(f"{why}; restarting it failed: {e}"))
            return False
        with self._lock:
            self._written_base = self.written
            self._counted = (self.unstorable, self.skipped)
            self._child_base = self._unacked_base
            self._attach(proc)
            self._backlog.clear()
            self._backlog_bytes = 0
            for data in self._unacked:
                self._keep(memoryview(data))
            for n in self._barriers:
                self._keep(memoryview(frame(FLUSH, str(n).encode())))
            if self._closing:
                self._keep(memoryview(frame(STOP)))
            self._backlogged.notify_all()
        if self._drainer is None or not self._drainer.is_alive():
            self._drainer = threading.Thread(
                target=self._drain, name="tapegate-backlog", daemon=True
            )
            self._drainer.start()
        return True

    def _fail(self, e: BaseException) -> None:
        if self.failed is not None:
            return
        with self._lock:  # no child will settle these now: say which, never drop them quietly
            self.unconfirmed = [_exchange_id(data) for data in self._unacked]
            self._unacked.clear()
            self._unacked_bytes = 0
        self.failed = e
        if self.on_error is not None:
            self.on_error(e)


def _send_settings(proc: subprocess.Popen[bytes], data: bytes) -> None:
    assert proc.stdin is not None
    proc.stdin.write(data)  # a few hundred bytes into an empty pipe: never blocks
    proc.stdin.flush()


def _exchange_id(data: bytes) -> str:
    """The id of the exchange an EXCHANGE frame holds."""
    try:
        return str(unpack(data[5:]).id)
    except Exception:  # noqa: BLE001 - a frame that cannot be read back has no id to give
        return "?"


def _ended(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"was killed by {signal.Signals(-code).name}"
    return f"exited with code {code}"


def _read_line(stream: IO[bytes], timeout: float) -> bytes:
    ready, _, _ = select.select([stream], [], [], timeout)
    return stream.readline() if ready else b""


def _message(line: bytes) -> dict[str, Any]:
    try:
        msg = json.loads(line)
    except ValueError:
        return {}
    return msg if isinstance(msg, dict) else {}


# ---------------------------------------------------------------------- the child


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # Everything this process creates (the database, its WAL, the sidecar, DuckDB's spill
    # files) is readable by its owner only: a recording holds whole conversations.
    os.umask(0o077)
    # DuckDB loads, and the database the command line names opens, before the settings are
    # read: a prestarted child does that while the gateway still loads its own modules.
    from recorder.store.early_open import HOLD_SECONDS, EarlyOpen
    from recorder.store.query_server import QueryServer
    from recorder.store.writer import StoreWriter

    out_lock = threading.Lock()
    writer: StoreWriter | None = None

    def say(msg: dict[str, Any]) -> None:
        with out_lock:
            try:
                sys.stdout.write(json.dumps(msg) + "\n")
                sys.stdout.flush()
            except OSError:
                pass  # the gateway is gone; storing what it sent still matters

    def failed(e: BaseException) -> None:
        say({"failed": f"{type(e).__name__}: {e}"})

    def committed(settled: int) -> None:
        assert writer is not None
        say({
            "settled": settled, "written": writer.written, "unstorable": writer.unstorable,
            "skipped": writer.skipped,
        })  # fmt: skip

    # One DuckDB thread: batches of a few thousand rows gain nothing from parallel work, and
    # its coordination cost about a fifth of the writer's CPU (measured; the second core is
    # the one the clients and upstreams of a busy gateway host need).
    # A memory limit: without one DuckDB's buffer pool keeps every block the recorder
    # wrote, so the process grew with the recording (about 25 MB per thousand streamed
    # exchanges, tests/reliability/test_soak.py) up to 80% of the machine's RAM. Blocks
    # written are on disk: evicting them costs the writer nothing; queries answered here
    # spill to a temporary file beyond it. Large batches and checkpoints lift it for their
    # duration (StoreWriter.memory_ceiling): what they need is not bounded by any limit.
    hooks: dict[str, Any] = {"on_error": failed, "threads": 1, "on_commit": committed}
    db = _early_database(sys.argv[1:])
    early = EarlyOpen.open(db, memory_limit=WRITER_MEMORY_LIMIT, **hooks) if db else None
    if early is not None and not _readable(sys.stdin.buffer, HOLD_SECONDS):
        early.release()
    settings = _read_settings(sys.stdin.buffer)
    if settings is None:
        if early is not None:
            early.release()
        return 0  # never needed (the gateway records nothing, or stopped while starting)
    path, flush_interval = str(settings["path"]), float(settings["flush_interval"])
    replayed = int(settings.get("replayed", 0))
    memory_limit = str(settings.get("memory_limit", WRITER_MEMORY_LIMIT))
    secrets.extend(secrets.parse_patterns(str(settings.get("redact", ""))))

    try:
        writer = early.take(path, memory_limit) if early is not None else None
        created = early is not None and early.created
        if writer is None:
            created = not os.path.lexists(path)
            writer = StoreWriter(path, memory_limit=memory_limit, **hooks)
        writer.flush_interval = flush_interval
        writer.start()
    except StoreError as e:
        say({"error": str(e)})
        return 1

    def answer(sql: str, params: list[Any]) -> QueryResult:
        writer.flush(5.0)  # commit what already arrived: a query sees the exchanges before it
        return writer.query(sql, params)

    server = QueryServer(path, answer)
    server.start()
    say({"ready": True, "port": server.port, "pid": os.getpid(), "created": created})
    try:
        _serve(sys.stdin.buffer, writer, say, replayed)
    finally:
        writer.close()
        server.stop()  # the sidecar goes once the file is free: a reader may open it then
        say({"closed": True, "written": writer.written})
    return 0


def _serve(
    inp: IO[bytes], writer: Any, say: Callable[[dict[str, Any]], None], replayed: int = 0
) -> None:
    """Read frames until STOP or the end of the pipe. The first ``replayed`` exchanges are a
    dead predecessor's unsettled ones: those it committed after all are not written twice."""
    n = 0
    while True:
        head = _read_exact(inp, 5)
        if head is None:
            return  # the gateway closed the pipe or died: keep what arrived
        kind, size = bytes(head[:1]), int.from_bytes(head[1:], "big")
        if kind == STOP:
            return
        if kind == EXCHANGE:
            n += 1
            writer.wait_below(_CHILD_QUEUE_BYTES)
        # Read in a call of its own: nothing of a frame stays referenced here while this loop
        # waits for the next one (a 20 MB request would be held until the next exchange).
        if not _take(inp, writer, say, kind, size, replayed=n <= replayed):
            return


def _take(
    inp: IO[bytes],
    writer: Any,
    say: Callable[[dict[str, Any]], None],
    kind: bytes,
    size: int,
    replayed: bool,
) -> bool:
    """Read one frame's payload and act on it; False if the pipe ended first."""
    body = _read_exact(inp, size) if size else bytearray()
    if body is None:
        return False
    if kind == FLUSH:
        writer.flush()
        say({"flushed": int(body), "written": writer.written})
    elif kind == EXCHANGE:
        try:
            ex = unpack(body)
        except Exception as e:  # noqa: BLE001 - a frame this code cannot read: counted
            writer.skip(f"an exchange frame could not be read: {type(e).__name__}: {e}")
            return True
        try:
            writer.put(ex, replayed=replayed)
        except StoreError:
            pass  # already reported by the writer's on_error
    return True


def _early_database(args: list[str]) -> str | None:
    """The database named by the child's ``--open DB`` argument (:func:`spawn.spawn`)."""
    if len(args) == 2 and args[0] == OPEN_FLAG and args[1]:
        return args[1]
    return None


def _readable(inp: IO[bytes], timeout: float) -> bool:
    """Something (or the end) can be read from ``inp`` within ``timeout`` seconds."""
    ready, _, _ = select.select([inp], [], [], timeout)
    return bool(ready)


def _read_settings(inp: IO[bytes]) -> dict[str, Any] | None:
    """The first frame: the settings (None: the pipe ended first)."""
    head = _read_exact(inp, 5)
    if head is None:
        return None
    body = _read_exact(inp, int.from_bytes(head[1:], "big"))
    if head[:1] != SETTINGS or body is None:
        return None
    settings = json.loads(body)
    return settings if isinstance(settings, dict) else None


def _read_exact(inp: IO[bytes], n: int) -> bytearray | None:
    """``n`` bytes read into one buffer (no copy of a large frame: unpack reads the buffer)."""
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        count = inp.readinto(view[got:])  # type: ignore[attr-defined]
        if not count:
            return None
        got += count
    view.release()
    return buf


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    # Everything is committed and closed: skip interpreter teardown, where DuckDB's bindings
    # print reference-leak warnings that would only alarm whoever reads the gateway's log.
    os._exit(code)
