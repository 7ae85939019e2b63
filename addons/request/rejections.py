"""mitmproxy's own HTTP-level rejections of a client's request, in the client's dialect.

mitmproxy refuses some requests before any addon can answer them: one without ``Host`` (what an
HTTP/1.0 client sends), a request line or header line it cannot read, framing headers that fail
its checks (both ``Content-Length`` and ``Transfer-Encoding``: request smuggling). Its HTTP/1
server layer answers them with a plain HTML 400, and for most of them no hook runs at all: the
gateway neither saw nor recorded them, and an SDK could only report a body it cannot parse.

So the gateway's HTTP layers use :class:`DialectRejections` as their HTTP/1 server side
(:func:`install`, from the ``next_layer`` hook): the same rejection with the same status, as the
dialect's error JSON when the request's path tells the dialect (``/v1/messages`` is Anthropic's,
``/v1/chat/completions`` and ``/v1/responses`` OpenAI's), else mitmproxy's page as before. Each
is reported to the gateway (:class:`Rejection`), which counts it and records it as the client's
error with what was read of the request (:func:`exchange`); a request that reaches the hooks
already refused is left alone there (``metadata.REJECTED``). HTTP/2 clients (only with
``gateway_http2``: :mod:`addons.http_versions`) are left as they are: h2 refuses a malformed
request with a stream reset, not a page."""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from mitmproxy import ctx, http
from mitmproxy.connection import ConnectionState
from mitmproxy.net.http import http1
from mitmproxy.proxy import commands, events, layer
from mitmproxy.proxy.context import Context
from mitmproxy.proxy.layers.http import HttpLayer
from mitmproxy.proxy.layers.http._base import ReceiveHttp
from mitmproxy.proxy.layers.http._events import (
    ErrorCode,
    HttpEvent,
    RequestProtocolError,
    ResponseProtocolError,
)
from mitmproxy.proxy.layers.http._http1 import Http1Server
from mitmproxy.proxy.layers.tls import ClientTLSLayer
from mitmproxy.utils import human

from recorder import dialects, endpoints, ir
from recorder.exchange import Exchange, HttpRequest, HttpResponse
from recorder.ir import Dialect
from recorder.secrets import redact_headers, redact_url

logger = logging.getLogger("tapegate.gateway")
# mitmproxy's statuses for a client's request it refuses, as the gateway's error kinds.
_KINDS: dict[int, ir.ErrorKind] = {400: "invalid_request", 413: "request_too_large"}
# mitmproxy's rejections of a request whose headers it read, but that no hook handles: a
# request without destination (no Host) reaches none, and one that fails mitmproxy's header
# checks (CL+TE) reaches requestheaders and error already refused, and the gateway leaves it
# alone there (metadata.REJECTED). Every other rejection is of a request the hooks handle.
_BEFORE_HOOKS = frozenset({ErrorCode.DESTINATION_UNKNOWN, ErrorCode.REQUEST_VALIDATION_FAILED})
# How much of a request's head is kept to name its target when mitmproxy cannot read the head.
_PEEK = 8192
_HEADERS = endpoints.JSON_HEADERS | {"connection": "close"}
# Exchange.extra of a recorded rejection: who refused the request
REJECTED_BY = "rejected_by"


@dataclass(frozen=True, slots=True)
class Rejection:
    """A request mitmproxy refused, as far as it was read."""

    status: int
    message: str  # mitmproxy's reason
    method: str  # "" when the request line was unreadable
    target: str  # the request target as sent ("" when unreadable)
    dialect: Dialect | None  # told by the target's path; None: mitmproxy's own page was sent
    answer: bytes  # the whole response the client was sent
    headers: list[tuple[str, str]] = field(default_factory=list)  # as sent, when they were read
    # The gateway's hooks see the request (``requestheaders``, ``error``) and record it
    # themselves; False: nothing else knows of it.
    seen: bool = False
    listener: tuple[str, int] | None = None  # the address the client connected to


