"""Gateway key check and upstream credentials. Pure functions over a header mapping
(mitmproxy's ``Headers`` or a dict with lower-case keys); the upstream's headers come out as
:mod:`recorder.header_edit` edits, applied with the request's other edits in one pass.

- The client presents ``gateway_key`` as ``x-api-key`` or ``Authorization: Bearer``; it is
  compared in constant time and never forwarded upstream.
- Upstream credentials: the route's key (from its environment variable), else the client's own
  key, written the way the upstream dialect expects (Anthropic ``x-api-key``, OpenAI
  ``Authorization: Bearer``). With no key to convert and no route key, headers are left alone.
"""

from __future__ import annotations

import hmac
from collections.abc import MutableMapping

from recorder import header_edit
from recorder.header_edit import Edit
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


def upstream_auth_edits(
    headers: MutableMapping[str, str],
    upstream: Dialect,
    route_key: str | None,
    gateway_key_set: bool,
) -> list[Edit]:
    """The credential headers for the upstream, as edits of the client's ``headers``.

    ``gateway_key_set``: the client's key is the gateway key, so it must not travel on.
    """
    key = route_key
    if key is None and not gateway_key_set:
        key = client_key(headers)
    edits = [_DROP_X_API_KEY, _DROP_AUTHORIZATION]
    if key is not None:
        if upstream == "anthropic":
            edits.append(header_edit.set_("x-api-key", key))
        else:
            edits.append(header_edit.set_("authorization", f"Bearer {key}"))
    return edits


_DROP_X_API_KEY = header_edit.drop("x-api-key")
_DROP_AUTHORIZATION = header_edit.drop("authorization")
# Headers that belong to one dialect: Anthropic needs ``anthropic-version``; an OpenAI upstream
# has no use for the Anthropic ones.
_TO_ANTHROPIC = (header_edit.default("anthropic-version", ANTHROPIC_VERSION),)
_ANTHROPIC_TO_OTHER = tuple(
    header_edit.drop(name)
    for name in ("anthropic-version", "anthropic-beta", "anthropic-dangerous-direct-browser-access")
)


def dialect_edits(client: Dialect, upstream: Dialect) -> tuple[Edit, ...]:
    if upstream == "anthropic":
        return _TO_ANTHROPIC
    if client == "anthropic":
        return _ANTHROPIC_TO_OTHER
    return ()
