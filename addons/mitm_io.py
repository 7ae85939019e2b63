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
from collections.abc import Iterator
from typing import Any

import h11
from mitmproxy import ctx, http
from mitmproxy.connection import Server
from mitmproxy.proxy import commands
from mitmproxy.proxy.layers.http import HttpLayer
from mitmproxy.proxy.layers.http._http1 import Http1Client
from mitmproxy.proxy.layers.tls import ClientTLSLayer, TLSLayer
from mitmproxy.proxy.tunnel import TunnelState

logger = logging.getLogger("tapegate.gateway")


def _handler(flow: http.HTTPFlow) -> Any:
    proxyserver: Any = ctx.master.addons.get("proxyserver")  # type: ignore[no-untyped-call]
    return proxyserver.connections.get(flow.client_conn.id) if proxyserver else None


def client_writer(flow: http.HTTPFlow) -> ClientWriter | None:
    """A writer to the HTTP/1 client while its connection is open, else None."""
    if flow.client_conn.alpn == b"h2":
        return None
    handler = _handler(flow)
    io = handler.transports.get(flow.client_conn) if handler is not None else None
    if io is None or io.writer is None or io.writer.is_closing():
        return None
    tls = _client_tls(flow, handler.layer)
    if flow.client_conn.tls and not tls:
        return None  # a TLS connection whose TLS layer is not found: never plaintext into it
    return ClientWriter(io.writer, tls)


class ClientWriter:
    """Writes bytes to the client as mitmproxy's HTTP/1 layer would: through the connection's
    TLS layers when it has any (TLS to the gateway, or inside a CONNECT tunnel), each record
    in turn; the socket's own writer otherwise."""

    def __init__(self, writer: asyncio.StreamWriter, tls: list[TLSLayer]) -> None:
        self._writer = writer
        self._tls = tls  # outermost first

    def write(self, data: bytes) -> None:
        for tls in reversed(self._tls):
            data = _encrypt(tls, data)
        self._writer.write(data)

    async def drain(self) -> None:
        await self._writer.drain()


def _encrypt(tls: TLSLayer, data: bytes) -> bytes:
    """``data`` as the TLS layer sends it (its ``send_data`` only yields the records to send)."""
    out = bytearray()
    for command in tls.send_data(data):
        if isinstance(command, commands.SendData):
            out += command.data
    return bytes(out)


def _client_tls(flow: http.HTTPFlow, root: Any) -> list[TLSLayer]:
    """The TLS layers established on ``flow``'s client connection, outermost first."""
    return [
        layer
        for layer in _layers(root)
        if isinstance(layer, ClientTLSLayer)
        and layer.conn is flow.client_conn
        and layer.tls is not None
        and layer.tunnel_state is TunnelState.OPEN
    ]


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


def close_upstreams(client_id: str) -> int:
    """Close the open upstream connections of a client connection (none may have a request
    under way); how many were closed. mitmproxy opens a new one for the client's next request."""
    proxyserver: Any = ctx.master.addons.get("proxyserver")  # type: ignore[no-untyped-call]
    handler = proxyserver.connections.get(client_id) if proxyserver else None
    if handler is None:
        return 0
    servers = [
        c
        for c, io in handler.transports.items()
        if isinstance(c, Server) and c.connected and io.handler is not None
    ]
    for server in servers:
        handler.close_connection(server)
    return len(servers)


def end_body_at_close(flow: http.HTTPFlow) -> bool:
    """Make the flow's (HTTP/1) upstream body end where it stands: mitmproxy keeps reading it (so
    the connection's framing stays intact) but hands nothing more on, its natural end still ends
    it, and the connection's close ends it cleanly instead of failing the flow. After this,
    :func:`close_server` makes mitmproxy finish the response, to HTTP/1 and HTTP/2 clients alike,
    through the ``response`` hook. False when the upstream connection is not HTTP/1 or is not
    reading this flow's body."""
    reader = _body_reader_of(flow)
    if reader is None:
        return False
    reader.body_reader = BodyEndsAtClose(reader.body_reader)
    return True


class BodyEndsAtClose:
    """An h11 body reader in front of the real one: data after the stream's end is dropped (a
    framing error in it too), the body's own end passes, and EOF is an end, not an error."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __call__(self, buf: Any) -> Any:
        while self._inner is not None:
            try:
                ev = self._inner(buf)
            except h11.ProtocolError:
                self._inner = None  # garbage after the end: only the close ends it now
                break
            if not isinstance(ev, h11.Data):
                return ev  # None (wait for more) or EndOfMessage
        buf.maybe_extract_at_most(len(buf))
        return None

    def read_eof(self) -> h11.EndOfMessage:
        return h11.EndOfMessage()


def _body_reader_of(flow: http.HTTPFlow) -> Any:
    """mitmproxy's HTTP/1 client layer reading ``flow``'s response body, else None."""
    handler = _handler(flow)
    if handler is None or flow.server_conn.alpn == b"h2":
        return None
    http_layer = _http_layer_of(flow, handler.layer)
    stack = http_layer.connections.get(flow.server_conn) if http_layer is not None else None
    # The connection's layers share one context; its HTTP/1 layer is the last (mitmproxy's
    # own message injection finds it the same way).
    conn = stack.context.layers[-1] if stack is not None else None
    if not isinstance(conn, Http1Client) or conn.state != conn.read_body:
        return None
    streams = [sid for sid, s in http_layer.streams.items() if s.flow is flow]  # type: ignore[union-attr]
    return conn if streams == [conn.stream_id] else None


def _http_layer_of(flow: http.HTTPFlow, root: Any) -> HttpLayer | None:
    """The HTTP layer that holds ``flow``'s upstream connection: the connection's own, or one
    inside a CONNECT tunnel (explicit-proxy traffic), found below the tunnel's stream."""
    for layer in _layers(root):
        if isinstance(layer, HttpLayer) and flow.server_conn in layer.connections:
            return layer
    return None


def _layers(root: Any) -> Iterator[Any]:
    """Every layer of a client connection's stack, outermost first: the stack's own, and those
    inside each CONNECT tunnel (below the tunnel's stream in an HTTP layer)."""
    pending = [root]
    seen: set[int] = set()
    while pending:
        for layer in pending.pop(0).context.layers:
            if id(layer) in seen:
                continue
            seen.add(id(layer))
            yield layer
            if isinstance(layer, HttpLayer):
                pending += [
                    c for s in layer.streams.values() if (c := getattr(s, "child_layer", None))
                ]


def _log_failure(task: asyncio.Future[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.warning("gateway: injecting data failed: %r", task.exception())
