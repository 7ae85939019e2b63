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

Validation happens once, at start-up, with pydantic; a bad file raises
:class:`recorder.errors.ConfigError` naming the file, the route index and the field.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from recorder.errors import ConfigError
from recorder.ir import Dialect

# The vendors' official APIs, used when no upstream is configured (pass-through, client's key).
VENDOR_BASE: dict[Dialect, str] = {
    "anthropic": "https://api.anthropic.com",
    "openai": "https://api.openai.com/v1",
}
VENDOR_HOSTS: dict[str, Dialect] = {"api.anthropic.com": "anthropic", "api.openai.com": "openai"}
# The endpoint each dialect's chat requests go to, relative to an origin (before prefixing).
CHAT_PATH: dict[Dialect, str] = {"anthropic": "/v1/messages", "openai": "/v1/chat/completions"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MatchConfig(_Strict):
    model: str | None = None  # glob over the (aliased) model name
    client: Literal["anthropic", "openai"] | None = None
    header: dict[str, str] = Field(default_factory=dict)  # name -> glob over the value


class RouteConfig(_Strict):
    name: str | None = None
    match: MatchConfig = Field(default_factory=MatchConfig)
    upstream: str
    api: Literal["anthropic", "openai"] | None = None
    model: str | None = None
    key_env: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)

    @field_validator("upstream")
    @classmethod
    def _url(cls, v: str) -> str:
        parse_base_url(v)
        return v


class GatewayConfig(_Strict):
    aliases: dict[str, str] = Field(default_factory=dict)
    routes: list[RouteConfig] = Field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Upstream:
    """A parsed base URL: origin plus an optional path prefix such as ``/api/v1``."""

    scheme: str
    host: str
    port: int
    prefix: str  # no trailing slash; "" for none
    # The Host header of requests sent here, computed once (it is set on every request).
    host_header: str = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        default = 443 if self.scheme == "https" else 80
        value = self.host if self.port == default else f"{self.host}:{self.port}"
        object.__setattr__(self, "host_header", value)

    def path_for(self, endpoint: str) -> str:
        """``endpoint`` (``/v1/...``) under the prefix, without doubling ``/v1``."""
        if self.prefix.endswith("/v1") and (endpoint == "/v1" or endpoint.startswith("/v1/")):
            endpoint = endpoint[3:]
        return self.prefix + endpoint

    def url_for(self, endpoint: str) -> str:
        return f"{self.scheme}://{self.host_header}{self.path_for(endpoint)}"


def parse_base_url(url: str) -> Upstream:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise ValueError(f"not a valid URL: {url!r} ({e})") from e
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"upstream must be an http(s) URL with a host, got {url!r}")
    if parts.query or parts.fragment:
        raise ValueError(f"upstream URL must not have a query or fragment: {url!r}")
    if parts.username or parts.password:
        raise ValueError("upstream URL must not carry credentials; use key_env")
    return Upstream(
        scheme=parts.scheme,
        host=parts.hostname,
        port=port or (443 if parts.scheme == "https" else 80),
        prefix=parts.path.rstrip("/"),
    )


@dataclass(frozen=True, slots=True)
class Route:
    name: str
    upstream: Upstream
    api: Dialect | None  # None: same dialect as the client
    model: str | None = None
    key_env: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    vendor: bool = False  # the vendor's official API, client credentials untouched
    match_model: str | None = None
    match_client: Dialect | None = None
    match_header: tuple[tuple[str, str], ...] = ()

    def dialect_for(self, client: Dialect) -> Dialect:
        return self.api or client

    def key(self) -> str | None:
        return os.environ.get(self.key_env) if self.key_env else None

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


def vendor_route(client: Dialect) -> Route:
    return Route(
        name=f"{client}-official",
        upstream=parse_base_url(VENDOR_BASE[client]),
        api=client,
        vendor=True,
    )


def default_route(upstream: str, api: Dialect | None, key_env: str | None = None) -> Route:
    return Route(name="default", upstream=parse_base_url(upstream), api=api, key_env=key_env)


def _route_from(i: int, rc: RouteConfig) -> Route:
    return Route(
        name=rc.name or f"route{i}",
        upstream=parse_base_url(rc.upstream),
        api=rc.api,
        model=rc.model,
        key_env=rc.key_env,
        headers=tuple(rc.headers.items()),
        match_model=rc.match.model,
        match_client=rc.match.client,
        match_header=tuple((k.lower(), v) for k, v in rc.match.header.items()),
    )


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
    upstream: str | None,
    api: Dialect | None,
    key_env: str | None = None,
) -> Router:
    default = default_route(upstream, api, key_env) if upstream else None
    if config is None:
        return Router(default=default)
    routes = [_route_from(i, rc) for i, rc in enumerate(config.routes)]
    return Router(routes=routes, aliases=dict(config.aliases), default=default)


def load_config(path: str | Path) -> GatewayConfig:
    """Read and validate a routes file; every problem becomes a ConfigError naming its place."""
    p = Path(path)
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"{p}: cannot read routes file: {e.strerror or e}") from e
    except yaml.YAMLError as e:
        raise ConfigError(f"{p}: not valid YAML: {e}") from e
    return parse_config(raw if raw is not None else {}, str(p))


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
            problems.append(f"{source}: {place}: {err['msg']}")
        raise ConfigError("\n".join(problems)) from None


def _place(loc: tuple[int | str, ...]) -> str:
    """pydantic's ``('routes', 2, 'upstream')`` as ``routes[2].upstream``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def dialect_of_path(path: str) -> Dialect | None:
    """The dialect a gateway endpoint belongs to (path without query)."""
    if path.startswith("/v1/messages"):
        return "anthropic"
    if path.startswith("/v1/chat/completions"):
        return "openai"
    return None


def guess_dialect(path: str, headers: Any) -> Dialect:
    """For paths outside the chat endpoints (errors, models): Anthropic clients send
    ``anthropic-version`` (and often ``x-api-key``); everything else is treated as OpenAI."""
    d = dialect_of_path(path)
    if d is not None:
        return d
    if "anthropic-version" in headers or "x-api-key" in headers:
        return "anthropic"
    return "openai"
