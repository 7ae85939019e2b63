"""Backends: what answers the requests of a route, behind one small protocol the gateway calls.

The gateway resolves a request's route, translates the request into the dialect of the route's
backend, and lets mitmproxy send it to the backend's endpoint over its own pooled connection;
the answer streams back through the translator (the hot path stays mitmproxy's). So a backend
says three things:

* **which dialect it answers in** — ``None``: the client's own (pass-through);
* **where it listens** — a remote origin, or a loopback server it runs itself inside the proxy's
  event loop (a cassette, a local program such as the Claude Code CLI: mitmproxy cannot stream
  a response an addon builds, so a backend that is no HTTP server serves one); the recording's
  upstream leg is whatever it was sent and answered;
* **how a request authenticates** — a key of its own (from the environment, or a token it obtains
  and refreshes itself, as Kiro's), presented in its dialect's key style, plus any headers its
  requests need; or the client's own credentials.

:class:`RemoteBackend` is an HTTP upstream at a base URL (the vendor's API when nothing is
configured); :class:`addons.upstream.cassette.CassetteBackend` replays a cassette.
"""

from __future__ import annotations

import functools
import importlib
import os
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable
from urllib.parse import urlsplit

from recorder import dialects
from recorder.context import Context
from recorder.ir import Dialect, ErrorKind
from recorder.secrets import redact_url


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
    # A refusal says which URL without its secrets: it is printed and logged, and a key in
    # a URL's userinfo or query (?api_key=) is what it refuses.
    shown = repr(redact_url(url))
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise ValueError(f"not a valid URL: {shown} ({e})") from e
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"upstream must be an http(s) URL with a host, got {shown}")
    if parts.username or parts.password:
        raise ValueError("upstream URL must not carry credentials; use key_env")
    if parts.query or parts.fragment:
        raise ValueError(f"upstream URL must not have a query or fragment: {shown}")
    return Upstream(
        scheme=parts.scheme,
        host=parts.hostname,
        port=port or (443 if parts.scheme == "https" else 80),
        prefix=parts.path.rstrip("/"),
    )


@dataclass(frozen=True, slots=True)
class Credentials:
    """What a backend's requests present instead of the client's credentials."""

    key: str | None = None  # written in the dialect's key style (x-api-key, bearer)
    headers: tuple[tuple[str, str], ...] = ()  # more headers its requests need


class BackendError(Exception):
    """A backend cannot serve a request (e.g. its credentials cannot be refreshed): the client
    gets ``kind`` (an IR error kind) and ``message`` in its own dialect."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind


class Backend(Protocol):
    """What answers a route's requests (see the module docstring)."""

    @property
    def dialect(self) -> Dialect | None:
        """The dialect it answers in; None: the client's own."""

    def endpoint(self) -> Upstream | None:
        """Where it listens; None while it is not started (a local backend)."""

    async def start(self) -> Upstream:
        """Be ready to answer and say where (once; later calls return at once)."""

    async def credentials(self) -> Credentials | None:
        """What its requests present; None: the client's own credentials travel on."""

    async def stop(self) -> None: ...


# What some backends do beyond the protocol; the gateway asks with isinstance (no names).


@runtime_checkable
class PreparesRequests(Protocol):
    async def prepare(self, ctx: Context) -> None:
        """Give its dialect's codec what this request needs before it is translated (settings,
        per-credential fields) in ``ctx.upstream_options``."""


@runtime_checkable
class RenewsCredentials(Protocol):
    async def renew(self, status: int, body: bytes, key: str | None) -> bool:
        """The upstream refused ``key`` with ``status`` and ``body``: True when fresh
        credentials are ready and the request is worth sending again (once)."""


@runtime_checkable
class ListsModels(Protocol):
    async def models(self) -> list[str]:
        """The model ids it offers (``GET /v1/models``)."""


@dataclass(frozen=True, slots=True)
class RemoteBackend:
    """An HTTP upstream at a base URL, in some dialect; its key (if any) from the environment."""

    upstream: Upstream
    dialect: Dialect | None = None
    key_env: str | None = None

    @classmethod
    def at(
        cls, url: str, dialect: Dialect | None = None, key_env: str | None = None
    ) -> RemoteBackend:
        """ValueError when ``url`` is not a usable base URL."""
        return cls(parse_base_url(url), dialect, key_env)

    def endpoint(self) -> Upstream:
        return self.upstream

    async def start(self) -> Upstream:
        return self.upstream

    async def credentials(self) -> Credentials | None:
        return env_credentials(self.key_env)

    async def stop(self) -> None:
        pass


def env_credentials(key_env: str | None) -> Credentials | None:
    """The key in the environment variable ``key_env``; None when unset (the client's own)."""
    key = os.environ.get(key_env) if key_env else None
    return Credentials(key) if key is not None else None


@functools.cache
def vendor_backend(client: Dialect) -> RemoteBackend:
    """The official API of ``client``'s vendor: the client's own dialect and credentials."""
    base = dialects.entry(client).vendor_base
    if base is None:
        raise ValueError(f"dialect {client!r} has no vendor API to fall back on")
    return RemoteBackend.at(base, client)


# --------------------------------------------------------------------------- own backends

# An option a dialect's own backend reads: (name, type, default, help), as mitmproxy declares it.
OptionSpec = tuple[str, type, object, str]
BackendOptions = tuple[tuple[str, object], ...]  # (name, value) of those options, hashable


class BackendFactory(Protocol):
    def __call__(self, url: str | None, options: dict[str, object]) -> Backend: ...


def _factory_module(dialect: Dialect) -> tuple[object, str] | None:
    ref = dialects.entry(dialect).backend
    if ref is None:
        return None
    module, _, attr = ref.partition(":")
    return importlib.import_module(module), attr


def backend_option_specs() -> list[OptionSpec]:
    """Every option the dialects' own backends read (the gateway declares them)."""
    out: list[OptionSpec] = []
    for e in dialects.ENTRIES:
        if e.backend_options is not None:
            out += importlib.import_module(e.backend_options).OPTIONS
    return out


def backend_for(
    dialect: Dialect | None, url: str | None, key_env: str | None, options: BackendOptions = ()
) -> Backend:
    """The backend of an upstream in ``dialect`` at ``url``: the dialect's own (one per
    distinct configuration, so routes sharing a credential share its refreshes) or a plain
    :class:`RemoteBackend`. ValueError (naming the option) when it cannot be built."""
    found = _factory_module(dialect) if dialect is not None else None
    if found is None:
        if url is None:
            raise ValueError("an upstream URL is needed")
        return RemoteBackend.at(url, dialect, key_env)
    return _own_backend(dialect, url, options)


@functools.lru_cache(maxsize=32)
def _own_backend(dialect: Dialect, url: str | None, options: BackendOptions) -> Backend:
    found = _factory_module(dialect)
    assert found is not None
    factory: BackendFactory = getattr(found[0], found[1])
    return factory(url, dict(options))
