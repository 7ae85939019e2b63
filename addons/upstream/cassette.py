"""A cassette as the gateway's upstream: ``--set gateway_upstream=cassettes/x`` (a directory
holding ``cassette.json`` instead of a URL), so the whole flow runs offline.

The cassette is served by :func:`replay.server.start` (role ``upstream``) on a free loopback port
inside mitmproxy's own event loop, and the gateway's default route points at it. Why a task and
not ``await`` in a hook: mitmproxy 12 calls a *script's* ``configure``/``running`` synchronously
(``invoke_addon_sync`` refuses coroutines), but the loop is already running then, so the server
start is scheduled there as a task and the first request awaits it (:meth:`CassetteUpstream.url`).

The cassette is the default route's backend (:class:`CassetteBackend`, see
:mod:`recorder.backends`): the first request that needs it waits until its server listens.

Played interactions answer again by default (``gateway_replay_repeat``): the gateway retries
429/5xx, and a newcomer repeats requests; a request matching nothing gets the replay's 404 that
names the closest recorded request and the first difference, translated into the client's dialect.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path

from recorder import dialects
from recorder.backends import Credentials, Upstream, env_credentials, parse_base_url
from recorder.context import Context
from recorder.ir import Dialect
from replay.cassette import Cassette, CassetteError, load
from replay.engine import Timing
from replay.server import ReplayServer, start

logger = logging.getLogger("tapegate.gateway")
_stopping: set[asyncio.Task[None]] = set()  # strong references until the old servers stop


def recorded_dialect(cassette: Cassette) -> Dialect | None:
    """The upstream dialect the cassette was recorded against, if it has exactly one (among
    those the gateway can send upstream)."""
    found: set[Dialect] = set()
    for it in cassette.interactions:
        spec = dialects.named(it.upstream_dialect or "")
        if it.upstream is not None and spec is not None and spec.upstream:
            found.add(spec.name)
    return found.pop() if len(found) == 1 else None


@dataclass(slots=True)
class CassetteUpstream:
    directory: Path
    cassette: Cassette
    timing: Timing
    repeat: bool
    _task: asyncio.Task[ReplayServer] | None = field(default=None, repr=False)
    endpoint: Upstream | None = field(default=None, repr=False)  # once the server listens

    @classmethod
    def open(cls, directory: str, timing: str, repeat: bool) -> CassetteUpstream:
        """Load and check the cassette now, so a bad one fails at start-up (ValueError)."""
        try:
            cassette = load(directory)
            parsed = Timing.parse(timing)
        except CassetteError as e:
            raise ValueError(f"gateway_upstream: {e}") from None
        except ValueError as e:
            raise ValueError(f"gateway_replay_timing: {e}") from None
        return cls(Path(directory).resolve(), cassette, parsed, repeat)

    @property
    def key(self) -> tuple[Path, Timing, bool]:
        return self.directory, self.timing, self.repeat

    @property
    def dialect(self) -> Dialect | None:
        return recorded_dialect(self.cassette)

    def start(self) -> None:
        """Schedule the replay server in the running loop (mitmproxy's)."""
        if self._task is None:
            coro = start(self.cassette, role="upstream", timing=self.timing, repeat=self.repeat)
            self._task = asyncio.get_running_loop().create_task(coro)
            self._task.add_done_callback(self._started)

    def _started(self, task: asyncio.Task[ReplayServer]) -> None:
        if not task.cancelled() and task.exception() is None:
            srv = task.result()
            self.endpoint = parse_base_url(srv.url)
            logger.info(f"tapegate: upstream is cassette {self.directory} on {srv.url}")

    async def url(self) -> str:
        """Where the replay listens (waits for the server on the first call)."""
        self.start()
        assert self._task is not None
        return (await self._task).url

    async def stop(self) -> None:
        task, self._task, self.endpoint = self._task, None, None
        if task is None:
            return
        if not task.done():
            task.cancel()
        try:
            srv = await task
        except (asyncio.CancelledError, OSError):
            return
        engine = srv.engine
        played = sum(1 for n in engine.play_counts().values() if n)
        logger.info(
            f"tapegate: cassette {self.cassette.name}: played {played}/"
            f"{len(engine.play_counts())} interactions, {len(engine.misses)} misses"
        )
        await srv.stop()


@dataclass(frozen=True, slots=True)
class CassetteBackend:
    """The cassette as a :class:`recorder.backends.Backend`: it answers in ``dialect`` (the one
    it was recorded against, unless configured), from its own server in the proxy's loop."""

    cassette: CassetteUpstream
    dialect: Dialect | None
    key_env: str | None = None  # gateway_upstream_key_env applies to a cassette too

    def label(self) -> str:
        return f"cassette {self.cassette.directory}"

    def endpoint(self) -> Upstream | None:
        return self.cassette.endpoint

    async def start(self) -> Upstream:
        await self.cassette.url()  # the server's start was scheduled when it was opened
        assert self.cassette.endpoint is not None
        return self.cassette.endpoint

    async def credentials(self) -> Credentials | None:
        return env_credentials(self.key_env)

    async def stop(self) -> None:
        await self.cassette.stop()

    async def prepare(self, ctx: Context) -> None:
        """What the recorded backend told its codec (Kiro's settings, its profile ARN), so that
        requests translate as they did when the cassette was recorded and match it."""
        for it in self.cassette.cassette.interactions:
            options = it.meta.get("upstream_options")
            if isinstance(options, dict) and it.upstream_dialect == ctx.upstream:
                ctx.upstream_options = options
                return


def reopen(
    current: CassetteUpstream | None, directory: str | None, timing: str, repeat: bool
) -> CassetteUpstream | None:
    """The cassette to serve after a (re)configure, already scheduled to start: the running one
    when nothing it depends on changed (it keeps its play counts), else a new one, the old one
    being stopped. None when gateway_upstream is not a cassette. ValueError when unusable."""
    new = None
    if directory is not None:
        new = CassetteUpstream.open(directory, timing, repeat)
        if current is not None and current.key == new.key:
            new = current
    if current is not None and current is not new:
        task = asyncio.get_running_loop().create_task(current.stop())
        _stopping.add(task)
        task.add_done_callback(_stopping.discard)
    if new is not None:
        new.start()
    return new
