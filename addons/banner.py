"""What is in effect, said once at start: where the gateway listens, where each request goes
(routes, the default upstream, or each client's vendor), where it records, and who may use it.

A typo in an option used to change where prompts go without a word (issue 12); this block is
the one place to check it. Nothing secret: key variables are named, never read out.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from mitmproxy import ctx

from addons.startup import listen_failure, listeners_settled, listeners_settling, stop_start
from recorder import dialects
from recorder.backends import Backend
from recorder.routing import Route, Router

logger = logging.getLogger("tapegate")


@runtime_checkable
class Labelled(Protocol):
    """A backend that says what it is better than its endpoint can (a cassette, a program)."""

    def label(self) -> str: ...


@runtime_checkable
class KeySourced(Protocol):
    """A backend that finds its own key (Kiro: tokens from a login it refreshes): it names
    where from, never the key."""

    def key_source(self) -> str: ...


@dataclass(frozen=True, slots=True)
class InEffect:
    """What the start-up block shows, gathered from the addons' configuration."""

    listen: str  # http://host:port
    router: Router
    config: str | None  # the routes file
    gateway_key: bool
    allow_remote: bool
    recording: tuple[str, ...]  # the database and/or cassette being written; () when off


def lines(s: InEffect) -> list[str]:
    out = [f"tapegate gateway on {s.listen}"]
    if s.config is not None:
        aliases = f", {counted(len(s.router.aliases), 'model alias')}" if s.router.aliases else ""
        out.append(f"  routes     {s.config}: {counted(len(s.router.routes), 'route')}{aliases}")
        out += [f"    {_route(r)}" for r in s.router.routes]
    if s.router.default is not None:
        out.append(f"  upstream   {_backend(s.router.default.backend)}")
    else:
        vendors = ", ".join(
            f"{d} -> {base}"
            for d in dialects.CLIENT_DIALECTS
            if (base := dialects.entry(d).vendor_base) is not None
        )
        head = "else: " if s.config is not None else ""
        out.append(
            f"  upstream   {head}each client's vendor API, with the client's own key ({vendors})"
        )
    out.append(f"  recording  {' and '.join(s.recording) if s.recording else 'off'}")
    if s.gateway_key:
        clients = "must present gateway_key (never sent upstream)"
    elif s.allow_remote:
        clients = "any, from anywhere (no gateway_key, gateway_allow_remote=true)"
    else:
        clients = "any on this machine (no gateway_key)"
    out.append(f"  clients    {clients}")
    return out


def _route(r: Route) -> str:
    match = [f"model {r.match_model}"] if r.match_model else []
    match += [f"client {r.match_client}"] if r.match_client else []
    match += [f"header {k}: {v}" for k, v in r.match_header]
    rename = f" as model {r.model}" if r.model else ""
    return f"{r.name} ({', '.join(match) or 'everything'}) -> {_backend(r.backend)}{rename}"


def _backend(b: Backend) -> str:
    where = b.label() if isinstance(b, Labelled) else _endpoint(b)
    dialect = b.dialect or "the client's dialect"
    key_env = getattr(b, "key_env", None)
    if isinstance(b, KeySourced):
        key = b.key_source()
    elif not key_env:
        key = "the client's key"
    elif os.environ.get(key_env):
        key = f"key from ${key_env}"
    else:
        key = f"${key_env} is NOT SET: the client's key is passed on"
    return f"{where} ({dialect}; {key})"


def _endpoint(b: Backend) -> str:
    up = b.endpoint()
    if up is None:
        return type(b).__name__
    return f"{up.scheme}://{up.host_header}{up.prefix}"


class Banner:
    """Logs :func:`lines` once mitmproxy runs and listens (after the gateway has settled its
    address); a listener that could not bind stops the start in one line instead."""

    def __init__(self, gateway: Any, recorder: Any) -> None:
        self.gateway = gateway
        self.recorder = recorder

    def running(self) -> Coroutine[Any, Any, None] | None:
        # Awaited by mitmproxy at start, while the listeners bind; not a coroutine function,
        # since a script reloaded while running gets its running hook called synchronously.
        if listeners_settling(ctx.master):
            return self._once_listening()
        self._say()
        return None

    async def _once_listening(self) -> None:
        await listeners_settled(ctx.master)
        self._say()

    def _say(self) -> None:
        failure = listen_failure(ctx.master)
        if failure is not None:
            stop_start(failure)
            return
        o = ctx.options
        host = o.listen_host or "0.0.0.0"
        port = o.listen_port or 8080
        recording = []
        if self.recorder.db is not None:
            recording.append(str(self.recorder.db))
        if self.recorder.cassette is not None:
            recording.append(f"cassette {self.recorder.cassette.directory}")
        state = InEffect(
            listen=f"http://{host}:{port}",
            router=self.gateway.router,
            config=self.gateway.opts.config,
            gateway_key=self.gateway.opts.key is not None,
            allow_remote=self.gateway.opts.allow_remote,
            recording=tuple(recording),
        )
        logger.info("\n".join(lines(state)))


def counted(n: int, noun: str) -> str:
    """A count with its noun in the number it needs: "1 route", "2 routes"."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}es" if noun.endswith("s") else f"{n} {noun}s"
