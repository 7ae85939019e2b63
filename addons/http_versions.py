"""Which HTTP versions the gateway speaks: HTTP/1.1 with clients and upstreams, unless
``gateway_http2`` asks for HTTP/2 too.

The gateway's hold on an exchange under way reaches into mitmproxy's HTTP/1 connection layers
(:mod:`addons.mitm_io`): the deadlines that fire after the request left (``gateway_*_timeout``),
the dialect's error event that ends a stalled or broken stream, the in-dialect 502/504 instead
of mitmproxy's page, and mitmproxy's own rejections in the client's dialect
(:mod:`addons.request.rejections`). On an HTTP/2 connection (one of many streams that mitmproxy
frames itself) none of them can act: a client that negotiated HTTP/2, over TLS to the gateway or
through a CONNECT tunnel, would wait on a stalled upstream without limit. mitmproxy negotiates
HTTP/2 by ALPN whenever its ``http2`` option is on, its default; every HTTP/2 client offers
HTTP/1.1 too, so with the option off they all speak HTTP/1.1, and so does every upstream
connection (mitmproxy offers an upstream what the client offered)."""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger("tapegate")

# What a gateway that speaks HTTP/2 gives up, said when it is turned on.
LOST_OVER_HTTP2 = (
    "on HTTP/2 connections (clients that negotiate it, and their upstreams) the gateway's "
    "deadlines (gateway_*_timeout) do not hold, a stalled or broken stream ends without the "
    "dialect's error event, and malformed requests get a stream reset instead of a 400"
)


def settle(options: Any, wanted: bool) -> None:
    """Set mitmproxy's ``http2`` option to what ``gateway_http2`` says (``wanted``)."""
    if options.http2 != wanted:
        options.update(http2=wanted)
    if wanted:
        logger.warning(f"tapegate: gateway_http2=true: {LOST_OVER_HTTP2}")


def changed_by_hand(options: Any, wanted: bool) -> None:
    """mitmproxy's ``http2`` option was changed by itself (mitmweb's options, ``set``): the
    change stands, but turning HTTP/2 on without ``gateway_http2`` is said to cost."""
    if options.http2 and not wanted:
        logger.warning(f"tapegate: http2 is on: {LOST_OVER_HTTP2}")
