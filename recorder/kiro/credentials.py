"""Kiro credentials and where they come from: the Kiro IDE's JSON token file, the kiro-cli SQLite
database (told apart by content, not by name), or environment variables.

UNOFFICIAL: the file layouts come from reverse-engineered clients (research/kiro.md §4.4).

Secrets never leave this process: :class:`Credential` hides its tokens from ``repr``, and every
error message names the file and the field, never a value.

Write-back (refreshed tokens stored where they came from) follows what each source documents:

- the IDE's JSON file lives in the AWS SSO token cache (``~/.aws/sso/cache``), which the Kiro IDE
  and the AWS SDKs rewrite after every refresh: written back (atomically, unknown fields kept);
- the kiro-cli database belongs to kiro-cli and is no documented interface: read only, but read
  again before every refresh, so tokens kiro-cli refreshed are picked up (``write_back=True``
  updates it the way kiro-cli does, for a gateway that refreshes on kiro-cli's behalf);
- environment variables: kept in memory.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import tempfile
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from recorder.errors import ConfigError

AuthKind = Literal["social", "oidc", "external_idp", "api_key"]

SQLITE_MAGIC = b"SQLite format 3\x00"
# auth_kv keys of kiro-cli, in the order kiro-gateway tries them ("odic" is kiro-cli's spelling)
SQLITE_TOKEN_KEYS: tuple[tuple[str, AuthKind], ...] = (
    ("kirocli:social:token", "social"),
    ("kirocli:odic:token", "oidc"),
    ("codewhisperer:odic:token", "oidc"),
    ("kirocli:external-idp:token", "external_idp"),
)
SQLITE_REGISTRATION_KEYS = (
    "kirocli:odic:device-registration",
    "codewhisperer:odic:device-registration",
)
SQLITE_PROFILE_KEY = "api.codewhisperer.profile"

# Kiro IDE ``authMethod`` -> how the credential refreshes
_AUTH_METHODS: dict[str, AuthKind] = {
    "social": "social",
    "idc": "oidc",
    "builder-id": "oidc",
    "builderid": "oidc",
    "iam": "oidc",
    "external_idp": "external_idp",
    "external-idp": "external_idp",
    "api_key": "api_key",
}


class CredentialError(ConfigError):
    """Credentials are missing or unreadable (names the source and field, never a value)."""


@dataclass(slots=True)
class Credential:
    kind: AuthKind
    access_token: str | None = field(default=None, repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    expires_at: float | None = None  # epoch seconds; None: unknown (treated as expired)
    profile_arn: str | None = None
    region: str = "us-east-1"  # where the token refreshes (SSO / auth region)
    client_id: str | None = field(default=None, repr=False)
    client_secret: str | None = field(default=None, repr=False)
    token_endpoint: str | None = None  # external IdP: the tenant's OAuth token endpoint
    source: str = ""  # where it came from, for messages

    def expired(self, now: float, skew: float = 0.0) -> bool:
        if self.kind == "api_key":
            return False
        return not self.access_token or self.expires_at is None or self.expires_at - skew <= now


class CredentialSource(Protocol):
    @property
    def description(self) -> str: ...

    def load(self) -> Credential: ...

    def save(self, cred: Credential) -> None:
        """Store refreshed tokens where that is the source's documented behaviour (else no-op)."""


# --------------------------------------------------------------------------- JSON file


