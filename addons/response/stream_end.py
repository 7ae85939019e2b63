"""Ending a client's stream the gateway's way, when the upstream does not end it properly.

Once a streamed response is under way its head is sent, so a failure can only be told in the
stream itself: an error event in the client's dialect (Anthropic ``event: error``, OpenAI a
``data: {"error": ...}`` chunk), recorded on the client leg, then the end of the chunked body.
Both are written to the HTTP/1 client's socket directly (:mod:`addons.mitm_io`) because
mitmproxy calls no stream callable when an upstream stalls or dies:

* :func:`finish_broken_stream`: the upstream died mid-stream (mitmproxy calls ``error``, never
  ``stream(b"")``, when a chunked body is cut); the translator's own closing events, else a
  ``bad_gateway`` error event.
* :func:`end_with_error`: the gateway gives up on a stream (the first-token timeout).

And ending a stream that went through, once its terminal event passed
(:func:`after_terminal_event`): the client must not wait for the upstream to end its body.
"""

from __future__ import annotations

import asyncio
import logging

from mitmproxy import http

from addons import mitm_io
from addons.flow_state import Done, FlowState, Streaming
from recorder import endpoints, ir
from recorder.sse import encode

logger = logging.getLogger("tapegate.gateway")


def error_event(st: FlowState, kind: ir.ErrorKind, msg: str) -> bytes:
    """An error event in the client's dialect, recorded on the client leg, as SSE bytes."""
    ev = endpoints.error_event(kind, msg, st.client)
    wire = encode(ev)
    if st.tape is not None:
        st.tape.client([ev], wire)
    return wire


def framed_end(resp: http.Response, tail: bytes) -> bytes | None:
    """``tail`` and the end of the body, in the response's framing; None for a body whose
    length was announced (nothing can be added to it)."""
    if "chunked" in resp.headers.get("transfer-encoding", "").lower():
        return b"%x\r\n%s\r\n0\r\n\r\n" % (len(tail), tail) if tail else b"0\r\n\r\n"
    if "content-length" in resp.headers:
        return None
    return tail  # delimited by the connection's close


def finish_broken_stream(flow: http.HTTPFlow, st: FlowState) -> None:
    try:
        resp = flow.response
        writer = mitm_io.client_writer(flow)
        if resp is None or writer is None:
            return
        phase = st.phase
        if not isinstance(phase, Streaming):
            return
        tail = phase.translator.feed(b"")
        if not tail:  # pass-through: the translator adds nothing, so say it here
            tail = error_event(st, "bad_gateway", "upstream connection lost mid-stream")
        data = framed_end(resp, tail)
        if data is not None:
            writer.write(data)
        st.close_stream()
    except Exception:  # noqa: BLE001
        logger.exception("gateway: could not close the broken stream")


def end_with_error(flow: http.HTTPFlow, st: FlowState, kind: ir.ErrorKind, msg: str) -> bool:
    """End a stream that is under way with an error event, and close the upstream connection
    so that mitmproxy finishes the flow (through ``error``). False when this connection pair
    cannot be handled (HTTP/2 on either side): the stream then goes on untouched."""
    resp = flow.response
    writer = mitm_io.client_writer(flow)
    if resp is None or writer is None or not mitm_io.server_closable(flow):
        return False
    resp.stream = _drop  # whatever the upstream still sends stays here
    data = framed_end(resp, error_event(st, kind, msg))
    if data is not None:
        writer.write(data)
    st.close_stream()
    mitm_io.close_server(flow)
    return True


# How long a stream whose terminal event passed waits for the upstream's own end of body
# (``0\r\n\r\n``, or the close of a close-delimited body). It normally arrives with the terminal
# event or a moment later, and the upstream connection is then kept for the next request; an
# upstream that lingers longer is not waited for: its connection is closed.
TAIL_GRACE = 0.05  # seconds
# Exchange.extra: the gateway ended the upstream body (closed its connection) after the stream
ABANDONED = "upstream_body_abandoned"


def after_terminal_event(flow: http.HTTPFlow, st: FlowState) -> None:
    """The stream callable just sent the client its stream's terminal event (``[DONE]``,
    ``message_stop``, an error event; see ``StreamTranslator.done``): whatever the upstream
    sends afterwards is not part of the stream, and the client's response ends now.

    mitmproxy's stream callable cannot end a response itself; its end follows the upstream's.
    So the upstream body is made to end where it stands (:func:`addons.mitm_io.end_body_at_close`):
    its own end, if it comes within :data:`TAIL_GRACE`, ends the response as usual; otherwise the
    upstream connection is closed, which now ends the body cleanly. Either way mitmproxy ends
    the client's response (HTTP/1 and HTTP/2) and runs the ``response`` hook: a completed
    exchange. An HTTP/2 upstream connection (shared by other streams) is left as it is."""
    resp = flow.response
    assert resp is not None
    st.cancel_timer()  # the deadlines have nothing left to time
    resp.stream = _drop
    if mitm_io.end_body_at_close(flow):
        asyncio.get_running_loop().call_later(TAIL_GRACE, _abandon_upstream, flow, st)


def _abandon_upstream(flow: http.HTTPFlow, st: FlowState) -> None:
    if isinstance(st.phase, Done) or not flow.live:  # the upstream ended its body in time
        return
    if mitm_io.close_server(flow):
        st.ex.extra[ABANDONED] = True


def _drop(chunk: bytes) -> list[bytes]:
    return []
