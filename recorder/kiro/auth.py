"""Kiro access tokens: the two refresh flows and a manager that refreshes ahead of expiry, once
per credential however many requests wait, and again when Kiro rejects a token (403).

UNOFFICIAL (research/kiro.md §4):

- Kiro Desktop ("social": Google / GitHub logins): ``POST
  https://prod.{region}.auth.desktop.kiro.dev/refreshToken`` with ``{"refreshToken"}``; answers
  camelCase ``accessToken``, ``refreshToken`` (rotated), ``profileArn``, ``expiresIn``;
- AWS SSO OIDC (Builder ID, IAM Identity Center, kiro-cli): ``POST
  https://oidc.{region}.amazonaws.com/token`` with JSON ``clientId``, ``clientSecret``,
  ``refreshToken``, ``grantType: "refresh_token"``;
- an external IdP (Entra ID, Okta): the tenant's token endpoint, form-encoded OAuth;
- API keys do not refresh.

HTTP goes through an injected ``httpx.AsyncClient`` (tests hand it a local fake). Nothing here
logs or raises a token: :class:`AuthError` names the endpoint and the error code only.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from recorder.kiro.credentials import Credential, CredentialSource, SqliteSource

if TYPE_CHECKING:  # the client is injected; httpx is loaded by whoever makes it
    import httpx

SOCIAL_URL = "https://prod.{region}.auth.desktop.kiro.dev/refreshToken"
OIDC_URL = "https://oidc.{region}.amazonaws.com/token"
DEFAULT_TTL = 3600
# refresh this long before expiry (kiro-gateway: 600 s; kiro.rs: 5-10 min)
DEFAULT_SKEW = 600.0


class AuthError(Exception):
    """A refresh failed; ``permanent`` when the refresh token itself is dead (invalid_grant)."""

    def __init__(self, message: str, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code

    @property
    def permanent(self) -> bool:
        return self.code in ("invalid_grant", "invalid_client", "unauthorized_client")


@dataclass(frozen=True, slots=True)
class AuthEndpoints:
    """Where each flow refreshes; ``override`` (``kiro_auth_url``) replaces whichever applies."""

    social: str = SOCIAL_URL
    oidc: str = OIDC_URL
    override: str | None = None
    user_agent: str = "KiroIDE"

    def url(self, cred: Credential) -> str:
        if self.override:
            return self.override
        match cred.kind:
            case "social":
                return self.social.format(region=cred.region)
            case "oidc":
                return self.oidc.format(region=cred.region)
            case "external_idp":
                if not cred.token_endpoint:
                    raise AuthError(
                        f"{cred.source}: an external IdP login needs its token endpoint"
                    )
                return cred.token_endpoint
            case "api_key":
                raise AuthError("a Kiro API key does not refresh")


async def refresh(
    client: httpx.AsyncClient, cred: Credential, endpoints: AuthEndpoints, now: float
) -> Credential:
    """``cred`` with a new access token (and a rotated refresh token, a profile ARN when the
    answer has them)."""
    if not cred.refresh_token:
        raise AuthError(f"{cred.source}: the access token expired and there is no refresh token")
    import httpx  # loaded already: ``client`` is one of its clients

    url = endpoints.url(cred)
    snake = cred.kind == "external_idp"
    try:
        if cred.kind == "social":
            r = await client.post(
                url,
                json={"refreshToken": cred.refresh_token},
                headers={"user-agent": endpoints.user_agent},
            )
        elif cred.kind == "oidc":
            r = await client.post(
                url,
                json={
                    "clientId": cred.client_id,
                    "clientSecret": cred.client_secret,
                    "refreshToken": cred.refresh_token,
                    "grantType": "refresh_token",
                },
            )
        else:
            form = {
                "grant_type": "refresh_token",
                "client_id": cred.client_id or "",
                "refresh_token": cred.refresh_token,
            }
            r = await client.post(url, data=form)
    except httpx.HTTPError as e:
        raise AuthError(f"token refresh at {url} failed: {type(e).__name__}") from None
    body: Any
    try:
        body = r.json()
    except ValueError:
        body = {}
    if r.status_code != 200 or not isinstance(body, dict):
        code = body.get("error") if isinstance(body, dict) else None
        code = code if isinstance(code, str) else None
        raise AuthError(
            f"token refresh at {url} answered HTTP {r.status_code}"
            + (f" ({code})" if code else ""),
            r.status_code,
            code,
        )

    def key(camel: str, snake_case: str) -> str:
        return snake_case if snake else camel

    access = body.get(key("accessToken", "access_token"))
    if not isinstance(access, str) or not access:
        raise AuthError(f"token refresh at {url} answered without an access token")
    expires_in = body.get(key("expiresIn", "expires_in"))
    ttl = expires_in if isinstance(expires_in, int | float) and expires_in > 0 else DEFAULT_TTL
    new_refresh = body.get(key("refreshToken", "refresh_token"))
    arn = body.get("profileArn")
    return replace(
        cred,
        access_token=access,
        refresh_token=new_refresh
        if isinstance(new_refresh, str) and new_refresh
        else cred.refresh_token,
        expires_at=now + float(ttl),
        profile_arn=arn if isinstance(arn, str) and arn else cred.profile_arn,
    )


class TokenManager:
    """One credential's access token for every request of the gateway.

    ``current()`` returns a token valid for at least ``skew`` seconds, refreshing first when it
    is not; ``rejected(token)`` is called when Kiro refused ``token`` (403 bearer invalid) and
    refreshes unless another request already did. Both hold one lock around the refresh, so N
    concurrent requests cause one refresh and all use its result. Before refreshing, a kiro-cli
    database is read again: kiro-cli may have refreshed already (its token is then adopted).
    A failed refresh while the old token is still valid keeps the old one.
    """

    def __init__(
        self,
        source: CredentialSource,
        client: httpx.AsyncClient,
        endpoints: AuthEndpoints = AuthEndpoints(),
        skew: float = DEFAULT_SKEW,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.source = source
        self.cred = source.load()
        self._client = client
        self._endpoints = endpoints
        self._skew = skew
        self._clock = clock
        self._lock = asyncio.Lock()
        self.refreshes = 0

    async def current(self) -> Credential:
        cred = self.cred
        if not cred.expired(self._clock(), self._skew):
            return cred
        async with self._lock:
            if self.cred is not cred and not self.cred.expired(self._clock(), self._skew):
                return self.cred  # refreshed while this request waited
            return await self._refresh(forced=False)

    async def rejected(self, token: str | None) -> Credential:
        async with self._lock:
            if self.cred.access_token != token and not self.cred.expired(self._clock()):
                return self.cred
            return await self._refresh(forced=True)

    async def _refresh(self, forced: bool) -> Credential:
        now = self._clock()
        if isinstance(self.source, SqliteSource):
            stored = self.source.load()
            if stored.access_token != self.cred.access_token and not stored.expired(
                now, self._skew
            ):
                self.cred = stored  # kiro-cli refreshed it
                return stored
            if stored.refresh_token != self.cred.refresh_token:
                self.cred = stored  # a newer refresh token (kiro-cli logged in again)
        try:
            fresh = await refresh(self._client, self.cred, self._endpoints, now)
        except AuthError:
            if not forced and not self.cred.expired(now):
                return self.cred  # still valid for a while: try again next time
            raise
        self.refreshes += 1
        self.cred = fresh
        self.source.save(fresh)
        return fresh
