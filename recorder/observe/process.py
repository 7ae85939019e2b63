"""The observer process: the console, the span export and the message log, off the proxy.

Reading a finished exchange (parsing its taped stream, decoding both legs through the codecs,
building spans) costs far more than relaying it, so none of it runs in the gateway: there the
cost per exchange is :func:`~recorder.store.handoff.pack` and one non-blocking pipe write
(:class:`ObserverProcess`, driven by the proxy's event loop: no thread, no lock). The child
(``python -m recorder.observe.process SETTINGS STATUS_FD``) unpacks, settles, reads, and runs
the sinks (:mod:`recorder.observe.sinks`); it prints the console lines on the stdout it shares
with the gateway and reports on its status pipe (JSON lines: ready, warnings, export health).

Seeing is best effort, unlike recording: when the child falls more than ``max_buffer`` bytes
behind (a terminal scrolled back, a collector stalling the export), exchanges are dropped from
the view and counted, never queued without bound. Like the recorder's writer, the child ignores
SIGINT/SIGTERM and ends when its stdin does, so a Ctrl-C still shows the last exchanges.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

from recorder.exchange import Exchange
from recorder.observe.console_options import ConsoleConfig, Detail
from recorder.observe.messagelog_config import LogConfig
from recorder.observe.otel_config import OtelConfig
from recorder.store.handoff import pack, unpack
from recorder.store.writer_process import EXCHANGE, STOP, frame

_ROOT = Path(__file__).resolve().parents[2]
NICENESS = 10  # the observer's CPU priority below the gateway's (and its recorder's)


@dataclass(slots=True, frozen=True)
class ObserveSettings:
    console: ConsoleConfig | None = None
    otel: OtelConfig | None = None
    log: LogConfig | None = None

    @property
    def active(self) -> bool:
        return self.console is not None or self.otel is not None or self.log is not None

    def to_json(self) -> str:
        return json.dumps(
            {
                "console": asdict(self.console) if self.console is not None else None,
                "otel": asdict(self.otel) if self.otel is not None else None,
                "log": asdict(self.log) if self.log is not None else None,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> ObserveSettings:
        d = json.loads(text)
        con = d.get("console")
        return cls(
            console=ConsoleConfig(Detail(con["detail"]), con["color"]) if con else None,
            otel=OtelConfig(**d["otel"]) if d.get("otel") else None,
            log=LogConfig(**d["log"]) if d.get("log") else None,
        )


class ObserverProcess:
    """The gateway's side. ``put`` from the event loop only; ``close`` at shutdown."""

    def __init__(
        self,
        settings: ObserveSettings,
        on_message: Callable[[dict[str, Any]], None],
        max_buffer: int = 32 << 20,
    ) -> None:
        self.settings = settings
        self.on_message = on_message
        self.max_buffer = max_buffer
        self.sent = 0
        self.dropped = 0  # exchanges left out because the child was too far behind
        self._proc: subprocess.Popen[bytes] | None = None
        self._fd = -1
        self._pending: deque[memoryview] = deque()  # bytes the pipe did not take yet
        self._pending_bytes = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reader: threading.Thread | None = None

    def start(self) -> ObserverProcess:
        status_r, status_w = os.pipe()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_ROOT), env.get("PYTHONPATH")]))
        argv = [sys.executable, "-m", "recorder.observe.process", self.settings.to_json()]
        try:
            self._proc = subprocess.Popen(
                [*argv, str(status_w)], stdin=subprocess.PIPE, pass_fds=(status_w,), env=env,
                cwd=os.getcwd(),
            )  # fmt: skip
        finally:
            os.close(status_w)
        assert self._proc.stdin is not None
        self._fd = self._proc.stdin.fileno()
        os.set_blocking(self._fd, False)
        status = os.fdopen(status_r, "rb")
        self._reader = threading.Thread(
            target=self._hear, args=(status,), name="tapegate-observe", daemon=True
        )
        self._reader.start()
        return self

    def put(self, ex: Exchange) -> None:
        if self._fd < 0:
            return
        if self._pending_bytes > self.max_buffer:
            self.dropped += 1
            return
        self._send(frame(EXCHANGE, pack(ex)))
        self.sent += 1

    def close(self, timeout: float = 10.0) -> None:
        """Send what is pending and the stop frame, then wait for the child (it flushes the
        span export) at most ``timeout`` seconds."""
        if self._proc is None:
            return
        proc, self._proc = self._proc, None
        if self._fd >= 0:
            if self._loop is not None:
                with contextlib.suppress(Exception):
                    self._loop.remove_writer(self._fd)
            os.set_blocking(self._fd, True)
            with contextlib.suppress(OSError):
                for rest in self._pending:
                    os.write(self._fd, rest)
                os.write(self._fd, frame(STOP))
            self._pending.clear()
            self._fd = -1
            assert proc.stdin is not None
            with contextlib.suppress(OSError):
                proc.stdin.close()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if self._reader is not None:
            self._reader.join(2.0)

    # ------------------------------------------------------------------ the pipe

    def _send(self, data: bytes) -> None:
        if self._pending:  # behind already: keep the order
            self._keep(memoryview(data))
            return
        try:
            n = os.write(self._fd, data)
        except BlockingIOError:
            n = 0
        except OSError:  # the child is gone; its reader thread reports why
            self._fd = -1
            return
        if n < len(data):
            self._keep(memoryview(data)[n:])
            self._loop = asyncio.get_running_loop()
            self._loop.add_writer(self._fd, self._drain)

    def _keep(self, rest: memoryview) -> None:
        self._pending.append(rest)
        self._pending_bytes += len(rest)

    def _drain(self) -> None:
        while self._pending:
            head = self._pending[0]
            try:
                n = os.write(self._fd, head)
            except BlockingIOError:
                return
            except OSError:
                self._pending.clear()
                self._pending_bytes = 0
                break
            self._pending_bytes -= n
            if n < len(head):
                self._pending[0] = head[n:]
                return
            self._pending.popleft()
        if self._loop is not None:
            self._loop.remove_writer(self._fd)

    def _hear(self, status: IO[bytes]) -> None:
        with status:
            for raw in status:
                try:
                    msg = json.loads(raw)
                except ValueError:
                    continue
                if isinstance(msg, dict):
                    self.on_message(msg)


