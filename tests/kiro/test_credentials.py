"""Kiro credential sources (recorder/kiro/credentials.py): the IDE's JSON file, the kiro-cli
SQLite database (told apart by content), environment variables; write-back per source."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from recorder.kiro.credentials import (
    Credential,
    CredentialError,
    EnvSource,
    JsonFileSource,
    SqliteSource,
    open_source,
)

T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z


def ide_file(tmp_path: Path, **fields: object) -> Path:
    p = tmp_path / "kiro-auth-token.json"
    data = {
        "accessToken": "at-secret",
        "refreshToken": "rt-secret",
        "expiresAt": "2027-01-15T08:00:00.000Z",
        "authMethod": "social",
        "provider": "Github",
        "profileArn": "arn:aws:codewhisperer:us-east-1:1:profile/P",
        "somethingNew": {"kept": True},
    } | fields
    p.write_text(json.dumps(data))
    p.chmod(0o600)
    return p


def cli_db(tmp_path: Path, key: str = "kirocli:odic:token", profile: bool = True) -> Path:
    p = tmp_path / "data.sqlite3"
    con = sqlite3.connect(p)
    con.execute("create table auth_kv (key text primary key, value text)")
    con.execute("create table state (key text primary key, value blob)")
    token = {
        "access_token": "at-secret",
        "refresh_token": "rt-secret",
        "expires_at": "2027-01-15T08:00:00.123456789Z",
        "region": "eu-west-1",
        "scopes": ["codewhisperer:completions"],
    }
    con.execute("insert into auth_kv values (?, ?)", (key, json.dumps(token)))
    reg = {"client_id": "cid", "client_secret": "csecret", "region": "eu-west-1"}
    con.execute(
        "insert into auth_kv values (?, ?)", ("kirocli:odic:device-registration", json.dumps(reg))
    )
    if profile:
        arn = {"arn": "arn:aws:codewhisperer:eu-central-1:1:profile/E"}
        con.execute(
            "insert into state values (?, ?)", ("api.codewhisperer.profile", json.dumps(arn))
        )
    con.commit()
    con.close()
    return p


def test_ide_json_file(tmp_path: Path) -> None:
    src = open_source(ide_file(tmp_path))
    assert isinstance(src, JsonFileSource)
    cred = src.load()
    assert (cred.kind, cred.access_token, cred.refresh_token) == (
        "social",
        "at-secret",
        "rt-secret",
    )
    assert cred.expires_at == T0
    assert cred.profile_arn == "arn:aws:codewhisperer:us-east-1:1:profile/P"
    assert "secret" not in repr(cred)


def test_ide_json_idc_login_finds_its_client_registration(tmp_path: Path) -> None:
    (tmp_path / "abc123.json").write_text(json.dumps({"clientId": "cid", "clientSecret": "cs"}))
    cred = open_source(
        ide_file(tmp_path, authMethod="IdC", clientIdHash="abc123", region="us-east-2")
    ).load()
    assert (cred.kind, cred.client_id, cred.client_secret, cred.region) == (
        "oidc",
        "cid",
        "cs",
        "us-east-2",
    )


def test_ide_json_write_back_keeps_unknown_fields_and_mode(tmp_path: Path) -> None:
    p = ide_file(tmp_path)
    src = open_source(p)
    cred = src.load()
    cred.access_token, cred.refresh_token, cred.expires_at = "at-2", "rt-2", T0 + 3600
    src.save(cred)
    data = json.loads(p.read_text())
    assert data["accessToken"] == "at-2" and data["refreshToken"] == "rt-2"
    assert data["expiresAt"] == "2027-01-15T09:00:00Z"
    assert data["somethingNew"] == {"kept": True} and data["provider"] == "Github"
    assert p.stat().st_mode & 0o777 == 0o600
    assert [f.name for f in tmp_path.iterdir()] == [p.name]  # no temp file left


def test_kiro_cli_database(tmp_path: Path) -> None:
    src = open_source(cli_db(tmp_path))
    assert isinstance(src, SqliteSource)
    cred = src.load()
    assert cred.kind == "oidc"
    assert (cred.client_id, cred.client_secret, cred.region) == ("cid", "csecret", "eu-west-1")
    assert cred.profile_arn == "arn:aws:codewhisperer:eu-central-1:1:profile/E"
    assert cred.expires_at == pytest.approx(T0 + 0.123456, abs=1e-6)  # nanoseconds truncated


def test_kiro_cli_database_is_read_only_by_default(tmp_path: Path) -> None:
    p = cli_db(tmp_path, key="kirocli:social:token", profile=False)
    src = open_source(p)
    cred = src.load()
    assert cred.kind == "social" and cred.profile_arn is None
    before = p.read_bytes()
    cred.access_token = "at-2"
    src.save(cred)
    assert p.read_bytes() == before
    writer = SqliteSource(p, write_back=True)
    writer.load()
    cred.refresh_token, cred.expires_at = "rt-2", T0
    writer.save(cred)
    again = SqliteSource(p).load()
    assert (again.access_token, again.refresh_token, again.expires_at) == ("at-2", "rt-2", T0)


def test_environment() -> None:
    cred = EnvSource(
        {"KIRO_REFRESH_TOKEN": "r", "KIRO_PROFILE_ARN": "arn:x", "KIRO_REGION": "eu-west-1"}
    ).load()
    assert (cred.kind, cred.refresh_token, cred.region) == ("social", "r", "eu-west-1")
    oidc = EnvSource(
        {"KIRO_REFRESH_TOKEN": "r", "KIRO_CLIENT_ID": "c", "KIRO_CLIENT_SECRET": "s"}
    ).load()
    assert oidc.kind == "oidc"
    key = EnvSource({"KIRO_API_KEY": "ksk_x"}).load()
    assert key.kind == "api_key" and not key.expired(T0)
    assert isinstance(open_source(None, {"KIRO_REFRESH_TOKEN": "r"}), EnvSource)


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"not json", "cannot read it"),
        (b"[1]", "not a JSON object"),
        (b"{}", "neither an access token nor a refresh token"),
        (json.dumps({"refreshToken": "r", "authMethod": "IdC"}).encode(), "client registration"),
        (
            json.dumps({"refreshToken": "r", "expiresAt": "yesterday"}).encode(),
            "expiresAt is not an ISO-8601 time",
        ),
    ],
)
def test_bad_files_name_the_file_never_a_value(tmp_path: Path, content: bytes, why: str) -> None:
    p = tmp_path / "creds.json"
    p.write_bytes(content)
    with pytest.raises(CredentialError, match=why) as e:
        open_source(p).load()
    assert str(p) in str(e.value)


def test_missing_file_and_empty_database(tmp_path: Path) -> None:
    with pytest.raises(CredentialError, match="cannot read it"):
        open_source(tmp_path / "nope.json")
    p = tmp_path / "empty.sqlite3"
    con = sqlite3.connect(p)
    con.execute("create table auth_kv (key text, value text)")
    con.commit()
    con.close()
    with pytest.raises(CredentialError, match="is kiro-cli logged in"):
        open_source(p).load()


def test_expiry_with_skew() -> None:
    c = Credential("social", access_token="a", expires_at=T0)
    assert not c.expired(T0 - 700, skew=600) and c.expired(T0 - 500, skew=600)
    assert Credential("social", access_token="a").expired(T0)  # unknown expiry: refresh
