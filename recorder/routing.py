"""Where a request goes: the routes and route matching. Pure (no mitmproxy).

The routes come from a routes file, read and validated by :mod:`recorder.routes_file` (with
pydantic, which a gateway without a routes file never loads: it costs a start ~0.1 s).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any, Final

from recorder import dialects
from recorder.backends import (
    Backend,
    BackendOptions,
    Upstream,
    backend_for,
    vendor_backend,
)
from recorder.errors import ConfigError
from recorder.ir import Dialect

if TYPE_CHECKING:
    from recorder.claude_cli.invocation import CliPolicy
    from recorder.routes_file import GatewayConfig, RouteConfig

CLAUDE_CLI: Final = "claude-cli"  # a route's upstream: the local Claude Code CLI

# Makes the backend of a claude-cli route from its policy (the gateway owns the CLI runtime).
CliBackends = Callable[["CliPolicy"], Backend]


def route_name(i: int, rc: RouteConfig) -> str:
    return rc.name or f"route{i}"


@dataclass(frozen=True, slots=True)
class Route:
    name: str
    backend: Backend
    model: str | None = None  # model rename (sent upstream)
    headers: tuple[tuple[str, str], ...] = ()
    match_model: str | None = None
    match_client: Dialect | None = None
    match_header: tuple[tuple[str, str], ...] = ()

    def dialect_for(self, client: Dialect) -> Dialect:
        return self.backend.dialect or client

    def matches(self, model: str | None, client: Dialect, headers: Any) -> bool:
        if self.match_client is not None and self.match_client != client:
            return False
        if self.match_model is not None and not fnmatchcase(model or "", self.match_model):
            return False
        for name, pattern in self.match_header:
            value = headers.get(name)
            if value is None or not fnmatchcase(value, pattern):
                return False
        return True


@functools.cache
def vendor_route(client: Dialect) -> Route:
    """The client's vendor's API with the client's own credentials (nothing configured)."""
    return Route(name=f"{client}-official", backend=vendor_backend(client))


def default_route(backend: Backend) -> Route:
    return Route(name="default", backend=backend)


def _route_from(i: int, rc: RouteConfig, options: BackendOptions, cli: CliBackends | None) -> Route:
    api = dialects.parse(rc.api, "api") if rc.api is not None else None
    client = dialects.parse(rc.match.client, "client", "client") if rc.match.client else None
    return Route(
        name=route_name(i, rc),
        backend=_backend(rc, api, options, cli),
        model=rc.model,
        headers=tuple(rc.headers.items()),
        match_model=rc.match.model,
        match_client=client,
        match_header=tuple((k.lower(), v) for k, v in rc.match.header.items()),
    )


def _backend(
    rc: RouteConfig, api: Dialect | None, options: BackendOptions, cli: CliBackends | None
) -> Backend:
    if rc.upstream != CLAUDE_CLI:
        if rc.claude_cli is not None:
            raise ConfigError(f"claude_cli is only for upstream: {CLAUDE_CLI}")
        return backend_for(api, rc.upstream, rc.key_env, options)
    if api is not None or rc.key_env is not None:
        raise ConfigError(f"upstream {CLAUDE_CLI} takes no api or key_env")
    if cli is None:
        raise ConfigError(f"upstream {CLAUDE_CLI} is not available here")
    return cli(rc.cli_policy())


@dataclass(slots=True)
class Router:
    """Picks the route of a request: aliases first, then the first matching route, then the
    default (``gateway_upstream``) or, with no upstream configured, the client's vendor."""

    routes: list[Route] = field(default_factory=list)
    aliases: dict[str, str] = field(default_factory=dict)
    default: Route | None = None

    def alias(self, model: str | None) -> str | None:
        if model is None:
            return None
        if model in self.aliases:
            return self.aliases[model]
        for pattern, target in self.aliases.items():
            if fnmatchcase(model, pattern):
                return target
        return model

    def resolve(self, model: str | None, client: Dialect, headers: Any) -> Route:
        for route in self.routes:
            if route.matches(model, client, headers):
                return route
        return self.default or vendor_route(client)

    def first_aim(self, client: Dialect) -> tuple[Route, Upstream]:
        """Where a request is aimed as soon as its headers arrive (mitmproxy must never try to
        connect to the proxy itself): the default route, or the client's vendor while the
        default backend does not listen yet (it is started before the request is sent)."""
        if self.default is not None:
            up = self.default.backend.endpoint()
            if up is not None:
                return self.default, up
        vendor = vendor_route(client)
        return vendor, vendor_backend(client).upstream

    def backends(self) -> list[Backend]:
        """Every backend a request may reach (the routes', then the default's), once each."""
        out: list[Backend] = []
        for r in [*self.routes, *([self.default] if self.default is not None else [])]:
            if not any(b is r.backend for b in out):
                out.append(r.backend)
        return out

    def upstream_addresses(self) -> frozenset[tuple[str, int]]:
        """(host, port) of every configured upstream that listens (the vendors' are not
        configured; a local backend that has not started yet has no address)."""
        routes = [*self.routes, *([self.default] if self.default else [])]
        endpoints = [r.backend.endpoint() for r in routes]
        return frozenset((e.host, e.port) for e in endpoints if e is not None)

    def models(self) -> list[str]:
        """Model names the routes offer (for ``GET /v1/models``): aliases, renames, literal
        (glob-free) patterns, in file order, without duplicates."""
        names: list[str] = []
        candidates = list(self.aliases)
        for r in self.routes:
            candidates += [r.match_model or "", r.model or ""]
        for n in candidates:
            if n and not any(c in n for c in "*?[") and n not in names:
                names.append(n)
        return names


def build_router(
    config: GatewayConfig | None,
    default_backend: Backend | None,
    options: BackendOptions = (),
    cli: CliBackends | None = None,
) -> Router:
    """The routes of ``config`` (if any) before the default route to ``default_backend``
    (``gateway_upstream``; None: the client's vendor). ``options``: those of the dialects' own
    backends (``kiro_*``), for routes to such a dialect; ``cli`` makes the backends of routes
    whose upstream is the Claude Code CLI. ConfigError naming the route when a route's backend
    cannot be built."""
    default = default_route(default_backend) if default_backend is not None else None
    if config is None:
        return Router(default=default)
    routes = []
    for i, rc in enumerate(config.routes):
        try:
            routes.append(_route_from(i, rc, options, cli))
        except (ValueError, ConfigError) as e:  # e.g. a route's Kiro credentials, CLI policy
            raise ConfigError(f"routes[{i}]: {e}") from None
    return Router(routes=routes, aliases=dict(config.aliases), default=default)
