"""Kiro token refresh (recorder/kiro/auth.py) against the fake Kiro's auth endpoints: both flows,
rotation and write-back, refresh ahead of expiry, one refresh however many requests wait (also
on 403), kiro-cli refreshing behind the gateway's back, and no token in any error."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fakes.kiro import OIDC_CLIENT, PROFILE_ARN, FakeKiro
from recorder.kiro.auth import AuthEndpoints, AuthError, TokenManager, refresh
from recorder.kiro.credentials import Credential, EnvSource, JsonFileSource, SqliteSource
from tests.kiro.test_credentials import cli_db, ide_file

NOW = 1_800_000_000.0


@pytest.fixture
def fake() -> Iterator[FakeKiro]:
    f = FakeKiro().start()
    yield f
    f.stop()


def manager(source: Any, fake: FakeKiro, path: str = "/refreshToken", **kw: Any) -> TokenManager:
    client = httpx.AsyncClient()
    return TokenManager(source, client, AuthEndpoints(override=fake.url + path), **kw)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_social_refresh_rotates_and_writes_the_ide_file_back(
    fake: FakeKiro, tmp_path: Path
) -> None:
    p = ide_file(
        tmp_path,
        accessToken="stale",
        refreshToken="fake-refresh-1",
        expiresAt="2020-01-01T00:00:00Z",
    )
    tm = manager(JsonFileSource(p), fake)
    cred = run(tm.current())
    assert cred.access_token == "fake-access-1" and cred.refresh_token == "fake-refresh-2"
    assert cred.profile_arn == PROFILE_ARN
    saved = json.loads(p.read_text())
    assert saved["accessToken"] == "fake-access-1" and saved["refreshToken"] == "fake-refresh-2"
    assert fake.refreshes == ["social"]
    sent = fake.requests[-1]
    assert sent.path == "/refreshToken" and json.loads(sent.body) == {
        "refreshToken": "fake-refresh-1"
    }


def test_oidc_refresh_sends_camel_case_json(fake: FakeKiro) -> None:
    env = {
        "KIRO_REFRESH_TOKEN": "fake-refresh-1",
        "KIRO_CLIENT_ID": OIDC_CLIENT[0],
        "KIRO_CLIENT_SECRET": OIDC_CLIENT[1],
    }
    tm = manager(EnvSource(env), fake, "/token")
    assert run(tm.current()).access_token == "fake-access-1"
    body = json.loads(fake.requests[-1].body)
    assert body == {
        "clientId": OIDC_CLIENT[0],
        "clientSecret": OIDC_CLIENT[1],
        "refreshToken": "fake-refresh-1",
        "grantType": "refresh_token",
    }
    assert fake.refreshes == ["oidc"]


def test_one_refresh_for_many_concurrent_requests(fake: FakeKiro) -> None:
    tm = manager(EnvSource({"KIRO_REFRESH_TOKEN": "fake-refresh-1"}), fake)

    async def many() -> set[str | None]:
        creds = await asyncio.gather(*(tm.current() for _ in range(25)))
        return {c.access_token for c in creds}

    assert run(many()) == {"fake-access-1"}
    assert fake.refreshes == ["social"] and tm.refreshes == 1


def test_a_rejected_token_is_refreshed_once_for_all_who_saw_it(fake: FakeKiro) -> None:
    tm = manager(EnvSource({"KIRO_REFRESH_TOKEN": "fake-refresh-1"}), fake)

    async def scenario() -> tuple[str | None, set[str | None], str | None]:
        first = await tm.current()
        fake.expire_tokens()  # Kiro now refuses it: every in-flight request gets a 403
        after = await asyncio.gather(*(tm.rejected(first.access_token) for _ in range(10)))
        late = await tm.rejected(first.access_token)  # a straggler with the old token
        return first.access_token, {c.access_token for c in after}, late.access_token

    first, after, late = run(scenario())
    assert first == "fake-access-1" and after == {"fake-access-2"} and late == "fake-access-2"
    assert fake.refreshes == ["social", "social"]


def test_refresh_ahead_of_expiry(fake: FakeKiro) -> None:
    clock = [NOW]
    src = EnvSource({"KIRO_REFRESH_TOKEN": "fake-refresh-1"})
    tm = manager(src, fake, skew=600, clock=lambda: clock[0])
    tm.cred = Credential("social", "valid", "fake-refresh-1", expires_at=NOW + 3600, source="test")

    async def scenario() -> tuple[str | None, str | None]:
        before = await tm.current()
        clock[0] = NOW + 3000 + 1  # 599 s left: refresh now rather than fail mid-request
        after = await tm.current()
        return before.access_token, after.access_token

    assert run(scenario()) == ("valid", "fake-access-1")
    assert fake.refreshes == ["social"]


def test_a_failed_refresh_keeps_a_token_that_still_works(fake: FakeKiro) -> None:
    clock = [NOW]
    tm = manager(
        EnvSource({"KIRO_REFRESH_TOKEN": "dead-token"}), fake, skew=600, clock=lambda: clock[0]
    )
    tm.cred = Credential("social", "still-ok", "dead-token", expires_at=NOW + 100, source="test")

    async def scenario() -> str | None:
        kept = await tm.current()
        clock[0] = NOW + 200
        await tm.current()
        return kept.access_token

    with pytest.raises(AuthError) as e:
        run(scenario())
    assert e.value.permanent and e.value.code == "invalid_grant"
    assert "dead-token" not in str(e.value) and "still-ok" not in str(e.value)
    assert tm.cred.access_token == "still-ok"


def test_kiro_cli_refreshing_first_is_adopted_without_a_refresh(
    fake: FakeKiro, tmp_path: Path
) -> None:
    p = cli_db(tmp_path, key="kirocli:social:token")
    tm = manager(SqliteSource(p), fake)
    tm.cred.expires_at = 0  # ours looks stale...
    access, _ = fake.issue()  # ...and kiro-cli has refreshed in the meantime
    token = {
        "access_token": access,
        "refresh_token": "fake-refresh-2",
        "expires_at": "2099-01-01T00:00:00Z",
    }
    import sqlite3

    con = sqlite3.connect(p)
    con.execute(
        "update auth_kv set value = ? where key = 'kirocli:social:token'", (json.dumps(token),)
    )
    con.commit()
    con.close()
    assert run(tm.current()).access_token == access
    assert fake.refreshes == []


def test_refresh_errors_say_where_never_what(fake: FakeKiro) -> None:
    cred = Credential("social", refresh_token="no-such-refresh", source="test")
    with pytest.raises(AuthError, match=r"answered HTTP 400 \(invalid_grant\)") as e:
        run(
            refresh(
                httpx.AsyncClient(), cred, AuthEndpoints(override=fake.url + "/refreshToken"), NOW
            )
        )
    assert "no-such-refresh" not in str(e.value)
    with pytest.raises(AuthError, match="ConnectError"):
        run(refresh(httpx.AsyncClient(), cred, AuthEndpoints(override="http://127.0.0.1:9/x"), NOW))
    with pytest.raises(AuthError, match="does not refresh"):
        run(refresh(httpx.AsyncClient(), Credential("api_key", "k", "r"), AuthEndpoints(), NOW))


def test_default_urls_follow_the_auth_region() -> None:
    e = AuthEndpoints()
    assert (
        e.url(Credential("social", region="eu-central-1"))
        == "https://prod.eu-central-1.auth.desktop.kiro.dev/refreshToken"
    )
    assert (
        e.url(Credential("oidc", region="us-east-2"))
        == "https://oidc.us-east-2.amazonaws.com/token"
    )
    ext = Credential("external_idp", token_endpoint="https://login.example/oauth2/token")
    assert e.url(ext) == "https://login.example/oauth2/token"
