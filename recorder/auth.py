"""Gateway key check and upstream credentials. Pure functions over a header mapping
(mitmproxy's ``Headers`` or a dict with lower-case keys); the upstream's headers come out as
:mod:`recorder.header_edit` edits, applied with the request's other edits in one pass.

- The client presents ``gateway_key`` as ``x-api-key`` or ``Authorization: Bearer``; it is
  compared in constant time and never forwarded upstream.
- Upstream credentials: the backend's key (from its environment variable, or a token it
  obtains), else the client's own key, written in the key style of the upstream's dialect
  (:attr:`recorder.dialects.DialectEntry.key_style`). With no key to convert and no backend key,
  headers are left alone.
- Headers that belong to a dialect (:attr:`~recorder.dialects.DialectEntry.required_headers`,
  :attr:`~recorder.dialects.DialectEntry.own_headers`) are added for its upstreams and dropped
  when its client's request goes to another dialect.
"""

from __future__ import annotations

import functools
import hmac
from collections.abc import Callable, MutableMapping

from recorder import dialects, header_edit
from recorder.dialects import KeyStyle
from recorder.header_edit import Edit
from recorder.ir import Dialect


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
    style: KeyStyle,
    backend_key: str | None,
    gateway_key_set: bool,
) -> list[Edit]:
    """The credential headers for the upstream, as edits of the client's ``headers``.

    ``gateway_key_set``: the client's key is the gateway key, so it must not travel on.
    """
    key = backend_key
    if key is None and not gateway_key_set:
        key = client_key(headers)
    edits = [_DROP_X_API_KEY, _DROP_AUTHORIZATION]
    if key is not None:
        edits.append(header_edit.set_(*key_header(style, key)))
    return edits


def key_header(style: KeyStyle, key: str) -> tuple[str, str]:
    """The header (name, value) in which an upstream of key style ``style`` takes ``key``."""
    return _KEY_STYLE[style](key)


_DROP_X_API_KEY = header_edit.drop("x-api-key")
_DROP_AUTHORIZATION = header_edit.drop("authorization")
_KEY_STYLE: dict[KeyStyle, Callable[[str], tuple[str, str]]] = {
    "x-api-key": lambda key: ("x-api-key", key),
    "bearer": lambda key: ("authorization", f"Bearer {key}"),
}


@functools.cache
def dialect_edits(client: Dialect, upstream: Dialect) -> tuple[Edit, ...]:
    """The upstream's required headers (when missing), and, when the dialects differ, the
    client dialect's own headers dropped (an upstream of another dialect has no use for them)."""
    src, dst = dialects.entry(client), dialects.entry(upstream)
    edits: list[Edit] = []
    if client != upstream:
        required = {name for name, _ in dst.required_headers}
        edits += [header_edit.drop(h) for h in src.own_headers if h not in required]
    edits += [header_edit.default(name, value) for name, value in dst.required_headers]
    return tuple(edits)
