"""Kiro as a backend of the gateway (:class:`recorder.backends.Backend`).

It answers in the ``kiro`` dialect at the endpoint of the configured generation and region (or
``gateway_upstream``), presents an access token it refreshes itself (ahead of expiry, and again
when Kiro refuses one: :meth:`KiroBackend.renew`), hands the codec its settings and the
credential's profile ARN before each request is translated (:meth:`KiroBackend.prepare`), and
lists the subscription's models for ``/v1/models``.

Options (fixed names, read by ``addons/options.py``): ``kiro_credentials`` (a Kiro IDE JSON
token file or the kiro-cli SQLite database, told apart by content; unset: ``KIRO_*``
environment variables), ``kiro_auth_url`` (the token refresh endpoint), ``kiro_region`` (the API
region), ``kiro_profile_arn``, plus ``kiro_generation`` and ``kiro_thinking``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from recorder.backends import BackendError, Credentials, Upstream, parse_base_url
from recorder.codecs.kiro_settings import DEFAULT_SETTINGS, KiroSettings
from recorder.context import Context
from recorder.ir import Dialect
from recorder.kiro.auth import AuthEndpoints, AuthError, TokenManager
from recorder.kiro.credentials import Credential, CredentialError, CredentialSource, open_source
from recorder.kiro.endpoint import DEFAULT_GENERATION, GENERATIONS, Endpoint, api_region
from recorder.kiro.models import ModelCatalog, ModelInfo, fetch_models

if TYPE_CHECKING:
    import httpx

__all__ = ["KiroBackend", "KiroConfig"]

BAD_TOKEN = "bearer token"  # Kiro's 403 for a token it no longer takes


@dataclass(frozen=True, slots=True)
class KiroConfig:
    credentials: str | None = None  # kiro_credentials; None: the environment
    auth_url: str | None = None  # kiro_auth_url
    region: str | None = None  # kiro_region; None: from the profile ARN / credential
    profile_arn: str | None = None  # kiro_profile_arn; None: the credential's
    generation: str = DEFAULT_GENERATION  # kiro_generation
    base_url: str | None = None  # gateway_upstream (or a route's upstream): replaces the host
    thinking_tags: bool = False  # kiro_thinking
    max_body: int = DEFAULT_SETTINGS.max_body_bytes  # kiro_max_body
    models_ttl: float = 3600.0

    def __post_init__(self) -> None:
        if self.generation not in GENERATIONS:
            raise ValueError(
                f"kiro_generation must be one of {', '.join(GENERATIONS)}, got {self.generation!r}"
            )


class KiroBackend:
    """One Kiro credential and endpoint; shared by every route that names it."""

    def __init__(
        self,
        config: KiroConfig,
        source: CredentialSource | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Reads the credentials now, so that a missing or unreadable file stops the gateway at
        start-up with the file named (CredentialError is a ConfigError)."""
        self.config = config
        self._source = source or open_source(config.credentials)
        first = self._source.load()
        self._clock = clock
        self._endpoint = Endpoint(
            GENERATIONS[config.generation], api_region(config.region, first), config.base_url
        )
        self._upstream = _origin(self._endpoint.chat_url())
        self._first = first
        self._http: httpx.AsyncClient | None = None
        self._tokens: TokenManager | None = None
        self._catalog: ModelCatalog | None = None

    @property
    def dialect(self) -> Dialect:
        return "kiro"

    def endpoint(self) -> Upstream | None:
        return self._upstream if self._tokens is not None else None

    def label(self) -> str:
        """Where requests go, for the gateway's start-up block (before any is sent)."""
        up = self._upstream
        return (
            f"Kiro {self._endpoint.generation.name} in {self._endpoint.region} at "
            f"{up.scheme}://{up.host_header}{up.prefix}"
        )

    def key_source(self) -> str:
        renewed = ", refreshed by the gateway" if self._first.refresh_token else ""
        return f"{self._first.kind} login from {self._source.description}{renewed}"

    async def start(self) -> Upstream:
        if self._tokens is None:
            # httpx only now, with the first request to Kiro: importing it takes ~0.2 s
            import httpx

            self._http = httpx.AsyncClient(trust_env=False, timeout=30)
            endpoints = AuthEndpoints(override=self.config.auth_url)
            self._tokens = TokenManager(self._source, self._http, endpoints, clock=self._clock)
            self._tokens.cred = self._first
            self._catalog = ModelCatalog(self._fetch_models, self.config.models_ttl, self._clock)
        return self._upstream

    async def stop(self) -> None:
        if self._http is not None:
            await self._http.aclose()
        self._http = self._tokens = self._catalog = None

    # ------------------------------------------------------------------ per request

    async def prepare(self, ctx: Context) -> None:
        """What the codec needs before it translates: the settings and this credential's
        profile ARN (a login without one learns it from its first refresh), the model list
        known so far (ids and context windows)."""
        cred = await self._current()
        models = self._catalog.cached() if self._catalog is not None else None
        ctx.upstream_options = KiroSettings(
            profile_arn=self.config.profile_arn or _arn_for(cred),
            thinking_tags=self.config.thinking_tags,
            max_body_bytes=self.config.max_body,
            origin=self._endpoint.generation.origin,
            known_models=models.ids()
            if models is not None and models.source != "static"
            else frozenset(),
            context_windows=models.windows() if models is not None else {},
        ).to_json()

    async def _current(self) -> Credential:
        await self.start()
        assert self._tokens is not None
        try:
            return await self._tokens.current()
        except (AuthError, CredentialError) as e:
            raise BackendError("authentication", f"Kiro credentials: {e}") from None

    async def credentials(self) -> Credentials:
        cred = await self._current()
        headers = self._endpoint.chat_headers(cred)
        del headers["authorization"]  # the gateway writes the key in the dialect's key style
        return Credentials(cred.access_token, tuple(headers.items()))

    async def renew(self, status: int, body: bytes, key: str | None) -> bool:
        """Kiro refused ``key`` with ``status``: True when it was a token Kiro no longer takes
        and a fresh one is ready (send again), False for anything a new token cannot fix."""
        if status != 403 or BAD_TOKEN not in body.decode("utf-8", "replace").lower():
            return False
        await self.start()
        assert self._tokens is not None
        try:
            await self._tokens.rejected(key)
        except (AuthError, CredentialError):
            return False
        return True

    async def models(self) -> list[str]:
        await self.start()
        assert self._catalog is not None
        return [m.id for m in (await self._catalog.get()).models]

    async def _fetch_models(self) -> list[ModelInfo]:
        assert self._http is not None and self._tokens is not None
        return await fetch_models(self._http, self._endpoint, self._tokens)


