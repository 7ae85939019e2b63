"""One run of a real client's command line (Claude Code, Codex), offline: the process started
with an environment built from scratch, stdin closed, and what it printed kept, its JSON lines
parsed. :mod:`fakes.claude_code` and :mod:`fakes.codex` add what each client's output means."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar


@dataclass
class CliRun:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    lines: list[dict[str, Any]] = field(default_factory=list)  # stdout's JSON lines

    def describe(self) -> str:
        return (
            f"$ {' '.join(self.argv)}\nrc={self.returncode} in {self.seconds:.2f}s\n"
            f"--- stdout ---\n{self.stdout[-4000:]}\n--- stderr ---\n{self.stderr[-4000:]}"
        )


R = TypeVar("R", bound=CliRun)


def run_cli(
    kind: type[R], argv: Sequence[str], *, cwd: Path, env: Mapping[str, str], timeout: float
) -> R:
    """Run ``argv`` to its end (stdin is ``/dev/null``: the clients otherwise wait for more
    input) and return what it did as a ``kind``."""
    t0 = time.monotonic()
    proc = subprocess.run(
        list(argv),
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    run = kind(list(argv), proc.returncode, proc.stdout, proc.stderr, time.monotonic() - t0)
    for raw in proc.stdout.splitlines():
        raw = raw.strip()
        if raw.startswith("{"):
            try:
                run.lines.append(json.loads(raw))
            except ValueError:
                pass
    return run


def installed_version(binary: Path, version_in: Callable[[str], str]) -> str | None:
    """The version ``binary --version`` reports (``version_in`` picks it out of the output),
    None when the binary is missing or does not answer."""
    if not binary.exists():
        return None
    try:
        out = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return version_in(out.stdout) or None
