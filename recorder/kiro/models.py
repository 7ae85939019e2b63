"""The models a Kiro subscription offers: ListAvailableModels, paginated and cached.

UNOFFICIAL (research/kiro.md §5.3): the answer is ``{"models": [{"modelId", "modelName",
"description", "tokenLimits": {"maxInputTokens", "maxOutputTokens"}, ...}], "defaultModel",
"nextToken"}``. When the list cannot be fetched, the last good one is served; before any
succeeded, a static list of the ids known from the research notes, marked as such, so
``/v1/models`` always answers and says where its answer came from.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from recorder.kiro.auth import TokenManager
from recorder.kiro.endpoint import Endpoint

if TYPE_CHECKING:  # the client is injected
    import httpx

DEFAULT_TTL = 3600.0
MAX_PAGES = 20

STATIC_MODELS: tuple[str, ...] = (
    "auto",
    "claude-sonnet-4",
    "claude-sonnet-4.5",
    "claude-haiku-4.5",
    "claude-opus-4.5",
    "claude-opus-4.6",
)


class ModelListError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class ModelInfo:
    id: str
    name: str | None = None
    description: str | None = None
    max_input_tokens: int | None = None
    max_output_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class ModelList:
    models: tuple[ModelInfo, ...]
    source: Literal["kiro", "cached", "static"]
    fetched_at: float | None = None

    def ids(self) -> frozenset[str]:
        return frozenset(m.id for m in self.models)

    def windows(self) -> dict[str, int]:
        return {m.id: m.max_input_tokens for m in self.models if m.max_input_tokens}


def parse_page(body: Any) -> tuple[list[ModelInfo], str | None]:
    if not isinstance(body, dict) or not isinstance(body.get("models"), list):
        raise ModelListError("ListAvailableModels answered without a models list")
    out = []
    for m in body["models"]:
        if not isinstance(m, dict):
            continue
        mid = m.get("modelId", m.get("id"))
        if not isinstance(mid, str) or not mid:
            continue
        limits = m.get("tokenLimits")
        if not isinstance(limits, dict):
            limits = {}
        out.append(
            ModelInfo(
                mid,
                _s(m.get("modelName")),
                _s(m.get("description")),
                _i(limits.get("maxInputTokens")),
                _i(limits.get("maxOutputTokens")),
            )
        )
    token = body.get("nextToken")
    return out, token if isinstance(token, str) and token else None


async def fetch_models(
    client: httpx.AsyncClient, endpoint: Endpoint, tokens: TokenManager
) -> list[ModelInfo]:
    """Every page of ListAvailableModels (a rejected token is refreshed once)."""
    out: list[ModelInfo] = []
    next_token: str | None = None
    for _ in range(MAX_PAGES):
        cred = await tokens.current()
        method, url, headers, body = endpoint.models_request(cred, next_token)
        r = await client.request(method, url, headers=headers, json=body)
        if r.status_code == 403:
            cred = await tokens.rejected(cred.access_token)
            method, url, headers, body = endpoint.models_request(cred, next_token)
            r = await client.request(method, url, headers=headers, json=body)
        if r.status_code != 200:
            raise ModelListError(f"ListAvailableModels answered HTTP {r.status_code}")
        try:
            page, next_token = parse_page(r.json())
        except ValueError:
            raise ModelListError("ListAvailableModels answered with no JSON") from None
        out += page
        if next_token is None:
            return out
    raise ModelListError(f"ListAvailableModels kept paginating after {MAX_PAGES} pages")


class ModelCatalog:
    """``await catalog.get()``: the list, fetched at most once per ``ttl`` (concurrent callers
    share one fetch); a failed fetch serves the last good list, else the static one."""

    def __init__(
        self,
        fetch: Callable[[], Awaitable[list[ModelInfo]]],
        ttl: float = DEFAULT_TTL,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._fetch = fetch
        self._ttl = ttl
        self._clock = clock
        self._lock = asyncio.Lock()
        self._good: ModelList | None = None
        self.last_error: str | None = None

    def cached(self) -> ModelList:
        """What is known now, without fetching."""
        if self._good is not None:
            return self._good
        return ModelList(tuple(ModelInfo(m) for m in STATIC_MODELS), "static")

    async def get(self) -> ModelList:
        good = self._good
        if (
            good is not None
            and good.fetched_at is not None
            and self._clock() - good.fetched_at < self._ttl
        ):
            return good
        async with self._lock:
            good = self._good
            if (
                good is not None
                and good.fetched_at is not None
                and self._clock() - good.fetched_at < self._ttl
            ):
                return good
            try:
                models = await self._fetch()
            except Exception as e:  # noqa: BLE001 - any failure serves the fallback
                self.last_error = f"{type(e).__name__}: {e}"
                fallback = self.cached()
                return ModelList(
                    fallback.models, "cached" if self._good else "static", fallback.fetched_at
                )
            self.last_error = None
            self._good = ModelList(tuple(models), "kiro", self._clock())
            return self._good


def _s(v: Any) -> str | None:
    return v if isinstance(v, str) else None


def _i(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None