# ---------------------------------------------------------------------- the child


def main(argv: list[str]) -> int:
    from recorder.observe.facts import facts_of
    from recorder.observe.reading import read
    from recorder.observe.sinks import ConsoleSink, LogSink, Needs, Sink, TraceSink
    from recorder.summary import settle

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # Looking is best effort: on a busy box the proxy and its recorder come first.
    with contextlib.suppress(OSError):
        os.nice(NICENESS)
    settings = ObserveSettings.from_json(argv[0])
    status = os.fdopen(int(argv[1]), "w", buffering=1)
    lock = threading.Lock()

    def say(msg: dict[str, Any]) -> None:
        with lock, contextlib.suppress(OSError, ValueError):
            status.write(json.dumps(msg) + "\n")

    sinks: dict[str, Sink] = {}
    try:
        if settings.console is not None:
            sinks["console"] = ConsoleSink(settings.console)
        if settings.otel is not None:
            sinks["otel"] = TraceSink(settings.otel, say)
        if settings.log is not None:
            sinks["messagelog"] = LogSink(settings.log)
    except Exception as e:  # noqa: BLE001 - reported to the gateway, which logs it
        say({"error": f"observer could not start: {type(e).__name__}: {e}"})
        return 1
    needs = Needs()
    for sink in sinks.values():
        needs |= sink.needs
    say({"ready": True, "pid": os.getpid()})
    broken: set[str] = set()
    inp = sys.stdin.buffer  # buffered: read(n) returns fewer than n bytes only at the end
    while True:
        head = inp.read(5)
        if len(head) < 5 or head[:1] == STOP:
            break
        size = int.from_bytes(head[1:], "big")
        body = inp.read(size)
        if len(body) < size:
            break
        if head[:1] != EXCHANGE:
            continue
        try:
            ex = unpack(body)
            if not needs.upstream and ex.taped:  # only the client leg is read: parse only it
                ex.taped = [t for t in ex.taped if t[0] == "client"]
            settle(ex)
            reading = read(
                ex, upstream=needs.upstream, requests=needs.requests, answers=needs.answer_of(ex)
            )
            facts = facts_of(ex, reading)
        except Exception as e:  # noqa: BLE001 - one unreadable exchange must not end the rest
            say({"warning": f"observer: exchange not readable: {type(e).__name__}: {e}"})
            continue
        for name, sink in sinks.items():
            try:
                sink.handle(ex, reading, facts)
            except Exception as e:  # noqa: BLE001
                if name not in broken:  # once per sink: the next failure is likely the same
                    broken.add(name)
                    say({"warning": f"{name}: exchange {ex.id}: {type(e).__name__}: {e}"})
    t0 = time.monotonic()
    for sink in sinks.values():
        with contextlib.suppress(Exception):
            sink.close()
    say({"closed": True, "seconds": round(time.monotonic() - t0, 3)})
    return 0


if __name__ == "__main__":
    code = main(sys.argv[1:])
    sys.stdout.flush()
    os._exit(code)
