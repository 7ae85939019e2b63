"""Who may use the listener as an *explicit proxy* (absolute-form requests, CONNECT tunnels).

Requests addressed to the gateway itself (the client's base URL is the gateway) present
``gateway_key`` as ``x-api-key`` or ``Authorization: Bearer`` (:mod:`recorder.auth`). On
explicit-proxy traffic those headers are the client's credentials *for the vendor* and travel
on untouched, so the gateway key is presented as **proxy credentials** instead:

* ``Proxy-Authorization: Basic base64(user:KEY)`` (any user name; or the key as the user name
  with an empty password) or ``Proxy-Authorization: Bearer KEY``. With most clients that is
  ``HTTPS_PROXY=http://tapegate:KEY@127.0.0.1:8080``.
* Checked on the ``CONNECT`` (every request in the tunnel is then admitted, as mitmproxy's own
  ``proxyauth`` does) or on each absolute-form request, compared in constant time, and removed
  before the request is forwarded: the gateway key never goes upstream.
* Missing or wrong: ``407`` with ``Proxy-Authenticate: Basic realm="tapegate"`` and an
  authentication error in the client's dialect (the vendor host's, else guessed from the
  request).

Hosts other than the vendors' APIs are proxied plainly (recorded by the recorder's pass-through
path) only for clients the gateway trusts: with ``gateway_key``, clients that presented it;
without one (the listener is then loopback-only unless ``gateway_allow_remote``), loopback
clients. Anyone else gets ``403``: a gateway listening beyond loopback is not an open proxy, nor
a way into the host's own loopback services. Vendor hosts without ``gateway_key`` stay open to
remote clients under ``gateway_allow_remote``: they need their own vendor key anyway.

Do not combine with mitmproxy's ``proxyauth`` option: it consumes the same header first.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import dataclass, field

from mitmproxy import http

from recorder import dialects, endpoints, ir

REALM = 'Basic realm="tapegate"'
_LOOPBACK_PEERS = frozenset({"::1", "localhost"})


def presented_key(value: str) -> str | None:
    """The key in a ``Proxy-Authorization`` value, or None."""
    scheme, _, token = value.strip().partition(" ")
    token = token.strip()
    if scheme.lower() == "bearer":
        return token or None
    if scheme.lower() != "basic":
        return None
    try:
        user, _, password = base64.b64decode(token, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return password or user or None


def key_matches(value: str, key: str) -> bool:
    presented = presented_key(value)
    return presented is not None and hmac.compare_digest(presented.encode(), key.encode())


def is_loopback_peer(flow: http.HTTPFlow) -> bool:
    host = str(flow.client_conn.peername[0]) if flow.client_conn.peername else ""
    return host.startswith(("127.", "::ffff:127.")) or host in _LOOPBACK_PEERS


def dialect_for(flow: http.HTTPFlow) -> ir.Dialect:
    req = flow.request
    vendor = dialects.for_host(req.host, req.path.split("?", 1)[0])
    if vendor is not None:
        return vendor.name
    return dialects.guess_client(req.path.split("?", 1)[0], req.headers)


@dataclass(slots=True)
class ProxyGate:
    tunnels: set[str] = field(default_factory=set)  # client connections admitted by a CONNECT

    def admit(self, flow: http.HTTPFlow, key: str | None) -> bool:
        """Explicit-proxy request (``requestheaders``): True to let it through; otherwise the
        refusal is set as ``flow.response``."""
        if key is not None and flow.client_conn.id in self.tunnels:
            return True
        return self._check(flow, key)

    def connect(self, flow: http.HTTPFlow, key: str | None) -> None:
        """``http_connect``: admit the tunnel (and so its requests) or refuse it."""
        if self._check(flow, key) and key is not None:
            self.tunnels.add(flow.client_conn.id)

    def forget(self, client_id: str) -> None:
        self.tunnels.discard(client_id)

    def _check(self, flow: http.HTTPFlow, key: str | None) -> bool:
        headers = flow.request.headers
        if key is not None:
            if not key_matches(headers.get("proxy-authorization", ""), key):
                flow.response = _refusal(flow, 407, "authentication", "gateway key required")
                flow.response.headers["proxy-authenticate"] = REALM
                return False
            del headers["proxy-authorization"]  # consumed here, never forwarded
            return True
        if dialects.for_host(flow.request.host) is not None or is_loopback_peer(flow):
            return True
        msg = "this gateway proxies only the vendors' APIs for remote clients"
        flow.response = _refusal(flow, 403, "permission", msg)
        return False


def _refusal(flow: http.HTTPFlow, status: int, kind: ir.ErrorKind, msg: str) -> http.Response:
    _, body = endpoints.error_response(kind, msg, dialect_for(flow))
    return http.Response.make(status, body, endpoints.JSON_HEADERS)
