"""The few places where the gateway reaches past mitmproxy's addon API into its connection
handler (``Proxyserver.connections``, mitmproxy 11/12 internals), kept in one module.

Why at all: once a response is under way, an addon can no longer change what the client gets
through hooks (a streamed body's end, an error page mitmproxy writes itself, an upstream that
never answers). These helpers write to or inject into a live connection instead. Each returns
``False``/``None`` when the connection is not one it can handle (HTTP/2, already closed), and
the caller degrades to mitmproxy's own behaviour.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from mitmproxy import ctx, http
from mitmproxy.proxy import events

logger = logging.getLogger("tapegate.gateway")


def _handler(flow: http.HTTPFlow) -> Any:
    proxyserver: Any = ctx.master.addons.get("proxyserver")  # type: ignore[no-untyped-call]
    return proxyserver.connections.get(flow.client_conn.id) if proxyserver else None


def client_writer(flow: http.HTTPFlow) -> Any:
    """The HTTP/1 client's socket writer while it is open, else None."""
    if flow.client_conn.alpn == b"h2":
        return None
    handler = _handler(flow)
    io = handler.transports.get(flow.client_conn) if handler is not None else None
    if io is None or io.writer is None or io.writer.is_closing():
        return None
    return io.writer


def inject_from_server(flow: http.HTTPFlow, data: bytes) -> bool:
    """Hand mitmproxy's HTTP/1 client layer ``data`` as if the upstream had sent it."""
    server = flow.server_conn
    handler = _handler(flow)
    if handler is None or server.alpn == b"h2" or server not in handler.transports:
        return False
    task = asyncio.ensure_future(handler.server_event(events.DataReceived(server, data)))
    task.add_done_callback(_log_failure)
    return True


def server_closable(flow: http.HTTPFlow) -> bool:
    """The flow's upstream connection is HTTP/1 and open (closing it ends this flow only)."""
    server = flow.server_conn
    handler = _handler(flow)
    return handler is not None and server.alpn != b"h2" and server in handler.transports


def close_server(flow: http.HTTPFlow) -> bool:
    """Close the flow's (HTTP/1) upstream connection the way mitmproxy closes it itself: the
    HTTP layer then sees the connection end and runs the ``error`` hook for the flow."""
    if not server_closable(flow):
        return False
    _handler(flow).close_connection(flow.server_conn)
    return True


def _log_failure(task: asyncio.Future[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.warning("gateway: injecting data failed: %r", task.exception())
