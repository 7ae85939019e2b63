"""Idle upstream connections are closed after a bounded keep-alive (issue 11).

mitmproxy ties each upstream connection to the client connection it was opened for and keeps it
while that client keeps its own. An SDK's pooled connection can stay open idle for as long as its
process runs (httpx closes an expired connection only when the pool is next used), and so did the
upstream connection behind it, seen after 429/529 retries for more than nine minutes. Once a
client connection has had no request under way for ``gateway_upstream_keepalive`` seconds, its
upstream connections are closed; the client's own stays open (closing it under a client that is
just sending a request would lose that request), and its next request opens a new upstream
connection.
"""

from __future__ import annotations

import asyncio

from mitmproxy import http

from addons import mitm_io

_UNDER_WAY = "tapegate.keepalive"  # flow metadata: counted in, to be counted out once


class IdleUpstreams:
    def __init__(self) -> None:
        self._under_way: dict[str, int] = {}  # client connection id -> its flows under way
        self._timers: dict[str, asyncio.TimerHandle] = {}

    def began(self, flow: http.HTTPFlow) -> None:
        cid = flow.client_conn.id
        flow.metadata[_UNDER_WAY] = True
        self._under_way[cid] = self._under_way.get(cid, 0) + 1
        timer = self._timers.pop(cid, None)
        if timer is not None:
            timer.cancel()

    def ended(self, flow: http.HTTPFlow, keepalive: float) -> None:
        if not flow.metadata.pop(_UNDER_WAY, False):
            return
        cid = flow.client_conn.id
        left = self._under_way.get(cid, 1) - 1
        if left > 0:
            self._under_way[cid] = left
            return
        self._under_way.pop(cid, None)
        if keepalive <= 0:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # a hook called outside mitmproxy's loop (unit tests)
            return
        self._timers[cid] = loop.call_later(keepalive, self._expire, cid)

    def forget(self, client_id: str) -> None:
        """The client connection closed (and its upstream connections with it)."""
        self._under_way.pop(client_id, None)
        timer = self._timers.pop(client_id, None)
        if timer is not None:
            timer.cancel()

    def _expire(self, client_id: str) -> None:
        self._timers.pop(client_id, None)
        if not self._under_way.get(client_id):
            mitm_io.close_upstreams(client_id)
