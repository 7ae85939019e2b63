"""The gateway's writer in a child process: recording off the proxy's interpreter lock.

Why a process (measured, README "Benchmarks"): a writer *thread* converts every row to DuckDB
values while holding the GIL, and mitmproxy's event loop waits for it; at 16 concurrent streams
that cost the gateway 12-25% of its throughput, while the second core sat a quarter idle. Here
the proxy's only work per exchange is :func:`~recorder.store.handoff.pack` and one
non-blocking pipe write; parsing the taped bytes into events, rows, Appender batches, commits
and the query endpoint all run in the child, on the other core.

:class:`WriterProcess` has :class:`~recorder.store.writer.StoreWriter`'s interface (``start``,
``put``, ``flush``, ``close``, ``failed``, ``written``). The child (``python -m
recorder.store.writer_process DB FLUSH_S``) runs a StoreWriter and the
:class:`~recorder.store.query_server.QueryServer` for ``recorder query``, so the sidecar file
names the child's pid.

Pipes: frames go down the child's stdin (one kind byte, a 4-byte big-endian length, the
payload); one JSON object per line comes back on its stdout (ready / error / flushed / failed /
closed). The child ignores SIGINT and SIGTERM: a Ctrl-C or a service manager's SIGTERM reaches
the whole process group, and the child must outlive the gateway's own shutdown to store what
it is still sent. It ends when its stdin ends, also when the gateway is killed with ``kill -9``:
it then commits whatever arrived and removes the sidecar, so a hard kill loses only what had not
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

from recorder.exchange import Exchange
from recorder.store.handoff import pack, unpack
from recorder.store.results import QueryResult, StoreError

EXCHANGE, FLUSH, STOP = b"E", b"F", b"S"
_ROOT = Path(__file__).resolve().parents[2]  # the directory holding the recorder package


class _Barrier:
    __slots__ = ("n", "done")

    def __init__(self, n: int) -> None:
        self.n = n
        self.done = threading.Event()


def frame(kind: bytes, payload: bytes = b"") -> bytes:
    return kind + len(payload).to_bytes(4, "big") + payload


_PIPE_BYTES = 1 << 20  # ~60 streamed exchanges in flight before the backlog thread takes over


class WriterProcess:
    """``put`` from the event loop: pack and one non-blocking pipe write, no thread hand-off.

    Why not a queue and a sender thread: waking a second Python thread per exchange makes the
    two trade the interpreter lock, which cost the event loop more than packing does. When
    the pipe is full (the child is behind), the rest waits in ``_backlog`` and a backlog
    thread writes it as the pipe drains; ``put`` keeps order by appending behind it.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        flush_interval: float = 0.05,  # StoreWriter's default
        on_error: Callable[[BaseException], None] | None = None,
        start_timeout: float = 60.0,
        max_backlog: int = 256 << 20,
    ) -> None:
        self.path = str(path)
        self.flush_interval = flush_interval
        self.on_error = on_error
        self.start_timeout = start_timeout
        self.failed: BaseException | None = None
        self.written = 0  # exchanges committed, as of the child's last report
        self.query_port: int | None = None
        self._barriers: dict[int, _Barrier] = {}
        self._next_barrier = 0
        self._lock = threading.Lock()  # the pipe and the backlog
        # Bytes the pipe did not take yet. Bounded: a writer that cannot keep up (a stalled
        # disk) must not grow the proxy until it dies; past ``max_backlog`` recording fails
        # loudly (503s, like any write failure) instead.
        self.max_backlog = max_backlog
        self._backlog: deque[memoryview] = deque()
        self._backlog_bytes = 0
        self._backlogged = threading.Condition(self._lock)
        self._fd = -1
        self._proc: subprocess.Popen[bytes] | None = None
        self._drainer: threading.Thread | None = None
        self._reader: threading.Thread | None = None
        self._closing = False

    def start(self) -> WriterProcess:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_ROOT), env.get("PYTHONPATH")]))
        argv = [sys.executable, "-m", "recorder.store.writer_process", self.path]
        self._proc = subprocess.Popen(
            [*argv, repr(self.flush_interval)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, cwd=os.getcwd(),
        )  # fmt: skip
        assert self._proc.stdout is not None and self._proc.stdin is not None
        first = _read_line(self._proc.stdout, self.start_timeout)
        msg = _message(first)
        if not msg.get("ready"):
            self._proc.kill()
            self._proc.wait()
            why = msg.get("error") or f"writer process did not start ({first[:200]!r})"
            raise StoreError(str(why))
        self.query_port = msg.get("port")
        self._fd = self._proc.stdin.fileno()
        os.set_blocking(self._fd, False)
        with contextlib.suppress(OSError, AttributeError):  # Linux only; the default also works
            fcntl.fcntl(self._fd, fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
        self._drainer = threading.Thread(target=self._drain, name="tapegate-backlog", daemon=True)
        self._reader = threading.Thread(target=self._read_loop, name="tapegate-hear", daemon=True)
        self._drainer.start()
        self._reader.start()
        return self

    # ------------------------------------------------------------------ caller side

    def put(self, ex: Exchange) -> None:
        """Hand ``ex`` to the writer; never blocks. Raises StoreError once writing failed."""
        if self.failed is not None:
            raise StoreError(f"recording to {self.path} failed: {self.failed}")
        self._send(frame(EXCHANGE, pack(ex)))

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until everything put so far is committed (or the writer failed)."""
        if self._proc is None or self._proc.poll() is not None or self._closing:
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
        self._send(frame(STOP))
        with self._lock:
            self._closing = True  # the backlog thread closes the pipe once it is empty
            self._backlogged.notify()
        if self._drainer is not None:
            self._drainer.join(timeout)
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        if self._reader is not None:
            self._reader.join(timeout)

    # ------------------------------------------------------------------ the pipe

    def _send(self, data: bytes) -> None:
        with self._lock:
            if self._fd < 0:
                return
            if self._backlog:  # behind already: keep the order
                self._keep(memoryview(data))
                return
            try:
                n = os.write(self._fd, data)
            except BlockingIOError:
                n = 0
            except OSError as e:  # the child is gone; the reader thread says why
                self._fail(StoreError(f"writer process is gone: {e}"))
                return
            if n < len(data):
                self._keep(memoryview(data)[n:])
                self._backlogged.notify()

    def _keep(self, rest: memoryview) -> None:
        """Queue ``rest`` behind the backlog (the lock is held)."""
        if self._backlog_bytes + len(rest) > self.max_backlog and self._backlog_bytes:
            mb = self._backlog_bytes >> 20
            self._fail(StoreError(f"the writer process is {mb} MB behind and cannot keep up"))
            return  # whole frames only are dropped: the first one in the backlog is never cut
        self._backlog.append(rest)
        self._backlog_bytes += len(rest)

    def _drain(self) -> None:
        """The backlog thread: idle until the pipe was full, then writes as it drains."""
        while True:
            with self._lock:
                while not self._backlog and not self._closing:
                    self._backlogged.wait()
                if not self._backlog:  # closing, and everything is written
                    assert self._proc is not None and self._proc.stdin is not None
                    self._proc.stdin.close()  # the file object owns the fd: close it there
                    self._fd = -1
                    return
                head = self._backlog[0]
            select.select([], [self._fd], [], 1.0)
            with self._lock:
                try:
                    n = os.write(self._fd, head)
                except BlockingIOError:
                    continue
                except OSError as e:
                    self._backlog.clear()
                    self._backlog_bytes = 0
                    self._fail(StoreError(f"writer process is gone: {e}"))
                    continue
                self._backlog_bytes -= n
                if n < len(head):
                    self._backlog[0] = head[n:]
                else:
                    self._backlog.popleft()

    def _read_loop(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            msg = _message(line)
            if "flushed" in msg:
                self.written = int(msg.get("written", self.written))
                with self._lock:
                    barrier = self._barriers.pop(int(msg["flushed"]), None)
                if barrier is not None:
                    barrier.done.set()
            elif "failed" in msg:
                self._fail(StoreError(str(msg["failed"])))
            elif "closed" in msg:
                self.written = int(msg.get("written", self.written))
        code = self._proc.wait()
        if not self._closing or code != 0:
            self._fail(StoreError(f"writer process exited with code {code}"))
        with self._lock:  # nobody will answer these any more
            for barrier in self._barriers.values():
                barrier.done.set()
            self._barriers.clear()

    def _fail(self, e: BaseException) -> None:
        if self.failed is not None:
            return
        self.failed = e
        if self.on_error is not None:
            self.on_error(e)


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


def main(argv: list[str]) -> int:
    from recorder.store.query_server import QueryServer
    from recorder.store.writer import StoreWriter

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    path, flush_interval = argv[0], float(argv[1])
    out_lock = threading.Lock()

    def say(msg: dict[str, Any]) -> None:
        with out_lock:
            try:
                sys.stdout.write(json.dumps(msg) + "\n")
                sys.stdout.flush()
            except OSError:
                pass  # the gateway is gone; storing what it sent still matters

    def failed(e: BaseException) -> None:
        say({"failed": f"{type(e).__name__}: {e}"})

    try:
        # One DuckDB thread: batches of a few thousand rows gain nothing from parallel work, and
        # its coordination cost about a fifth of the writer's CPU (measured; the second core is
        # the one the clients and upstreams of a busy gateway host need).
        writer = StoreWriter(path, flush_interval=flush_interval, on_error=failed, threads=1)
        writer.start()
    except StoreError as e:
        say({"error": str(e)})
        return 1

    def answer(sql: str, params: list[Any]) -> QueryResult:
        writer.flush(5.0)  # commit what already arrived: a query sees the exchanges before it
        return writer.query(sql, params)

    server = QueryServer(path, answer)
    server.start()
    say({"ready": True, "port": server.port, "pid": os.getpid()})
    try:
        _serve(sys.stdin.buffer, writer, say, failed)
    finally:
        server.stop()
        writer.close()
        say({"closed": True, "written": writer.written})
    return 0


def _serve(
    inp: IO[bytes],
    writer: Any,
    say: Callable[[dict[str, Any]], None],
    failed: Callable[[BaseException], None],
) -> None:
    while True:
        head = _read_exact(inp, 5)
        if head is None:
            return  # the gateway closed the pipe or died: keep what arrived
        kind, size = head[:1], int.from_bytes(head[1:], "big")
        body = _read_exact(inp, size) if size else b""
        if body is None:
            return
        if kind == STOP:
            return
        if kind == FLUSH:
            writer.flush()
            say({"flushed": int(body), "written": writer.written})
        elif kind == EXCHANGE and writer.failed is None:
            try:
                writer.put(unpack(body))
            except StoreError:
                pass  # already reported by the writer's on_error
            except Exception as e:  # a frame this code cannot read: loud, like a write failure
                writer.failed = e
                failed(e)


def _read_exact(inp: IO[bytes], n: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        piece = inp.read(n - len(buf))
        if not piece:
            return None
        buf += piece
    return bytes(buf)


if __name__ == "__main__":
    code = main(sys.argv[1:])
    sys.stdout.flush()
    # Everything is committed and closed: skip interpreter teardown, where DuckDB's bindings
    # print reference-leak warnings that would only alarm whoever reads the gateway's log.
    os._exit(code)
