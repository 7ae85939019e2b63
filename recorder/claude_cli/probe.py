"""What the gateway learns from the CLI before it serves a request: which executable, whether it
is a version the backend was built against, whether it is logged in, and which models it offers.
None of it makes a model call (docs/claude-cli.md §Authentication, §Models).
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from recorder.claude_cli.invocation import CliPolicy, cli_env
from recorder.claude_cli.models import ALIASES, PINNED_VERSION

# Older CLIs lack what the backend uses (shouldQuery, --resume-session-at, SDK MCP servers).
MIN_VERSION: Final = tuple(int(p) for p in PINNED_VERSION.split("."))
PINNED_RELATIVE: Final = Path("clients/node_modules/.bin/claude")
_VERSION = re.compile(r"^(\d+)\.(\d+)\.(\d+)")
PROBE_TIMEOUT: Final = 30.0


class CliUnavailableError(Exception):
    """The CLI cannot be used; the message is one line saying what to do."""


@dataclass(frozen=True, slots=True)
class CliStatus:
    executable: str
    version: str
    logged_in: bool
    auth_method: str  # "claude.ai" (a subscription), "api_key", "none", ...


@dataclass(frozen=True, slots=True)
class CliModel:
    id: str  # what a client sends as "model" ("sonnet", "opus[1m]", "default")
    resolves_to: str  # the full id the CLI sends upstream
    display_name: str
    description: str = ""


def resolve_executable(configured: str | None, path: str | None, repo: Path) -> str | None:
    """``claude_cli_path`` if set, else ``claude`` on PATH, else the pinned one in clients/."""
    if configured:
        found = shutil.which(configured, path=path) if "/" not in configured else configured
        return found if found and Path(found).exists() else None
    found = shutil.which("claude", path=path)
    if found:
        return found
    pinned = repo / PINNED_RELATIVE
    return str(pinned) if pinned.exists() else None


def parse_version(text: str) -> tuple[int, ...] | None:
    m = _VERSION.match(text.strip())
    return tuple(int(g) for g in m.groups()) if m else None


async def check(
    executable: str, env: Mapping[str, str], policy: CliPolicy | None = None
) -> CliStatus:
    """Version and login of the CLI; CliUnavailableError (one line) when it cannot serve."""
    clean = cli_env(env, policy or CliPolicy())
    version = _version(executable, await _run([executable, "--version"], clean))
    try:
        status = json.loads(await _run([executable, "auth", "status"], clean, check=False))
    except ValueError:
        status = {}
    return _status(executable, version, status)


def check_sync(
    executable: str, env: Mapping[str, str], policy: CliPolicy | None = None
) -> CliStatus:
    """:func:`check` for a caller without an event loop to await in (the gateway's start-up)."""
    clean = cli_env(env, policy or CliPolicy())
    version = _version(executable, _run_sync([executable, "--version"], clean))
    try:
        status = json.loads(_run_sync([executable, "auth", "status"], clean, check=False))
    except ValueError:
        status = {}
    return _status(executable, version, status)


def _version(executable: str, out: str) -> tuple[int, ...]:
    version = parse_version(out)
    if version is None:
        raise CliUnavailableError(
            f"{executable} --version said {out.strip()[:80]!r}, not a Claude Code version"
        )
    if version < MIN_VERSION:
        raise CliUnavailableError(
            f"Claude Code {'.'.join(map(str, version))} at {executable} is too old: the "
            f"claude-cli backend needs >= {PINNED_VERSION} (npm install -g "
            f"@anthropic-ai/claude-code, or set claude_cli_path)"
        )
    return version


def _status(executable: str, version: tuple[int, ...], status: Any) -> CliStatus:
    status = status if isinstance(status, dict) else {}
    return CliStatus(
        executable,
        ".".join(map(str, version)),
        bool(status.get("loggedIn")),
        str(status.get("authMethod", "unknown")),
    )


async def list_models(
    executable: str, env: Mapping[str, str], policy: CliPolicy | None = None
) -> list[CliModel]:
    """The models the CLI offers this login (its ``initialize`` answer); the pinned version's
    short names when it cannot say."""
    clean = cli_env(env, policy or CliPolicy())
    argv = [
        executable,
        "--print",
        "--input-format",
        "stream-json",
        "--output-format",
        "stream-json",
        "--verbose",
        "--tools",
        "",
        "--setting-sources",
        "",
        "--strict-mcp-config",
        "--no-session-persistence",
    ]
    init = {"type": "control_request", "request_id": "models", "request": {"subtype": "initialize"}}
    with tempfile.TemporaryDirectory(prefix="tapegate-claude-") as cwd:
        try:
            out = await _run(argv, clean, stdin=json.dumps(init) + "\n", cwd=cwd, check=False)
        except CliUnavailableError:
            out = ""
    for line in out.splitlines():
        try:
            d = json.loads(line)
        except ValueError:
            continue
        if isinstance(d, dict) and d.get("type") == "control_response":
            models = models_of((d.get("response") or {}).get("response") or {})
            if models:
                return models
    return [CliModel(short, full, short.title()) for short, full in ALIASES.items()]


def models_of(init_response: dict[str, Any]) -> list[CliModel]:
    out = []
    for m in init_response.get("models") or []:
        if isinstance(m, dict) and isinstance(m.get("value"), str):
            value = m["value"]
            resolved = m.get("resolvedModel") or ALIASES.get(value, value)
            out.append(
                CliModel(
                    value,
                    str(resolved),
                    str(m.get("displayName") or value),
                    str(m.get("description") or ""),
                )
            )
    return out


def _run_sync(argv: list[str], env: Mapping[str, str], *, check: bool = True) -> str:
    try:
        proc = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            env=dict(env),
            timeout=PROBE_TIMEOUT,
            check=False,
            start_new_session=True,
        )
    except OSError as e:
        raise CliUnavailableError(_cannot_run(argv[0], e)) from e
    except subprocess.TimeoutExpired:
        raise CliUnavailableError(
            f"{argv[0]} {argv[1]} did not answer within {PROBE_TIMEOUT:g} s"
        ) from None
    if check and proc.returncode != 0:
        raise CliUnavailableError(
            f"{argv[0]} {argv[1]} failed (exit {proc.returncode}): "
            f"{proc.stderr.decode(errors='replace').strip()[:200]}"
        )
    return proc.stdout.decode(errors="replace")


def _cannot_run(executable: str, e: OSError) -> str:
    return (
        f"cannot run the Claude Code CLI {executable!r}: {e.strerror or e}; install it "
        "(npm install -g @anthropic-ai/claude-code) or set claude_cli_path"
    )


async def _run(
    argv: list[str],
    env: Mapping[str, str],
    *,
    stdin: str | None = None,
    cwd: str | None = None,
    check: bool = True,
) -> str:
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,
        )
    except OSError as e:
        raise CliUnavailableError(_cannot_run(argv[0], e)) from e
    try:
        out, err = await asyncio.wait_for(
            proc.communicate(stdin.encode() if stdin is not None else None), PROBE_TIMEOUT
        )
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise CliUnavailableError(
            f"{argv[0]} {argv[1]} did not answer within {PROBE_TIMEOUT:g} s"
        ) from None
    if check and proc.returncode != 0:
        raise CliUnavailableError(
            f"{argv[0]} {argv[1]} failed (exit {proc.returncode}): "
            f"{err.decode(errors='replace').strip()[:200]}"
        )
    return out.decode(errors="replace")
