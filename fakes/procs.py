"""Start and stop the local processes a real-client test needs (gateway, fake upstream, replay).

Every process listens on 127.0.0.1 on a free port, logs to a file in the test's tmp dir, and is
stopped (SIGTERM, then SIGKILL) at teardown. A process that dies before it listens fails the test
with the tail of its log, so "the gateway crashed on start" reads as that, not as a timeout.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # the project venv's scripts (mitmdump, recorder)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


class ServiceFailed(RuntimeError):
    """A process died or never listened."""


@dataclass
class Service:
    name: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is not None:
            return
        # The process leads its own group (start_new_session): signal the group so that a
        # wrapper (uv run ...) and its child both stop.
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)


def start_service(
    name: str,
    argv: Sequence[str | os.PathLike[str]],
    *,
    port: int,
    log_dir: Path,
    cwd: Path = REPO,
    env: Mapping[str, str] | None = None,
    ready_timeout: float = 30.0,
) -> Service:
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"{name}.log"
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    with log.open("wb") as fh:
        proc = subprocess.Popen(
            [os.fspath(a) for a in argv],
            cwd=cwd,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    svc = Service(name, port, proc, log)
    deadline = time.monotonic() + ready_timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServiceFailed(
                f"{name} exited with {proc.returncode} before listening on {port}:\n"
                + svc.log_tail()
            )
        if _listening(port):
            return svc
        time.sleep(0.05)
    svc.stop()
    raise ServiceFailed(
        f"{name} did not listen on {port} within {ready_timeout}s:\n{svc.log_tail()}"
    )
