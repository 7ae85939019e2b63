"""Where a request goes: the routes file, its validation, and route matching. Pure (no mitmproxy).

A routes file (``gateway_config``) is YAML::

    aliases:                        # model names rewritten before matching (glob -> name)
      haiku: qwen3:8b
      "claude-haiku-*": qwen3:8b
    routes:                         # first match wins; unmatched traffic uses the default route
      - name: local
        match: {model: "qwen*", client: anthropic, header: {x-team: "a*"}}
        upstream: http://127.0.0.1:11434/v1
        api: openai                 # the upstream's dialect; omitted = the client's own
        model: qwen3:8b             # model rename (sent upstream)
        key_env: OLLAMA_KEY         # upstream key from this environment variable
        headers: {x-extra: "1"}     # added to the upstream request
      - name: claude
        match: {model: "sonnet*"}
        upstream: claude-cli        # the local Claude Code CLI answers
        claude_cli:                 # what it may do for this route (default: nothing but answer)
          tools: [Read, Grep]
          permission_mode: acceptEdits
          max_turns: 4
          env: [MY_VAR]             # more variables of the gateway's environment for the CLI
          system_prompt: append     # the client's added to Claude Code's own (default: replace)

Validation happens once, at start-up, with pydantic; a bad file raises
:class:`recorder.errors.ConfigError` naming the file, the route index and the field.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from recorder import dialects
from recorder.backends import (
    Backend,
    BackendOptions,
    Upstream,
    backend_for,
    parse_base_url,
    vendor_backend,
)
from recorder.claude_cli.invocation import CliPolicy, PermissionMode
from recorder.errors import ConfigError
from recorder.ir import Dialect

CLAUDE_CLI: Final = "claude-cli"  # a route's upstream: the local Claude Code CLI

# Makes the backend of a claude-cli route from its policy (the gateway owns the CLI runtime).
CliBackends = Callable[[CliPolicy], Backend]


def _dialect(value: str | None, choices: tuple[Dialect, ...]) -> str | None:
    """A dialect name among ``choices`` (pydantic's own wording for a bad literal)."""
    if value is None or value in choices:
        return value
    quoted = [f"'{c}'" for c in choices]
    expected = ", ".join(quoted[:-1]) + " or " + quoted[-1] if len(quoted) > 1 else quoted[0]
    raise PydanticCustomError("literal_error", "Input should be {expected}", {"expected": expected})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MatchConfig(_Strict):
    model: str | None = None  # glob over the (aliased) model name
    client: str | None = None  # a client dialect
    header: dict[str, str] = Field(default_factory=dict)  # name -> glob over the value

    @field_validator("client")
    @classmethod
    def _client(cls, v: str | None) -> str | None:
        return _dialect(v, dialects.CLIENT_DIALECTS)


class CliRouteConfig(_Strict):
    """What the Claude Code CLI may do for a route (``upstream: claude-cli``)."""

    tools: list[str] = Field(default_factory=list)
    permission_mode: PermissionMode | None = None
    max_turns: int | None = Field(default=None, ge=1)
    env: list[str] = Field(default_factory=list)
    system_prompt: Literal["replace", "append"] = "replace"

    def policy(self) -> CliPolicy:
        return CliPolicy(
            tuple(self.tools),
            self.permission_mode,
            self.max_turns,
            tuple(self.env),
            self.system_prompt,
        )


class RouteConfig(_Strict):
    name: str | None = None
    match: MatchConfig = Field(default_factory=MatchConfig)
    api: str | None = None  # the upstream's dialect
    # Needed unless the api brings its own backend (Kiro finds its service from its options).
    upstream: str | None = Field(default=None, validate_default=True)
    model: str | None = None
    key_env: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    claude_cli: CliRouteConfig | None = None

    @field_validator("upstream")
    @classmethod
    def _url(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is not None:
            if v != CLAUDE_CLI:
                parse_base_url(v)
            return v
        api = info.data.get("api")
        found = dialects.named(api) if isinstance(api, str) else None
        if found is None or found.backend is None:
            raise PydanticCustomError("missing", "Field required")
        return v

    @field_validator("api")
    @classmethod
    def _api(cls, v: str | None) -> str | None:
        return _dialect(v, dialects.UPSTREAM_DIALECTS)


class GatewayConfig(_Strict):
    aliases: dict[str, str] = Field(default_factory=dict)
    routes: list[RouteConfig] = Field(default_factory=list)

    @field_validator("routes")
    @classmethod
    def _names_unique(cls, routes: list[RouteConfig]) -> list[RouteConfig]:
        """The recording, the console and ``gateway_fault_only=route:NAME`` tell routes apart
        by name (an unnamed one is ``routeN``, N its index)."""
        first: dict[str, int] = {}
        for i, rc in enumerate(routes):
            name = route_name(i, rc)
            if name in first:
                raise ValueError(f"routes[{i}] has the name {name!r} of routes[{first[name]}]")
            first[name] = i
        return routes


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
    return cli((rc.claude_cli or CliRouteConfig()).policy())


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


def load_config(path: str | Path) -> GatewayConfig:
    """Read and validate a routes file; every problem becomes a ConfigError naming its place."""
    import yaml  # only with a routes file: loading it costs every gateway's start ~0.1 s

    p = Path(path)
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"{p}: cannot read routes file: {e.strerror or e}") from e
    except UnicodeDecodeError as e:
        raise ConfigError(
            f"{p}: not UTF-8 text (byte {e.object[e.start]:#04x} at offset {e.start})"
        ) from e
    except yaml.YAMLError as e:
        raise ConfigError(f"{p}: not valid YAML{_yaml_problem(e)}") from e
    return parse_config(raw if raw is not None else {}, str(p))


def _yaml_problem(e: Exception) -> str:
    """PyYAML's several lines (context, a caret under a copy of the line) as one: where and
    what. ``e`` is a ``yaml.YAMLError``; those without a place say only what."""
    mark, problem = getattr(e, "problem_mark", None), getattr(e, "problem", None)
    if mark is None:
        return f": {' '.join(str(e).split())}"
    return f" at line {mark.line + 1}, column {mark.column + 1}: {problem or 'unreadable'}"


def parse_config(raw: Any, source: str = "<config>") -> GatewayConfig:
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{source}: the top level must be a mapping with 'routes' (and 'aliases')"
        )
    try:
        return GatewayConfig.model_validate(raw)
    except ValidationError as e:
        problems = []
        for err in e.errors():
            place = _place(err["loc"])
            msg = err["msg"].removeprefix("Value error, ")  # pydantic's wrapping of a ValueError
            problems.append(f"{source}: {place}: {msg}")
        raise ConfigError("\n".join(problems)) from None


def _place(loc: tuple[int | str, ...]) -> str:
    """pydantic's ``('routes', 2, 'upstream')`` as ``routes[2].upstream``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"
