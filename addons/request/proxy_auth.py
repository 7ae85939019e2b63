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

Without ``gateway_key`` the listener proxies only to the vendors' API hosts (ports 80 and 443)
and to the configured upstreams (their host and port); anything else gets ``403``, whoever
asks. A gateway is then never an open proxy, nor a way into the host's own loopback services:
not for a remote client, and not for a web page in the user's browser either (DNS rebinding:
a page whose name resolves to 127.0.0.1 sends origin-form requests to the gateway with its own
``Host``, which mitmproxy would otherwise forward to that host). With ``gateway_key``, clients
that present it may proxy to any host (recorded by the recorder's pass-through path).

Connections the listener accepted on an address that is not loopback, while the gateway was
not configured to listen there, are closed at once (:func:`accepted_on_loopback`): mitmproxy
binds to every interface before it loads the gateway, which then moves it to loopback.

Do not combine with mitmproxy's ``proxyauth`` option: it consumes the same header first.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hmac
import ipaddress
from dataclasses import dataclass, field
from typing import Any

from mitmproxy import http

from recorder import dialects, endpoints, ir

REALM = 'Basic realm="tapegate"'


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


@functools.lru_cache(maxsize=256)
def is_loopback(host: str) -> bool:
    """``host`` (an address as a socket names it) is a loopback address."""
    if host == "localhost":
        return True
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return bool(ip.is_loopback or (mapped is not None and mapped.is_loopback))


def accepted_on_loopback(client: Any) -> bool:
    """The client connection came in on a loopback address of this host (or on none: a flow
    mitmproxy made up, such as a replayed one)."""
    sockname: Any = getattr(client, "sockname", None)
    return not sockname or not sockname[0] or is_loopback(str(sockname[0]))


def dialect_for(flow: http.HTTPFlow) -> ir.Dialect:
    req = flow.request
    vendor = dialects.for_host(req.host, req.path.split("?", 1)[0])
    if vendor is not None:
        return vendor.name
    return dialects.guess_client(req.path.split("?", 1)[0], req.headers)


@dataclass(slots=True)
class ProxyGate:
    tunnels: set[str] = field(default_factory=set)  # client connections admitted by a CONNECT
    # Where proxy requests may go without gateway_key: the configured upstreams' (host, port).
    upstreams: frozenset[tuple[str, int]] = frozenset()

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
        req = flow.request
        if dialects.for_host(req.host) is not None and req.port in _WEB_PORTS:
            return True
        if (req.host, req.port) in self.upstreams:
            return True
        msg = (
            f"without gateway_key this gateway proxies only its upstreams and the vendors' APIs, "
            f"not {req.host}:{req.port}"
        )
        flow.response = _refusal(flow, 403, "permission", msg)
        return False


_WEB_PORTS = frozenset({80, 443})


def _refusal(flow: http.HTTPFlow, status: int, kind: ir.ErrorKind, msg: str) -> http.Response:
    _, body = endpoints.error_response(kind, msg, dialect_for(flow))
    return http.Response.make(status, body, endpoints.JSON_HEADERS)