OnRejected = Callable[[Rejection], None]


def dialect_answer(status: int, message: str, path: str) -> tuple[Dialect, bytes] | None:
    """mitmproxy's rejection ``status`` of a request for ``path``, as a whole HTTP/1.1 response
    in the dialect the path tells; None when it tells none (or the status is not a client's
    error)."""
    kind = _KINDS.get(status)
    entry = dialects.for_path(path) if kind is not None else None
    if kind is None or entry is None:
        return None
    code, body = endpoints.error_response(kind, message, entry.name)
    resp = http.Response.make(code, body, _HEADERS)
    raw: bytes = http1.assemble_response(resp)  # type: ignore[no-untyped-call]
    return entry.name, raw


def request_line(head: bytes) -> tuple[str, str]:
    """The method and target of a request head's first line, as far as it reads (``""``)."""
    line = head.split(b"\n", 1)[0].strip()
    parts = line.decode("latin-1").split()
    return (parts[0], parts[1]) if len(parts) >= 2 else ("", "")


def path_of(target: str) -> str:
    """The path of an origin-form (``/v1/messages?x``) or absolute-form request target."""
    return urlsplit(target).path if "://" in target else target.split("?", 1)[0]


def exchange(r: Rejection, exchange_id: str, started_at: float, listener: str) -> Exchange:
    """The record of a rejection no hook saw: the client's error, with what was read of the
    request. ``listener``: ``host:port`` the client connected to (an origin-form target's
    base)."""
    url = r.target if "://" in r.target or not r.target else f"http://{listener}{r.target}"
    head, _, body = r.answer.partition(b"\r\n\r\n")
    response_headers = [
        (k.decode("latin-1"), v.decode("latin-1"))
        for k, _, v in (line.partition(b": ") for line in head.split(b"\r\n")[1:])
    ]
    return Exchange(
        id=exchange_id,
        started_at=started_at,
        client_dialect=r.dialect,
        client_request=HttpRequest(r.method, redact_url(url), redact_headers(r.headers), None),
        client_response=HttpResponse(r.status, response_headers, body),
        error=f"request refused: {r.message}",
        t_end=0.0,
        extra={"client_error": True, REJECTED_BY: "mitmproxy"},
    )


Commands = Generator[commands.Command, Any, None]


def _reason(after_page: list[commands.Command]) -> str:
    """Why mitmproxy's HTTP/1 server refused a head, from the commands after its page."""
    for c in after_page:
        if isinstance(c, ReceiveHttp) and isinstance(c.event, RequestProtocolError):
            return c.event.message
        if isinstance(c, commands.Log):  # "client address: reason"
            return c.message.split(": ", 1)[-1]
    return "unreadable request head"