def _origin(url: str) -> Upstream:
    parts = urlsplit(url)
    path = parts.path
    chat = "/generateAssistantResponse"
    prefix = path[: -len(chat)] if path.endswith(chat) else path.rstrip("/")
    return parse_base_url(f"{parts.scheme}://{parts.netloc}{prefix}")


def _arn_for(cred: Credential) -> str | None:
    # API keys carry no profile (kiro.rs 2ue); every other login sends its own when it has one.
    return None if cred.kind == "api_key" else cred.profile_arn


def from_options(url: str | None, options: dict[str, object]) -> KiroBackend:
    """The backend for ``gateway_upstream_api=kiro`` (or a route's ``api: kiro``); ``url``
    replaces the service's host (``gateway_upstream`` / the route's ``upstream``)."""

    def text(name: str) -> str | None:
        value = options.get(name)
        return str(value) if value else None

    try:
        config = KiroConfig(
            credentials=text("kiro_credentials"),
            auth_url=text("kiro_auth_url"),
            region=text("kiro_region"),
            profile_arn=text("kiro_profile_arn"),
            generation=text("kiro_generation") or DEFAULT_GENERATION,
            base_url=url,
            thinking_tags=bool(options.get("kiro_thinking")),
            max_body=int(str(options.get("kiro_max_body") or DEFAULT_SETTINGS.max_body_bytes)),
        )
    except ValueError as e:
        raise CredentialError(str(e)) from None
    return KiroBackend(config)
