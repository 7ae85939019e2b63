"""Locate the pinned Codex CLI and run it non-interactively (``codex exec --json``) against a
gateway, offline.

Codex ignores ``OPENAI_BASE_URL``; what points it at a local URL is a model provider in
``$CODEX_HOME/config.toml`` (shared/research/clients.md §4). Each run gets a fresh ``CODEX_HOME``
with that file: the provider's ``base_url`` is the gateway's ``/v1`` (Codex appends
``/responses``), retries are off (one turn is one request, so a failure is not re-sent), and
analytics, plugins and apps are off (they are the only other egress). stdin is ``/dev/null``:
Codex otherwise waits for more input.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fakes import cli_run
from fakes.cli_run import CliRun, run_cli
from fakes.procs import REPO

CODEX_VERSION = "0.169.0"
CODEX_BIN = REPO / "clients" / "node_modules" / ".bin" / "codex"
FAKE_API_KEY = "fake-key-for-tests-0000000000000"
KEY_ENV = "TAPEGATE_FAKE_OPENAI_KEY"
MODEL = "gpt-5.5"  # a slug Codex knows: no "model metadata not found" warning item


def config_toml(base_url: str, model: str = MODEL) -> str:
    return f"""\
model = "{model}"
model_provider = "tapegate"
check_for_update_on_startup = false

[model_providers.tapegate]
name = "tapegate"
base_url = "{base_url}"
env_key = "{KEY_ENV}"
wire_api = "responses"
request_max_retries = 0
stream_max_retries = 0

[analytics]
enabled = false

[features]
plugins = false
remote_plugin = false
apps = false
"""


def installed_version(binary: Path = CODEX_BIN) -> str | None:
    return cli_run.installed_version(binary, lambda out: out.strip().rsplit(" ", 1)[-1])
    # "codex-cli 0.169.0"


class CodexRun(CliRun):
    @property
    def events(self) -> list[dict[str, Any]]:
        """The ``--json`` lines."""
        return self.lines

    def items(self, item_type: str) -> list[dict[str, Any]]:
        """Completed items of a type: ``agent_message``, ``command_execution``,
        ``file_change``, ``reasoning`` ..."""
        return [
            e["item"]
            for e in self.events
            if e.get("type") == "item.completed" and e.get("item", {}).get("type") == item_type
        ]

    @property
    def completed(self) -> dict[str, Any] | None:
        """The ``turn.completed`` event (with usage), None when the turn did not complete."""
        return next((e for e in self.events if e.get("type") == "turn.completed"), None)

    @property
    def failed(self) -> dict[str, Any] | None:
        return next((e for e in self.events if e.get("type") == "turn.failed"), None)

    @property
    def answer(self) -> str:
        return "".join(i.get("text", "") for i in self.items("agent_message"))


def run_codex(
    binary: Path,
    prompt: str,
    *,
    base_url: str,
    home: Path,
    cwd: Path,
    extra_args: Sequence[str] = (),
    extra_env: Mapping[str, str] | None = None,
    timeout: float = 90.0,
) -> CodexRun:
    """``codex exec --json PROMPT`` with ``base_url`` (the gateway's ``.../v1``) as provider."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(config_toml(base_url))
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "HOME": str(home),
        "CODEX_HOME": str(home),
        "TMPDIR": os.environ.get("TMPDIR", "/tmp"),
        KEY_ENV: FAKE_API_KEY,
        **(extra_env or {}),
    }
    argv = [str(binary), "exec", "--skip-git-repo-check", "--json", *extra_args, prompt]
    return run_cli(CodexRun, argv, cwd=cwd, env=env, timeout=timeout)
