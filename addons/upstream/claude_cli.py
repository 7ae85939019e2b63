"""The local Claude Code CLI as the gateway's backend: ``--set gateway_upstream=claude-cli``, or
``upstream: claude-cli`` on a route (recorder/routes_file.py).

One :class:`CliRuntime` per gateway holds what every claude-cli backend shares — the CLI
(``claude_cli_path``: else ``claude`` on PATH, else the pinned one in ``clients/``), the
environment it gets, the process pool, the session map, the check that the CLI is usable and the
models it offers. Each backend (the default upstream, or one per route, with the route's policy:
tools, permission mode) is a :class:`ClaudeCliUpstream`, whose loopback server
(:mod:`.claude_cli_server`) starts with the first request that needs it.

When the CLI is the default upstream the gateway refuses to start, in one line, if it is missing
or too old; when only routes use it, their requests get a 503 naming the fix until it is there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from addons.upstream.claude_cli_options import CliOptions, SessionLookup
from addons.upstream.claude_cli_server import CliServer
from recorder.backends import Credentials, Upstream, parse_base_url
from recorder.claude_cli.invocation import CliPolicy
from recorder.claude_cli.models import ALIASES
from recorder.claude_cli.pool import CliPool
from recorder.claude_cli.probe import (
    CliStatus,
    CliUnavailableError,
    check,
    check_sync,
    list_models,
    resolve_executable,
)
from recorder.claude_cli.sessions import CliSession, Recorded
from recorder.claude_cli.turn import ClaudeCliBackend, CliSettings
from recorder.ir import Dialect

logger = logging.getLogger("tapegate.gateway")

DIALECT: Final[Dialect] = "claude_cli"  # what the gateway speaks to it (its recorded leg)
REPO: Final = Path(__file__).resolve().parents[2]
RECHECK_AFTER: Final = 5.0  # seconds between checks while the CLI is unusable
MODELS_WAIT: Final = 10.0  # seconds GET /v1/models waits for the CLI's own list (a Node start)


def recorded_sessions(lookup: SessionLookup | None) -> Recorded | None:
    """The CLI backend's question to the recording (None: nothing records)."""
    if lookup is None:
        return None

    async def recorded(kind: Literal["conversation", "name"], value: str) -> CliSession | None:
        if not lookup.can_look_up:
            return None
        found = await lookup.recorded_backend_session(DIALECT, kind, value)
        if found is None or not isinstance(found.get("cwd"), str):
            return None
        leaf = found.get("leaf")
        return CliSession(found["id"], Path(found["cwd"]), leaf if isinstance(leaf, str) else None)

    return recorded


