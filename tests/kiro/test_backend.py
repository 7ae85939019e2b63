"""The Kiro backend (recorder/kiro/backend.py) against the fake Kiro: what it tells the codec,
what its requests present, when it renews a refused token, its models; chosen through the
registry for ``gateway_upstream_api=kiro`` and for routes with ``api: kiro``; and how
``recorder show`` renders a Kiro upstream leg."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from fakes.kiro import BAD_TOKEN, MODELS, PROFILE_ARN, FakeKiro, frame
from recorder import routes_file, routing
from recorder.backends import (
    BackendError,
    ListsModels,
    PreparesRequests,
    RenewsCredentials,
    backend_for,
    backend_option_specs,
)
from recorder.codecs.kiro_settings import settings_of
from recorder.context import Context
from recorder.errors import ConfigError
from recorder.exchange import Exchange, HttpRequest, HttpResponse, RecordedChunk, untape
from recorder.kiro.backend import KiroBackend, KiroConfig, from_options
from recorder.kiro.credentials import CredentialError
from recorder.show import render_exchange


@pytest.fixture
def fake() -> Iterator[FakeKiro]:
    f = FakeKiro().start()
    yield f
    f.stop()


def creds(tmp_path: Path, **fields: object) -> Path:
    p = tmp_path / "kiro.json"
    p.write_text(json.dumps({"refreshToken": "fake-refresh-1", "authMethod": "social"} | fields))
    return p


def backend(fake: FakeKiro, tmp_path: Path, **config: object) -> KiroBackend:
    cfg = KiroConfig(
        credentials=str(creds(tmp_path)), auth_url=f"{fake.url}/refreshToken", base_url=fake.url
    )
    for k, v in config.items():
        object.__setattr__(cfg, k, v)
    return KiroBackend(cfg)


def test_it_answers_in_kiro_and_implements_the_extras(fake: FakeKiro, tmp_path: Path) -> None:
    b = backend(fake, tmp_path)
    assert b.dialect == "kiro"
    assert isinstance(b, PreparesRequests | RenewsCredentials | ListsModels)
    assert b.endpoint() is None  # not started yet

    async def scenario() -> tuple[Context, object]:
        ctx = Context("anthropic", "kiro")
        await b.prepare(ctx)  # a login without a profile ARN learns it from its refresh
        creds_ = await b.credentials()
        await b.stop()
        return ctx, creds_

    ctx, presented = asyncio.run(scenario())
    settings = settings_of(ctx.upstream_options)
    assert settings.profile_arn == PROFILE_ARN and settings.origin == "AI_EDITOR"
    assert presented.key == "fake-access-1"  # type: ignore[attr-defined]
    headers = dict(presented.headers)  # type: ignore[attr-defined]
    assert headers["x-amz-target"].endswith("GenerateAssistantResponse")
    assert "authorization" not in headers  # the gateway writes the key in its key style
    assert fake.refreshes == ["social"]


def test_renew_only_for_a_refused_token(fake: FakeKiro, tmp_path: Path) -> None:
    b = backend(fake, tmp_path)

    async def scenario() -> list[object]:
        first = await b.credentials()
        out: list[object] = [
            await b.renew(400, b'{"message":"Improperly formed request."}', first.key),
            await b.renew(403, b'{"message":"profileArn mismatch"}', first.key),
            await b.renew(403, json.dumps({"message": BAD_TOKEN}).encode(), first.key),
        ]
        out.append((await b.credentials()).key)
        # a second request that saw the same old token does not refresh again
        out.append(await b.renew(403, json.dumps({"message": BAD_TOKEN}).encode(), first.key))
        out.append(len(fake.refreshes))
        await b.stop()
        return out

    assert asyncio.run(scenario()) == [False, False, True, "fake-access-2", True, 2]


def test_models_and_settings_learn_from_the_list(fake: FakeKiro, tmp_path: Path) -> None:
    b = backend(fake, tmp_path)

    async def scenario() -> tuple[list[str], Context]:
        names = await b.models()
        ctx = Context("openai", "kiro")
        await b.prepare(ctx)
        await b.stop()
        return names, ctx

    names, ctx = asyncio.run(scenario())
    assert names == [m for m, _ in MODELS]
    s = settings_of(ctx.upstream_options)
    assert "claude-opus-4.6" in s.known_models
    assert s.context_window("claude-opus-4.6") == 1_000_000


def test_a_dead_login_is_an_authentication_error_naming_it(fake: FakeKiro, tmp_path: Path) -> None:
    cfg = KiroConfig(
        credentials=str(creds(tmp_path, refreshToken="dead")), auth_url=f"{fake.url}/refreshToken"
    )
    b = KiroBackend(cfg)

    async def scenario() -> None:
        try:
            await b.prepare(Context("anthropic", "kiro"))
        finally:
            await b.stop()

    with pytest.raises(BackendError) as e:
        asyncio.run(scenario())
    assert e.value.kind == "authentication" and "invalid_grant" in str(e.value)
    assert "dead" not in str(e.value)


def test_options_and_the_registry(fake: FakeKiro, tmp_path: Path) -> None:
    names = [spec[0] for spec in backend_option_specs()]
    assert {"kiro_credentials", "kiro_auth_url", "kiro_region", "kiro_profile_arn"} <= set(names)
    options = (("kiro_credentials", str(creds(tmp_path))), ("kiro_region", "eu-central-1"))
    b = backend_for("kiro", None, None, options)
    assert isinstance(b, KiroBackend)
    assert b is backend_for("kiro", None, None, options)  # one per configuration
    assert asyncio.run(b.start()).host == "runtime.eu-central-1.kiro.dev"
    with pytest.raises(CredentialError, match="kiro_generation must be one of"):
        from_options(None, {"kiro_credentials": str(creds(tmp_path)), "kiro_generation": "v9"})
    with pytest.raises(CredentialError, match="cannot read it"):
        from_options(None, {"kiro_credentials": str(tmp_path / "missing.json")})


def test_routes_to_kiro_need_no_upstream(tmp_path: Path) -> None:
    options = (("kiro_credentials", str(creds(tmp_path))),)
    config = routes_file.parse_config({"routes": [{"match": {"model": "claude-*"}, "api": "kiro"}]})
    router = routing.build_router(config, None, options)
    assert isinstance(router.routes[0].backend, KiroBackend)
    with pytest.raises(ConfigError, match=r"routes\[0\]\.upstream: Field required"):
        routes_file.parse_config({"routes": [{"api": "openai"}]})
    bad = (("kiro_credentials", str(tmp_path / "nope.json")),)
    with pytest.raises(ConfigError, match=r"routes\[0\]: kiro_credentials .*cannot read it"):
        routing.build_router(config, None, bad)


def test_show_renders_the_kiro_leg() -> None:
    body = frame("assistantResponseEvent", {"content": "Hi"}) + frame(
        "meteringEvent", {"usage": 0.5}
    )
    ex = Exchange(id="x", started_at=0.0, client_dialect="anthropic", upstream_dialect="kiro")
    ex.client_request = HttpRequest(
        "POST", "http://gw/v1/messages", [], b'{"model":"m","messages":[]}'
    )
    ex.upstream_request = HttpRequest(
        "POST", "http://kiro/generateAssistantResponse", [], b'{"conversationState":{}}'
    )
    ex.upstream_response = HttpResponse(
        400, [], b'{"message":"Improperly formed request.","reason":null}'
    )
    ex.taped = [
        ("upstream", 0.01, body[:50]),
        ("upstream", 0.02, body[50:]),
        ("upstream", 0.03, b""),
    ]
    untape(ex)
    assert [e.event for e in ex.events] == ["assistantResponseEvent", "meteringEvent"]
    assert ex.chunks == [RecordedChunk(0, 0.01, body[:50]), RecordedChunk(1, 0.02, body[50:])]
    console = Console(width=200, record=True)
    console.print(render_exchange(ex))
    text = console.export_text()
    assert 'kiro answered 400  {"message":"Improperly formed request."' in text
    assert "request sent  24 bytes, kept in the recording" in text
    assert "kiro events (2)" in text
    assert 'assistantResponseEvent  {"content":"Hi"}' in text
