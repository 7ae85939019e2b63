"""One CLI process: started without a shell in its own process group, read line by line, ended
for sure (SIGTERM to the group, then SIGKILL, then reaped: no zombie, no orphan)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from recorder.claude_cli.invocation import Invocation

JsonObject = dict[str, Any]

LINE_LIMIT: Final = 64 * 1024 * 1024  # one stream-json line (a whole message) may be large
STDERR_LIMIT: Final = 256 * 1024  # kept for the recording; the head, which says what failed

Stream = Literal["stdin", "stdout"]


class CliExitedError(Exception):
    """The CLI is gone (its stdin is closed); what it wrote is still readable."""


@dataclass(slots=True)
class Transcript:
    """What the recording keeps of a run: argv (no secrets by construction), the names of the
    environment, every line both ways with its time, the exit code and stderr."""

    argv: tuple[str, ...]
    env_names: list[str]
    cwd: str
    lines: list[tuple[float, Stream, str]] = field(default_factory=list)  # (s since start, ...)
    exit_code: int | None = None
    stderr: str = ""
    killed: str | None = None  # why the gateway ended it, if it did


class CliProcess:
    def __init__(
        self,
        proc: asyncio.subprocess.Process,
        transcript: Transcript,
        clock: Callable[[], float],
        on_line: Callable[[Stream, str], None] | None = None,
    ) -> None:
        self._proc = proc
        self.transcript = transcript
        self._clock = clock
        self._on_line = on_line
        self._t0 = clock()
        self._stderr = bytearray()
        self._stderr_task = asyncio.create_task(self._drain_stderr())

    @classmethod
    async def spawn(
        cls,
        inv: Invocation,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_line: Callable[[Stream, str], None] | None = None,
    ) -> CliProcess:
        """Start the CLI; OSError when the executable cannot be run."""
        inv.cwd.mkdir(parents=True, exist_ok=True, mode=0o700)
        proc = await asyncio.create_subprocess_exec(
            *inv.argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=inv.cwd,
            env=dict(inv.env),
            start_new_session=True,  # its own process group: one signal ends it and its children
            limit=LINE_LIMIT,
        )
        return cls(proc, Transcript(inv.argv, inv.env_names, str(inv.cwd)), clock, on_line)

    @property
    def pid(self) -> int:
        return self._proc.pid

    @property
    def running(self) -> bool:
        return self._proc.returncode is None

    async def send(self, obj: JsonObject) -> None:
        text = json.dumps(obj, ensure_ascii=False)
        self._note("stdin", text)
        stdin = self._proc.stdin
        assert stdin is not None
        try:
            stdin.write(text.encode("utf-8", "surrogatepass") + b"\n")
            await stdin.drain()
        except (BrokenPipeError, ConnectionResetError) as e:
            raise CliExitedError("the Claude Code CLI closed its input") from e

    def close_stdin(self) -> None:
        stdin = self._proc.stdin
        if stdin is not None and not stdin.is_closing():
            stdin.close()

    async def readline(self, timeout: float | None) -> str | None:
        """The next stdout line (without its newline); None at the end of the output;
        TimeoutError after ``timeout`` seconds."""
        stdout = self._proc.stdout
        assert stdout is not None
        try:
            raw = await asyncio.wait_for(stdout.readline(), timeout)
        except ValueError as e:  # longer than LINE_LIMIT
            raise CliExitedError(f"the Claude Code CLI wrote a line over {LINE_LIMIT} bytes") from e
        if not raw:
            return None
        text = raw.decode("utf-8", "replace").rstrip("\r\n")
        self._note("stdout", text)
        return text

    async def wait(self, timeout: float) -> int | None:
        """The exit code once it exits by itself within ``timeout`` seconds, else None."""
        try:
            code = await asyncio.wait_for(self._proc.wait(), timeout)
        except TimeoutError:
            return None
        await self._reap()
        return code

    async def stop(self, why: str, grace: float = 3.0) -> int:
        """End it: SIGTERM to the group (the CLI saves its session on SIGTERM), SIGKILL after
        ``grace`` seconds, then reap. Idempotent."""
        if self.running and self.transcript.killed is None:
            self.transcript.killed = why
        self._signal(signal.SIGTERM)
        try:
            code = await asyncio.wait_for(asyncio.shield(self._proc.wait()), grace)
        except TimeoutError:
            self._signal(signal.SIGKILL)
            code = await self._proc.wait()
        await self._reap()
        return code

    async def _reap(self) -> None:
        """After the leader exits: end whatever it left in its group, collect stderr."""
        self._signal(signal.SIGKILL)
        self.close_stdin()
        try:
            await asyncio.wait_for(self._stderr_task, 5)
        except TimeoutError:
            self._stderr_task.cancel()
        self.transcript.exit_code = self._proc.returncode
        self.transcript.stderr = self._stderr.decode("utf-8", "replace")

    def _signal(self, sig: signal.Signals) -> None:
        try:
            os.killpg(self._proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass  # the group is already empty

    async def _drain_stderr(self) -> None:
        stream = self._proc.stderr
        assert stream is not None
        while chunk := await stream.read(65536):
            room = STDERR_LIMIT - len(self._stderr)
            if room > 0:
                self._stderr += chunk[:room]

    def _note(self, stream: Stream, text: str) -> None:
        self.transcript.lines.append((self._clock() - self._t0, stream, text))
        if self._on_line is not None:
            self._on_line(stream, text)