class DialectRejections(Http1Server):
    """mitmproxy's HTTP/1 server side, whose own rejections of a request are in the dialect its
    path tells (see the module's docstring)."""

    def __init__(self, context: Context, on_rejected: OnRejected) -> None:
        super().__init__(context)
        self._on_rejected = on_rejected

    def send(self, event: HttpEvent) -> Commands:
        # Not a generator itself: every event of every response passes here, and only a
        # protocol error needs more than mitmproxy's own ``send``.
        if isinstance(event, ResponseProtocolError):
            return self._send_error(event)
        return super().send(event)

    def _send_error(self, event: ResponseProtocolError) -> Commands:
        req = self.request
        if (
            self.response is None
            and req is not None
            and self.conn.state & ConnectionState.CAN_WRITE
        ):
            status = event.code.http_status_code()
            found = dialect_answer(status, event.message, req.path) if status else None
            if status is not None and found is not None:
                yield commands.SendData(self.conn, found[1])
                yield commands.CloseConnection(self.conn)
                seen = event.code not in _BEFORE_HOOKS
                self._report(status, event.message, req.method, req.path, *found, req, seen)
                return
        yield from super().send(event)

    def read_headers(self, event: events.ConnectionEvent) -> Commands:
        # The head as it arrived (a copy of at most one read): mitmproxy consumes it before it
        # can tell that it cannot read it.
        head = bytes(self.buf)[:_PEEK] if isinstance(event, events.DataReceived) else b""
        gen = super().read_headers(event)
        for command in gen:
            if isinstance(command, commands.SendData) and command.connection is self.conn:
                # The only data read_headers sends: its page for a head it cannot read. What
                # follows says why: a log line, or (a head it read, whose framing headers are
                # wrong) the request for the hooks and its error. That request goes no further
                # (no flow, no hook): it is answered, logged and recorded here, as the others.
                rest = list(gen)
                message = _reason(rest)
                yield self._unreadable(head, command, message)
                yield from (c for c in rest if not isinstance(c, ReceiveHttp | commands.Log))
                yield commands.Log(f"{human.format_address(self.conn.peername)}: {message}")
                return
            yield command

    def _unreadable(self, head: bytes, page: commands.SendData, message: str) -> commands.SendData:
        req = self.request
        method, target = (req.method, req.path) if req is not None else request_line(head)
        found = dialect_answer(400, message, path_of(target))
        dialect, answer = found if found is not None else (None, page.data)
        self._report(400, message, method, target, dialect, answer, req, seen=False)
        return commands.SendData(self.conn, answer)

    def _report(
        self,
        status: int,
        message: str,
        method: str,
        target: str,
        dialect: Dialect | None,
        answer: bytes,
        req: http.Request | None,
        seen: bool,
    ) -> None:
        try:
            fields = req.headers.fields if req is not None else ()
            rejection = Rejection(
                status=status,
                message=message,
                method=method,
                target=target,
                dialect=dialect,
                answer=answer,
                headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in fields],
                seen=seen,
                listener=self.conn.sockname,
            )
            self._on_rejected(rejection)
        except Exception:  # noqa: BLE001 - a report must not break the connection's layer
            logger.exception("gateway: reporting a rejected request failed")


def install(nextlayer: layer.NextLayer, on_rejected: OnRejected) -> bool:
    """Make the HTTP layer mitmproxy starts for this connection answer an HTTP/1 client's
    rejected requests through :class:`DialectRejections`. mitmproxy's own ``next_layer`` addon,
    which runs after the scripts', is asked for its choice now (it leaves a choice made by
    another addon alone, so it is not made twice); the HTTP layer takes a server side set
    before it starts, as it does for client playback. A client that speaks TLS (to the gateway,
    or inside a CONNECT tunnel) gets its TLS layer and, below it, the HTTP layer in one choice,
    before the handshake tells the HTTP version: then only while HTTP/2 is off (the gateway's
    default, :mod:`addons.http_versions`). False: not an HTTP/1 client's HTTP layer."""
    if nextlayer.layer is None:
        decide = ctx.master.addons.get("nextlayer")  # type: ignore[no-untyped-call]
        if decide is None:
            return False
        decide.next_layer(nextlayer)
    http_layer: layer.Layer | None = nextlayer.layer
    handshake_pending = False
    while isinstance(http_layer, ClientTLSLayer | layer.NextLayer):
        handshake_pending |= isinstance(http_layer, ClientTLSLayer) and not http_layer.tls
        http_layer = (
            http_layer.child_layer if isinstance(http_layer, ClientTLSLayer) else http_layer.layer
        )
    if not isinstance(http_layer, HttpLayer):
        return False
    client = http_layer.context.client
    alpn = client.alpn or b""
    if handshake_pending and ctx.options.http2:
        return False  # it may speak HTTP/2 once the handshake is done
    if alpn == b"h2" or alpn.startswith(b"h3") or client in http_layer.connections:
        return False
    http_layer.connections[client] = DialectRejections(http_layer.context.fork(), on_rejected)
    return True