@dataclass(slots=True)
class JsonFileSource:
    """The Kiro IDE token file (``~/.aws/sso/cache/kiro-auth-token.json``): camelCase fields;
    an IdC login names its client registration by ``clientIdHash`` (``<hash>.json`` beside it)."""

    path: Path
    write_back: bool = True

    @property
    def description(self) -> str:
        return f"Kiro credentials file {self.path}"

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError) as e:
            raise CredentialError(
                f"{self.description}: cannot read it ({type(e).__name__})"
            ) from None
        if isinstance(data, list) and data and isinstance(data[0], dict):
            data = data[0]  # kiro.rs-style credentials arrays: the first entry
        if not isinstance(data, dict):
            raise CredentialError(f"{self.description}: not a JSON object")
        return data

    def load(self) -> Credential:
        d = self._read()
        if isinstance(d.get("kiroApiKey"), str):
            return Credential("api_key", access_token=d["kiroApiKey"], source=self.description)
        method = str(d.get("authMethod") or "").lower()
        kind = _AUTH_METHODS.get(method)
        client_id, client_secret = _str(d.get("clientId")), _str(d.get("clientSecret"))
        hash_name = _str(d.get("clientIdHash"))
        if hash_name and not (client_id and client_secret):
            reg = self.path.parent / f"{hash_name}.json"
            with contextlib.suppress(OSError, ValueError):
                r = json.loads(reg.read_text())
                client_id, client_secret = _str(r.get("clientId")), _str(r.get("clientSecret"))
        if kind is None:
            kind = "oidc" if client_id and client_secret else "social"
        cred = Credential(
            kind,
            access_token=_str(d.get("accessToken")),
            refresh_token=_str(d.get("refreshToken")),
            expires_at=_parse_time(d.get("expiresAt"), self.description, "expiresAt"),
            profile_arn=_str(d.get("profileArn")),
            region=_str(d.get("authRegion")) or _str(d.get("region")) or "us-east-1",
            client_id=client_id,
            client_secret=client_secret,
            token_endpoint=_str(d.get("tokenEndpoint")),
            source=self.description,
        )
        _check_usable(cred)
        return cred

    def save(self, cred: Credential) -> None:
        if not self.write_back:
            return
        d = self._read()
        d["accessToken"] = cred.access_token
        if cred.refresh_token:
            d["refreshToken"] = cred.refresh_token
        if cred.expires_at is not None:
            d["expiresAt"] = _format_time(cred.expires_at)
        if cred.profile_arn:
            d["profileArn"] = cred.profile_arn
        _atomic_write(self.path, json.dumps(d, indent=2))


def _atomic_write(path: Path, text: str) -> None:
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o600
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# --------------------------------------------------------------------------- kiro-cli SQLite


@dataclass(slots=True)
class SqliteSource:
    """kiro-cli's ``data.sqlite3``: table ``auth_kv(key, value)`` with snake_case JSON values,
    table ``state`` with the profile (``api.codewhisperer.profile`` -> ``{"arn": ...}``)."""

    path: Path
    write_back: bool = False
    _key: str | None = None  # the auth_kv key the token was read from

    @property
    def description(self) -> str:
        return f"kiro-cli database {self.path}"

    def _connect(self, readonly: bool) -> sqlite3.Connection:
        uri = f"file:{self.path}?mode={'ro' if readonly else 'rw'}"
        try:
            return sqlite3.connect(uri, uri=True, timeout=5)
        except sqlite3.Error as e:
            raise CredentialError(f"{self.description}: cannot open it ({e})") from None

    def load(self) -> Credential:
        con = self._connect(readonly=True)
        try:
            kv = dict(con.execute("select key, value from auth_kv").fetchall())
            profile_arn = None
            with contextlib.suppress(sqlite3.Error, ValueError, TypeError, AttributeError):
                row = con.execute(
                    "select value from state where key = ?", (SQLITE_PROFILE_KEY,)
                ).fetchone()
                if row is not None:
                    profile_arn = _str(json.loads(row[0]).get("arn"))
        except sqlite3.Error as e:
            raise CredentialError(f"{self.description}: no kiro-cli tokens ({e})") from None
        finally:
            con.close()
        found = [(k, kind) for k, kind in SQLITE_TOKEN_KEYS if k in kv]
        if not found:
            raise CredentialError(f"{self.description}: no token (is kiro-cli logged in?)")
        key, kind = found[0]
        self._key = key
        tok = _json_value(kv[key], self.description, key)
        cred = Credential(
            kind,
            access_token=_str(tok.get("access_token")),
            refresh_token=_str(tok.get("refresh_token")),
            expires_at=_parse_time(tok.get("expires_at"), self.description, f"{key}.expires_at"),
            profile_arn=_str(tok.get("profile_arn")) or profile_arn,
            region=_str(tok.get("region")) or "us-east-1",
            client_id=_str(tok.get("client_id")),
            token_endpoint=_str(tok.get("token_endpoint")),
            source=self.description,
        )
        if kind == "oidc":
            for reg_key in SQLITE_REGISTRATION_KEYS:
                if reg_key in kv:
                    reg = _json_value(kv[reg_key], self.description, reg_key)
                    cred.client_id = _str(reg.get("client_id"))
                    cred.client_secret = _str(reg.get("client_secret"))
                    break
        _check_usable(cred)
        return cred

    def save(self, cred: Credential) -> None:
        if not self.write_back or self._key is None:
            return
        con = self._connect(readonly=False)
        try:
            with con:
                row = con.execute(
                    "select value from auth_kv where key = ?", (self._key,)
                ).fetchone()
                tok = _json_value(row[0], self.description, self._key) if row else {}
                tok["access_token"] = cred.access_token
                if cred.refresh_token:
                    tok["refresh_token"] = cred.refresh_token
                if cred.expires_at is not None:
                    tok["expires_at"] = _format_time(cred.expires_at)
                con.execute(
                    "update auth_kv set value = ? where key = ?", (json.dumps(tok), self._key)
                )
        except sqlite3.Error as e:
            raise CredentialError(
                f"{self.description}: cannot store refreshed tokens ({e})"
            ) from None
        finally:
            con.close()


