"""The claude_cli_* options, read and checked at start whether or not the CLI is used, and
what the CLI backend asks of the recorder. The backend itself (:mod:`addons.upstream.claude_cli`,
with the codecs it speaks) loads only when the CLI answers for the default upstream or a route.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal, Protocol

from recorder.claude_cli.invocation import PERMISSION_MODES, CliPolicy

UPSTREAM_NAME: Final = "claude-cli"  # the value of gateway_upstream / a route's upstream

OPTIONS: list[tuple[str, type, Any, str]] = [
    (
        "claude_cli_path",
        str,
        "",
        "The Claude Code CLI for gateway_upstream=claude-cli (and routes with upstream: "
        "claude-cli). Empty: claude on PATH, else the pinned one in clients/.",
    ),
    (
        "claude_cli_workdir",
        str,
        "",
        "Folder of the CLI sessions' working directories, one per session (never the gateway's "
        "cwd). Empty: $XDG_STATE_HOME/tapegate/claude-cli (~/.local/state/...).",
    ),
    (
        "claude_cli_max_concurrency",
        int,
        8,
        "CLI processes at once (each ~300 MB at its peak and ~0.7 CPU-seconds to start); "
        "requests beyond it wait claude_cli_queue_timeout, then get a 429 with retry-after.",
    ),
    ("claude_cli_queue_timeout", str, "30", "Seconds a request waits for a free CLI slot."),
    ("claude_cli_timeout", str, "600", "Seconds a CLI turn may take before it is killed."),
    (
        "claude_cli_tools",
        str,
        "",
        "Built-in tools the CLI may run for gateway_upstream=claude-cli, comma-separated "
        "(e.g. Read,Grep). Empty: none, a pure chat model. Clients cannot widen it.",
    ),
    (
        "claude_cli_permission_mode",
        str,
        "",
        "The CLI's --permission-mode for gateway_upstream=claude-cli: "
        + " | ".join(PERMISSION_MODES)
        + ". Empty: the CLI's default.",
    ),
    (
        "claude_cli_system_prompt",
        str,
        "replace",
        "replace: the client's system prompt replaces Claude Code's own; append: it is added.",
    ),
]


@dataclass(frozen=True, slots=True)
class CliOptions:
    path: str | None = None
    workdir: Path = field(default_factory=lambda: default_workdir(os.environ))
    max_concurrency: int = 8
    queue_timeout: float = 30.0
    timeout: float = 600.0
    policy: CliPolicy = field(default_factory=CliPolicy)


def default_workdir(env: Mapping[str, str]) -> Path:
    state = env.get("XDG_STATE_HOME") or str(
        Path(env.get("HOME", "~")).expanduser() / ".local/state"
    )
    return Path(state) / "tapegate" / "claude-cli"


def read_cli_options(o: Any, seconds: Any) -> CliOptions:
    """The claude_cli_* options (``seconds`` parses a duration option); ValueError naming one."""
    from recorder.errors import ConfigError

    if o.claude_cli_max_concurrency < 1:
        raise ValueError("claude_cli_max_concurrency must be at least 1")
    timeout = seconds("claude_cli_timeout", o.claude_cli_timeout)
    if timeout == 0:
        raise ValueError("claude_cli_timeout must be more than 0")
    tools = tuple(t.strip() for t in o.claude_cli_tools.split(",") if t.strip())
    try:
        policy = CliPolicy(
            tools=tools,
            permission_mode=o.claude_cli_permission_mode or None,
            system_prompt=o.claude_cli_system_prompt,
        )
    except ConfigError as e:
        raise ValueError(str(e)) from None
    workdir = Path(o.claude_cli_workdir).expanduser() if o.claude_cli_workdir else None
    if workdir is not None and workdir.resolve() == Path.cwd().resolve():
        raise ValueError("claude_cli_workdir must not be the gateway's working directory")
    return CliOptions(
        path=o.claude_cli_path or None,
        workdir=workdir or default_workdir(os.environ),
        max_concurrency=o.claude_cli_max_concurrency,
        queue_timeout=seconds("claude_cli_queue_timeout", o.claude_cli_queue_timeout),
        timeout=timeout,
        policy=policy,
    )


class SessionLookup(Protocol):
    """The recorder, as far as finding where the CLI left a conversation goes."""

    @property
    def can_look_up(self) -> bool: ...

    async def recorded_backend_session(
        self, backend: str, kind: Literal["conversation", "name"], value: str
    ) -> dict[str, Any] | None: ...
