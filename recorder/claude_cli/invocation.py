"""How the CLI is started: argv (a list, never a shell line) and an allow-listed environment.

Everything in argv comes from the gateway's configuration (:class:`CliPolicy`, set per route by
the operator) or is validated here (the model name, the session id). What a client sends reaches
the CLI only on stdin, as stream-json lines (:mod:`recorder.codecs.claude_cli_input`): the
system prompt travels in the ``initialize`` control request, the conversation as user /
assistant lines. So no client text can become an option, and nothing a client sends can widen
the tools or the permission mode.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal

from recorder.claude_cli.models import cli_model
from recorder.errors import ConfigError

if TYPE_CHECKING:
    from recorder.codecs.claude_cli_input import Effort

PermissionMode = Literal["acceptEdits", "auto", "bypassPermissions", "default", "dontAsk", "plan"]
PERMISSION_MODES: Final[tuple[PermissionMode, ...]] = (
    "acceptEdits",
    "auto",
    "bypassPermissions",
    "default",
    "dontAsk",
    "plan",
)

# The name of the in-process MCP server through which the client's own tools are offered (the
# CLI sends its MCP traffic to us as control requests; docs/claude-cli.md §Client tools).
MCP_SERVER: Final = "client"
MCP_CONFIG: Final = json.dumps({"mcpServers": {MCP_SERVER: {"type": "sdk", "name": MCP_SERVER}}})

_TOOL_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

# The gateway's environment reaches the CLI only through this list (plus a route's names).
ENV_NAMES: Final = frozenset(
    {
        "HOME",
        "PATH",
        "USER",
        "LOGNAME",
        "LANG",
        "LC_ALL",
        "LC_CTYPE",
        "TZ",
        "TMPDIR",
        "ANTHROPIC_BASE_URL",
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_AUTH_TOKEN",
        "CLAUDE_CONFIG_DIR",  # where a non-default login lives
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "NODE_EXTRA_CA_CERTS",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "NO_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "no_proxy",
        "all_proxy",
    }
)
ENV_PREFIXES: Final = ("CLAUDE_CODE_", "DISABLE_")

# Defaults for a CLI run by a gateway; the operator overrides any of them in the gateway's env.
ENV_DEFAULTS: Final[Mapping[str, str]] = {
    # a broken stream fails instead of being re-sent without streaming, which would repeat
    # text the client already has
    "CLAUDE_CODE_DISABLE_NONSTREAMING_FALLBACK": "1",
    # the client sees Anthropic's 429/529 at once and applies its own retry policy
    "CLAUDE_CODE_MAX_RETRIES": "0",
    # a server process: no telemetry, no self-update of the binary under a running gateway
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    "DISABLE_AUTOUPDATER": "1",
}
# Set whatever the environment says: the client's tools keep their own names only with this.
ENV_FORCED: Final[Mapping[str, str]] = {"CLAUDE_AGENT_SDK_MCP_NO_PREFIX": "1"}


@dataclass(frozen=True, slots=True)
class CliPolicy:
    """What a route lets the CLI do. Defaults: a pure chat model (no tools at all)."""

    tools: tuple[str, ...] = ()  # built-in tools the CLI may use, pre-approved (e.g. "Read")
    permission_mode: PermissionMode | None = None
    max_turns: int | None = None  # model calls per client turn (tool loops)
    env_names: tuple[str, ...] = ()  # more variables from the gateway's env
    system_prompt: Literal["replace", "append"] = "replace"  # the client's vs Claude Code's own

    def __post_init__(self) -> None:
        for name in self.tools:
            if not _TOOL_NAME.fullmatch(name):
                raise ConfigError(f"claude-cli tools: {name!r} is not a tool name")
        if self.permission_mode is not None and self.permission_mode not in PERMISSION_MODES:
            raise ConfigError(
                f"claude-cli permission_mode: {self.permission_mode!r} is not one of "
                + ", ".join(PERMISSION_MODES)
            )
        if self.max_turns is not None and self.max_turns < 1:
            raise ConfigError("claude-cli max_turns must be at least 1")
        for name in self.env_names:
            if not _ENV_NAME.fullmatch(name):
                raise ConfigError(f"claude-cli env: {name!r} is not an environment variable name")
        if self.system_prompt not in ("replace", "append"):
            raise ConfigError("claude-cli system_prompt must be 'replace' or 'append'")


@dataclass(frozen=True, slots=True)
class SessionRef:
    """The CLI session a run writes: a new one with this id, or an existing one resumed (at
    message ``leaf``, or at its end)."""

    id: str
    resume: bool
    leaf: str | None = None

    def __post_init__(self) -> None:
        for value in (self.id, self.leaf):  # the CLI wants the canonical form
            if value is not None and str(uuid.UUID(value)) != value:
                raise ValueError(f"{value!r} is not a canonical UUID")
        if self.leaf is not None and not self.resume:
            raise ValueError("a new session has no message to resume at")


@dataclass(frozen=True, slots=True)
class Invocation:
    argv: tuple[str, ...]
    env: Mapping[str, str] = field(repr=False)  # values may be credentials: never recorded
    cwd: Path

    @property
    def env_names(self) -> list[str]:
        """What the recording keeps of the environment: the names, never the values."""
        return sorted(self.env)


def build_argv(
    executable: str,
    model: str,
    policy: CliPolicy,
    session: SessionRef,
    *,
    client_tools: bool,
    effort: Effort | None = None,
    json_schema: str | None = None,
) -> tuple[str, ...]:
    argv = [
        executable,
        "--print",
        "--input-format",
        "stream-json",
        "--output-format",
        "stream-json",
        "--verbose",  # required by stream-json output
        "--include-partial-messages",  # token-level stream_event lines
        "--model",
        cli_model(model),
        "--tools",
        ",".join(policy.tools),  # "" = no built-in tools at all
        "--setting-sources",
        "",  # no user/project settings: no hooks, no CLAUDE.md, no plugins from the operator's HOME
        "--strict-mcp-config",  # no MCP servers but ours
        "--permission-prompt-tool",
        "stdio",  # any tool the rules do not pre-approve is asked of the gateway, which says no
    ]
    if policy.tools:
        argv += ["--allowedTools", ",".join(policy.tools)]
    if policy.permission_mode is not None:
        argv += ["--permission-mode", policy.permission_mode]
    if policy.max_turns is not None:
        argv += ["--max-turns", str(policy.max_turns)]
    if effort is not None:
        argv += ["--effort", effort]
    if json_schema is not None:
        argv += ["--json-schema", json_schema]  # JSON text: one element, never an option
    if client_tools:
        argv += ["--mcp-config", MCP_CONFIG]
    argv += ["--resume" if session.resume else "--session-id", session.id]
    if session.leaf is not None:
        argv += ["--resume-session-at", session.leaf]
    return tuple(argv)


def cli_env(source: Mapping[str, str], policy: CliPolicy) -> dict[str, str]:
    """The CLI's environment: the allow-listed part of the gateway's own, the gateway defaults
    where the operator set nothing, and the variables the backend depends on."""
    extra = frozenset(policy.env_names)
    env = {
        k: v
        for k, v in source.items()
        if k in ENV_NAMES or k in extra or k.startswith(ENV_PREFIXES)
    }
    for k, v in ENV_DEFAULTS.items():
        env.setdefault(k, v)
    env.update(ENV_FORCED)
    return env
