"""The first-token timeout on mitmproxy's own upstream connection.

mitmproxy has no read timeout for upstream responses, and a response an addon sets after the
request left is overwritten by whatever the upstream sends. So when the timer fires the gateway
hands mitmproxy's HTTP/1 client layer a complete ``504`` response (in the client's dialect, with
``connection: close``) as if it had come from the upstream; mitmproxy then runs its usual hooks,
answers the client and closes the silent upstream connection. This reaches into
``Proxyserver.connections`` (mitmproxy 11/12 internals), so it is used only for HTTP/1 upstream
connections and degrades to "no timeout" (logged) anywhere else.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from mitmproxy import ctx, http
from mitmproxy.proxy import events

from addons.endpoints import error_response
from addons.flowstate import FlowState
from recorder.sse import SseEvent, encode

logger = logging.getLogger("tapegate.gateway")


def inject_timeout(flow: http.HTTPFlow, st: FlowState, seconds: float) -> None:
    try:
        status, body = error_response(
            "timeout", f"upstream sent nothing within {seconds:g}s", st.client
        )
        server = flow.server_conn
        proxyserver: Any = ctx.master.addons.get("proxyserver")  # type: ignore[no-untyped-call]
        handler = proxyserver.connections.get(flow.client_conn.id) if proxyserver else None
        if handler is None or server.alpn == b"h2" or server not in handler.transports:
            logger.warning("gateway: first-token timeout cannot be enforced on this connection")
            return
        st.local = True  # the 504 is the gateway's answer, not the upstream's
        head = (
            f"HTTP/1.1 {status} Gateway Timeout\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
        ).encode()
        task = asyncio.ensure_future(handler.server_event(events.DataReceived(server, head + body)))
        st.ex.extra["first_token_timeout"] = seconds
        task.add_done_callback(_log_failure)
    except Exception:  # noqa: BLE001 - a timer must never take the proxy down
        logger.exception("gateway: first-token timeout failed")


def _log_failure(task: asyncio.Future[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.warning("gateway: injecting the timeout response failed: %r", task.exception())


def finish_broken_stream(flow: http.HTTPFlow, st: FlowState) -> None:
    """The upstream died mid-stream (mitmproxy calls ``error``, never ``stream(b"")``, when a
    chunked body is cut). Before mitmproxy closes the client connection, write the closing
    events in the client's dialect (an error event) and end the chunked body properly, so the
    client sees a failed stream rather than a silently truncated one. HTTP/1 clients only."""
    try:
        resp = flow.response
        proxyserver: Any = ctx.master.addons.get("proxyserver")  # type: ignore[no-untyped-call]
        handler = proxyserver.connections.get(flow.client_conn.id) if proxyserver else None
        io = handler.transports.get(flow.client_conn) if handler is not None else None
        if resp is None or io is None or io.writer is None or flow.client_conn.alpn == b"h2":
            return
        tail = st.translator.feed(b"") if st.translator is not None else b""
        if not tail:  # pass-through: the translator adds nothing, so say it here
            _, body = error_response(
                "bad_gateway", "upstream connection lost mid-stream", st.client
            )
            ev = SseEvent(event="error" if st.client == "anthropic" else None, data=body.decode())
            if st.translator is not None and st.translator._observer is not None:
                st.translator._observer.client_event(ev)
            tail = encode(ev)
        if "chunked" in resp.headers.get("transfer-encoding", "").lower():
            tail = b"%x\r\n%s\r\n0\r\n\r\n" % (len(tail), tail)
        io.writer.write(tail)
    except Exception:  # noqa: BLE001
        logger.exception("gateway: could not close the broken stream")