class CliRuntime:
    """What every claude-cli backend of one gateway shares (see the module docstring)."""

    def __init__(
        self, options: CliOptions, env: Mapping[str, str], recorded: Recorded | None = None
    ) -> None:
        self.options = options
        self.env = dict(env)
        self.executable = resolve_executable(options.path, self.env.get("PATH"), REPO)
        settings = CliSettings(
            self.executable or options.path or "claude", options.workdir, options.timeout
        )
        pool = CliPool(options.max_concurrency, options.queue_timeout)
        self.backend = ClaudeCliBackend(settings, self.env, pool, recorded=recorded)
        self.status: CliStatus | None = None
        self._failed: tuple[float, str] | None = None
        self._models: list[str] | None = None
        self._models_task: asyncio.Task[None] | None = None
        self.upstreams: dict[CliPolicy, ClaudeCliUpstream] = {}

    def upstream(self, policy: CliPolicy) -> ClaudeCliUpstream:
        """The backend with this policy (a route's, or the default upstream's): one server per
        policy, kept across reconfigurations."""
        up = self.upstreams.get(policy)
        if up is None:
            up = self.upstreams[policy] = ClaudeCliUpstream(self, policy)
        return up

    def check_now(self) -> CliStatus:
        """At start-up, when the CLI is the default upstream: CliUnavailableError (one line)."""
        self.status = check_sync(self._require(), self.env)
        self._logged(self.status)
        return self.status

    async def ready(self) -> None:
        """Before a run: the CLI is there and new enough (checked once; while it is not,
        again at most every few seconds). CliUnavailableError names the fix."""
        if self.status is not None:
            return
        now = time.monotonic()
        if self._failed is not None and now - self._failed[0] < RECHECK_AFTER:
            raise CliUnavailableError(self._failed[1])
        try:
            self.status = await check(self._require(), self.env)
        except CliUnavailableError as e:
            self._failed = (now, str(e))
            raise
        self._logged(self.status)

    async def models(self) -> list[str]:
        """The models to list: what the CLI offers this login (asked once; callers share the
        question and wait for it at most MODELS_WAIT), else the pinned version's names."""
        if self._models is None and self._models_task is None and self.executable:
            self._models_task = asyncio.get_running_loop().create_task(self._ask_models())
        if self._models is None and self._models_task is not None:
            # shielded: a caller that gives up (or goes away) leaves the question to the others
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self._models_task), MODELS_WAIT)
        if self._models:
            return self._models
        return list(ALIASES) + list(ALIASES.values())

    async def _ask_models(self) -> None:
        assert self.executable is not None
        models = await list_models(self.executable, self.env)
        names = [m.id for m in models] + [m.resolves_to for m in models]
        names += [*ALIASES, *ALIASES.values()]  # the short names work whatever the login
        self._models = list(dict.fromkeys(names))

    async def shutdown(self) -> None:
        for up in self.upstreams.values():
            await up.stop()
        await self.backend.shutdown()
        if self._models_task is not None:
            self._models_task.cancel()

    def _require(self) -> str:
        if self.executable is None:
            where = self.options.path or "claude on PATH nor clients/node_modules/.bin/claude"
            raise CliUnavailableError(
                f"the Claude Code CLI is not installed (no {where}); install it "
                "(npm install -g @anthropic-ai/claude-code) or set claude_cli_path"
            )
        return self.executable

    def _logged(self, status: CliStatus) -> None:
        login = "logged in" if status.logged_in else "NOT logged in (requests will get 401)"
        logger.info(
            f"tapegate: Claude Code {status.version} at {status.executable}, {login} "
            f"({status.auth_method})"
        )


@dataclass(slots=True)
class ClaudeCliUpstream:
    """The CLI as a :class:`recorder.backends.Backend`: it answers in the ``claude_cli`` dialect
    from its own loopback server."""

    runtime: CliRuntime
    policy: CliPolicy
    dialect: Dialect | None = DIALECT
    _server: CliServer | None = None
    _lock: asyncio.Lock | None = None

    def endpoint(self) -> Upstream | None:
        if self._server is None or self._server.port == 0:
            return None
        return parse_base_url(self._server.url)

    async def start(self) -> Upstream:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._server is None:
                self._server = CliServer(self.runtime.backend, self.policy, self.runtime.ready)
            return parse_base_url(await self._server.start())

    async def credentials(self) -> Credentials | None:
        if self._server is None:
            await self.start()
        assert self._server is not None
        return Credentials(self._server.token)

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop()
            self._server = None

    async def models(self) -> list[str]:
        return await self.runtime.models()

    def label(self) -> str:
        """For the start-up banner: which CLI, and what it may do."""
        exe = self.runtime.executable or f"{self.runtime.options.path or 'claude'} (NOT FOUND)"
        tools = ", ".join(self.policy.tools) or "no tools"
        return f"the Claude Code CLI {exe}, {tools}"

    def key_source(self) -> str:
        return "the CLI's own login; the client's key is never passed on"


def reopen(
    current: CliRuntime | None, options: CliOptions | None, recorded: Recorded | None = None
) -> CliRuntime | None:
    """The runtime after a (re)configure: the running one when its options did not change,
    else a new one (the old one's processes are ended). ``recorded``: where it looks up a
    conversation its memory does not know."""
    if current is not None and options is not None and current.options == options:
        return current
    if current is not None:
        task = asyncio.get_running_loop().create_task(current.shutdown())
        _stopping.add(task)
        task.add_done_callback(_stopping.discard)
    return CliRuntime(options, os.environ, recorded) if options is not None else None


_stopping: set[asyncio.Task[None]] = set()
