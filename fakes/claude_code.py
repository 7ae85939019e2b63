"""Locate the pinned Claude Code CLI and run it non-interactively against a base URL.

The environment is built from scratch (not inherited) so that a developer's own ``ANTHROPIC_*``
variables or ``~/.claude`` can never leak into a test: a fresh ``HOME``, a fake key, and the
switches from shared/research/clients.md §3 that make a broken stream fail instead of being
retried without streaming.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fakes import cli_run
from fakes.cli_run import CliRun, run_cli
from fakes.procs import REPO

CLIENTS_DIR = REPO / "clients"
# The pin lives in clients/package.json (npm ci installs exactly its lockfile).
CLAUDE_CODE_VERSION: str = json.loads((CLIENTS_DIR / "package.json").read_text())["dependencies"][
    "@anthropic-ai/claude-code"
]
CLAUDE_BIN = CLIENTS_DIR / "node_modules" / ".bin" / "claude"
FAKE_API_KEY = "fake-key-for-tests-0000000000000"

# Why each switch is there: clients.md §3 and §10.
QUIET_ENV = {
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",  # the one switch that stops all other egress
    "DISABLE_TELEMETRY": "1",
    "DISABLE_AUTOUPDATER": "1",
    "DISABLE_ERROR_REPORTING": "1",
    "CLAUDE_CODE_MAX_RETRIES": "0",  # an upstream error fails at once, one request
    "CLAUDE_CODE_DISABLE_NONSTREAMING_FALLBACK": "1",  # a broken stream fails, not re-sent
}


def installed_version(binary: Path = CLAUDE_BIN) -> str | None:
    return cli_run.installed_version(binary, lambda out: out.split(" ", 1)[0].strip())


def ensure_installed() -> tuple[Path | None, str]:
    """Return (binary, "") when the pinned CLI is installed, else (None, what is missing).
    Never installs it: ``scripts/install-clients.sh`` does (see tests/prereqs.py)."""
    have = installed_version()
    if have == CLAUDE_CODE_VERSION:
        return CLAUDE_BIN, ""
    return None, f"Claude Code {CLAUDE_CODE_VERSION} (clients/node_modules has {have or 'none'})"


class ClaudeRun(CliRun):
    @property
    def result(self) -> dict[str, Any]:
        """The final ``{"type":"result",...}`` line of ``--output-format stream-json``."""
        for line in reversed(self.lines):
            if line.get("type") == "result":
                return line
        raise AssertionError(f"no result line in Claude Code output\n{self.describe()}")

    def assistant_blocks(self, block_type: str) -> list[dict[str, Any]]:
        out = []
        for line in self.lines:
            if line.get("type") == "assistant":
                for block in (line.get("message") or {}).get("content") or []:
                    if block.get("type") == block_type:
                        out.append(block)
        return out


def run_claude(
    binary: Path,
    prompt: str,
    *,
    base_url: str,
    home: Path,
    cwd: Path,
    extra_args: Sequence[str] = (),
    extra_env: Mapping[str, str] | None = None,
    timeout: float = 90.0,
) -> ClaudeRun:
    home.mkdir(parents=True, exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "HOME": str(home),
        "TMPDIR": os.environ.get("TMPDIR", "/tmp"),
        "ANTHROPIC_BASE_URL": base_url,
        "ANTHROPIC_API_KEY": FAKE_API_KEY,
        **QUIET_ENV,
        **(extra_env or {}),
    }
    argv = [
        str(binary),
        "-p",
        prompt,
        "--output-format",
        "stream-json",
        "--verbose",
        *extra_args,
    ]
    return run_cli(ClaudeRun, argv, cwd=cwd, env=env, timeout=timeout)
