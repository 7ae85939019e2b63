"""Kiro endpoints (recorder/kiro/endpoint.py) and the model list (recorder/kiro/models.py), the
latter fetched from the fake Kiro in both generations' shapes, paginated, cached, with fallbacks."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from fakes.kiro import MODELS, PROFILE_ARN, FakeKiro
from recorder.kiro.auth import AuthEndpoints, TokenManager
from recorder.kiro.credentials import Credential, EnvSource
from recorder.kiro.endpoint import GENERATIONS, Endpoint, api_region
from recorder.kiro.models import ModelCatalog, ModelInfo, fetch_models

CRED = Credential("social", "tok", profile_arn=PROFILE_ARN, source="test")


@pytest.fixture
def fake() -> Iterator[FakeKiro]:
    f = FakeKiro().start()
    yield f
    f.stop()


def test_generations_and_base_url_override() -> None:
    runtime = Endpoint(GENERATIONS["runtime"], "eu-central-1")
    assert runtime.chat_url() == "https://runtime.eu-central-1.kiro.dev/generateAssistantResponse"
    h = runtime.chat_headers(CRED, "inv-1")
    assert h["content-type"] == "application/x-amz-json-1.0"
    assert h["x-amz-target"] == "AmazonCodeWhispererStreamingService.GenerateAssistantResponse"
    assert h["authorization"] == "Bearer tok" and h["amz-sdk-invocation-id"] == "inv-1"
    assert "KiroIDE-" in h["user-agent"] and "tokentype" not in h
    q = Endpoint(GENERATIONS["q"], "us-east-1", base_url="http://127.0.0.1:9000/prefix")
    assert q.chat_url() == "http://127.0.0.1:9000/prefix/generateAssistantResponse"
    assert (
        "x-amz-target" not in q.chat_headers(CRED)
        and q.chat_headers(CRED)["content-type"] == "application/json"
    )
    method, url, _, body = q.models_request(CRED, "2")
    assert method == "GET" and body is None
    assert url.startswith("http://127.0.0.1:9000/prefix/ListAvailableModels?origin=AI_EDITOR")
    assert "nextToken=2" in url and "profileArn=arn" in url
    ext = Credential("external_idp", "t", source="x")
    assert runtime.chat_headers(ext)["tokentype"] == "EXTERNAL_IDP"


def test_api_region() -> None:
    assert api_region("ap-southeast-2", CRED) == "ap-southeast-2"
    assert api_region(None, CRED) == "us-east-1"
    eu = Credential("oidc", region="eu-west-3")
    assert api_region(None, eu) == "eu-central-1"
    arn = Credential("social", profile_arn="arn:aws:codewhisperer:eu-central-1:1:profile/X")
    assert api_region(None, arn) == "eu-central-1"


@pytest.mark.parametrize("generation", ["runtime", "q"])
def test_model_list_from_the_fake_paginated(fake: FakeKiro, generation: str) -> None:
    async def scenario() -> list[ModelInfo]:
        async with httpx.AsyncClient() as client:
            tm = TokenManager(
                EnvSource({"KIRO_REFRESH_TOKEN": "fake-refresh-1"}),
                client,
                AuthEndpoints(override=fake.url + "/refreshToken"),
            )
            endpoint = Endpoint(GENERATIONS[generation], "us-east-1", base_url=fake.url)
            return await fetch_models(client, endpoint, tm)

    models = asyncio.run(scenario())
    assert [(m.id, m.max_input_tokens) for m in models] == list(MODELS)
    pages = [
        r
        for r in fake.requests
        if "ListAvailableModels" in r.path
        or r.headers.get("x-amz-target", "").endswith("ListAvailableModels")
    ]
    assert len(pages) == 3  # 5 models, 2 a page


def test_catalog_caches_and_falls_back() -> None:
    clock = [0.0]
    calls: list[int] = []
    fail = [False]

    async def fetch() -> list[ModelInfo]:
        calls.append(1)
        await asyncio.sleep(0.01)
        if fail[0]:
            raise RuntimeError("down")
        return [ModelInfo("claude-sonnet-4.5", max_input_tokens=200_000)]

    async def scenario() -> list[Any]:
        cat = ModelCatalog(fetch, ttl=100, clock=lambda: clock[0])
        out: list[Any] = [cat.cached().source]
        fail[0] = True
        out.append((await cat.get()).source)  # nothing good yet: the static list
        fail[0] = False
        got = await asyncio.gather(*(cat.get() for _ in range(5)))  # one fetch for all
        out.append({g.source for g in got})
        out.append(len(calls))
        clock[0] = 50
        out.append((await cat.get()).source)  # within the TTL: no fetch
        clock[0] = 200
        fail[0] = True
        last = await cat.get()
        out += [last.source, last.ids(), last.windows(), cat.last_error]
        return out

    assert asyncio.run(scenario()) == [
        "static",
        "static",
        {"kiro"},
        2,
        "kiro",
        "cached",
        frozenset({"claude-sonnet-4.5"}),
        {"claude-sonnet-4.5": 200_000},
        "RuntimeError: down",
    ]