# --------------------------------------------------------------------------- environment

ENV_VARS = (
    "KIRO_ACCESS_TOKEN",
    "KIRO_REFRESH_TOKEN",
    "KIRO_PROFILE_ARN",
    "KIRO_REGION",
    "KIRO_CLIENT_ID",
    "KIRO_CLIENT_SECRET",
    "KIRO_API_KEY",
)


@dataclass(slots=True)
class EnvSource:
    """``KIRO_REFRESH_TOKEN`` (with ``KIRO_CLIENT_ID`` / ``KIRO_CLIENT_SECRET`` for an AWS SSO
    login), ``KIRO_ACCESS_TOKEN``, ``KIRO_PROFILE_ARN``, ``KIRO_REGION``, or ``KIRO_API_KEY``."""

    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    description: str = "environment variables KIRO_*"

    def load(self) -> Credential:
        e = self.env
        if e.get("KIRO_API_KEY"):
            return Credential("api_key", access_token=e["KIRO_API_KEY"], source=self.description)
        client_id, secret = e.get("KIRO_CLIENT_ID") or None, e.get("KIRO_CLIENT_SECRET") or None
        cred = Credential(
            "oidc" if client_id and secret else "social",
            access_token=e.get("KIRO_ACCESS_TOKEN") or None,
            refresh_token=e.get("KIRO_REFRESH_TOKEN") or None,
            profile_arn=e.get("KIRO_PROFILE_ARN") or None,
            region=e.get("KIRO_REGION") or "us-east-1",
            client_id=client_id,
            client_secret=secret,
            source=self.description,
        )
        _check_usable(cred)
        return cred

    def save(self, cred: Credential) -> None:
        """The environment is not written; refreshed tokens live in memory."""


# --------------------------------------------------------------------------- detection


def open_source(path: str | Path | None, env: dict[str, str] | None = None) -> CredentialSource:
    """A credentials file told apart by content (SQLite header or JSON), or, without a path,
    the environment."""
    if path is None or str(path) == "":
        return EnvSource(dict(os.environ) if env is None else env)
    p = Path(path).expanduser()
    try:
        with p.open("rb") as f:
            head = f.read(len(SQLITE_MAGIC))
    except OSError as e:
        raise CredentialError(f"kiro_credentials {p}: cannot read it ({e.strerror})") from None
    if head == SQLITE_MAGIC:
        return SqliteSource(p)
    return JsonFileSource(p)


# --------------------------------------------------------------------------- helpers


def _check_usable(cred: Credential) -> None:
    if cred.kind == "api_key":
        return
    if not cred.refresh_token and not cred.access_token:
        raise CredentialError(f"{cred.source}: neither an access token nor a refresh token")
    if cred.kind == "oidc" and cred.refresh_token and not (cred.client_id and cred.client_secret):
        raise CredentialError(
            f"{cred.source}: an AWS SSO login needs its client registration "
            "(clientId, clientSecret)"
        )


def _str(v: Any) -> str | None:
    return v if isinstance(v, str) and v else None


def _json_value(raw: Any, where: str, key: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except (TypeError, ValueError):
        raise CredentialError(f"{where}: {key} is not JSON") from None
    if not isinstance(value, dict):
        raise CredentialError(f"{where}: {key} is not a JSON object")
    return value


def _parse_time(v: Any, where: str, name: str) -> float | None:
    """ISO-8601 / RFC 3339 (nanoseconds allowed, as kiro-cli writes them) or epoch numbers."""
    if v is None or v == "":
        return None
    if isinstance(v, int | float) and not isinstance(v, bool):
        return float(v) / 1000 if v > 1e11 else float(v)  # milliseconds or seconds
    if not isinstance(v, str):
        raise CredentialError(f"{where}: {name} is not a time")
    text = v.strip().replace("Z", "+00:00")
    head, dot, rest = text.partition(".")
    if dot:  # at most microseconds for fromisoformat
        digits = len(rest) - len(rest.lstrip("0123456789"))
        frac, tz = rest[:digits], rest[digits:]
        text = f"{head}.{frac[:6]}{tz}"
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise CredentialError(f"{where}: {name} is not an ISO-8601 time") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return t.timestamp()


def _format_time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def with_tokens(cred: Credential, **changes: Any) -> Credential:
    return replace(cred, **changes)
