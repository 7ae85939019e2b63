"""The deny-list of secret header names and query parameters (issue 11): by pattern, so that
credentials under names nobody listed are caught; rate-limit counts are no secrets."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from recorder import secrets
from recorder.secrets import REDACTED, is_secret, redact_headers, redact_url

SECRET_NAMES = [
    "Authorization", "Proxy-Authorization", "x-api-key", "X-Goog-Api-Key", "api-key", "Cookie",
    "Set-Cookie", "x-auth-token", "X-Access-Token", "x-amz-security-token", "X-Session-Token",
    "client_secret", "Client-Secret", "password", "db_passwd", "x-signature", "X-Amz-Signature",
    "X-Amz-Credential", "access-token", "access_token", "refresh_token", "id_token", "key",
    "apikey", "sig", "openai-organization", "openai-project", "x-csrf-token", "pwd", "pass",
    "ssh_passphrase", "jwt", "x-jwt-assertion",
]  # fmt: skip
KEPT_NAMES = [
    "content-type", "anthropic-version", "anthropic-beta", "x-claude-code-session-id",
    "user-agent", "accept-encoding", "x-stainless-retry-count", "model", "alt", "beta",
    "anthropic-ratelimit-input-tokens-remaining", "x-ratelimit-remaining-tokens",
    "anthropic-ratelimit-tokens-reset", "request-id", "x-request-id", "www-authenticate",
    "Proxy-Authenticate",
]  # fmt: skip


@pytest.fixture(autouse=True)
def _defaults() -> Iterator[None]:
    yield
    secrets.extend([])


@pytest.mark.parametrize("name", SECRET_NAMES)
def test_credential_like_names_are_secrets(name: str) -> None:
    assert is_secret(name)


@pytest.mark.parametrize("name", KEPT_NAMES)
def test_other_names_are_kept(name: str) -> None:
    assert not is_secret(name)


def test_headers_keep_their_names_and_order() -> None:
    headers = [("X-Auth-Token", "t0k"), ("content-type", "application/json"), ("cookie", "a=b")]
    assert redact_headers(headers) == [
        ("X-Auth-Token", REDACTED),
        ("content-type", "application/json"),
        ("cookie", REDACTED),
    ]


def test_urls_lose_userinfo_and_every_secret_parameter() -> None:
    url = (
        "https://user:pw@h.example/v1/x?client_secret=S1&password=S2&signature=S3"
        "&access-token=S4&alt=sse&X-Amz-Signature=S5&client%5Fsecret=S6&key=#frag"
    )
    out = redact_url(url)
    for leaked in ("pw", "S1", "S2", "S3", "S4", "S5", "S6"):
        assert leaked not in out
    assert out.startswith("https://h.example/v1/x?client_secret=[redacted]&")
    assert "alt=sse" in out and out.endswith("&key=[redacted]#frag")
    assert redact_url("http://127.0.0.1:8080/v1/messages?beta=true") == (
        "http://127.0.0.1:8080/v1/messages?beta=true"
    )


def test_the_deny_list_can_be_extended() -> None:
    assert not is_secret("x-tenant-id")
    secrets.extend(secrets.parse_patterns(" x-tenant-id , *session* "))
    assert is_secret("X-Tenant-Id") and is_secret("x-claude-code-session-id")
    assert redact_url("http://h/p?my_session=1") == "http://h/p?my_session=[redacted]"
    assert secrets.extra_patterns() == ("x-tenant-id", "*session*")
    secrets.extend([])
    assert not is_secret("x-tenant-id")
