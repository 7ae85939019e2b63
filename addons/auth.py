"""Gateway key check and upstream credentials. Pure functions over a mutable header mapping
(mitmproxy's ``Headers`` or a dict with lower-case keys).

- The client presents ``gateway_key`` as ``x-api-key`` or ``Authorization: Bearer``; it is
  compared in constant time and never forwarded upstream.
- Upstream credentials: the route's key (from its environment variable), else the client's own
  key, written the way the upstream dialect expects (Anthropic ``x-api-key``, OpenAI
  ``Authorization: Bearer``). With no key to convert and no route key, headers are left alone.
"""

from __future__ import annotations

import hmac
from collections.abc import MutableMapping

from recorder.ir import Dialect

ANTHROPIC_VERSION = "2023-06-01"


def client_key(headers: MutableMapping[str, str]) -> str | None:
    """The key the client presented, whichever style it used."""
    key = headers.get("x-api-key")
    if key:
        return key
    auth = headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def key_ok(headers: MutableMapping[str, str], gateway_key: str) -> bool:
    presented = client_key(headers)
    if presented is None:
        return False
    return hmac.compare_digest(presented.encode(), gateway_key.encode())


def set_upstream_auth(
    headers: MutableMapping[str, str],
    upstream: Dialect,
    route_key: str | None,
    gateway_key_set: bool,
) -> None:
    """Rewrite the credential headers for the upstream in place.

    ``gateway_key_set``: the client's key is the gateway key, so it must not travel on.
    """
    key = route_key
    if key is None and not gateway_key_set:
        key = client_key(headers)
    for name in ("x-api-key", "authorization"):
        if name in headers:
            del headers[name]
    if key is None:
        return
    if upstream == "anthropic":
        headers["x-api-key"] = key
    else:
        headers["authorization"] = f"Bearer {key}"


def set_dialect_headers(
    headers: MutableMapping[str, str], client: Dialect, upstream: Dialect
) -> None:
    """Headers that belong to one dialect: Anthropic needs ``anthropic-version``; an OpenAI
    upstream has no use for the Anthropic ones."""
    if upstream == "anthropic":
        if "anthropic-version" not in headers:
            headers["anthropic-version"] = ANTHROPIC_VERSION
    elif client == "anthropic":
        for name in (
            "anthropic-version",
            "anthropic-beta",
            "anthropic-dangerous-direct-browser-access",
        ):
            if name in headers:
                del headers[name]
