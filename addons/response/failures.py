"""What the gateway makes of mitmproxy's ``error`` hook (a flow that ended without ``response``).

* **The client hung up after the stream's terminal event** (``data: [DONE]``,
  ``message_stop``, or an error event): the OpenAI SDK closes the connection right after
  ``[DONE]`` and both SDKs close at an error event, often before the upstream's last bytes
  (the chunked body's end) arrive, and mitmproxy reports "Client disconnected.". The client
  got everything, so the exchange is finished as completed: response head, events, usage, stop
  reason (and an in-stream error's message as ``error``, as for any stream), with
  ``extra["client_closed_early"] = True`` instead of an error. ``flow.error`` is cleared so
  that the recorder, which runs next, does not record the hang-up as the exchange's error.
* **The client hung up mid-stream**: an error with the events that did pass.
* **The upstream died mid-stream**: closing events in the client's dialect
  (:func:`addons.response.stream_end.finish_broken_stream`).
* **The client's request never arrived whole** (a malformed chunked body, a hang-up mid-body):
  recorded as the client's error with its method and URL; a 400 in its dialect if it listens.
* **The upstream died before or while sending a non-streamed response** (reset before the
  headers, or a JSON body cut short): mitmproxy would answer its own HTML 502. The gateway writes
  a 502 in the client's dialect to the (HTTP/1) client socket itself and kills the flow, so
  mitmproxy only closes the connection. When the gateway itself cut that body because it took
  too long (:mod:`addons.upstream.timeouts`), the answer is a 504 naming the timeout.
"""

from __future__ import annotations

from typing import assert_never

from mitmproxy import http

from addons import mitm_io, snapshots
from addons.flow_state import (
    Answered,
    Done,
    FlowState,
    Renewing,
    Retrying,
    Sent,
    StreamClosed,
    Streaming,
)
from addons.response.replies import raw_error
from addons.response.stream import finish_stream
from addons.response.stream_end import finish_broken_stream
from recorder.dialects import codec

EARLY_CLOSE = "client_closed_early"


def on_error(flow: http.HTTPFlow, st: FlowState) -> None:
    msg = flow.error.msg if flow.error else "unknown error"
    client_side = _client_side(msg)
    phase = st.phase
    match phase:
        case Streaming():
            if client_side and carried_terminal(st):
                finish_stream(flow, st)
                st.ex.extra[EARLY_CLOSE] = True
                flow.error = None  # a completed exchange, for the recorder too
                return
            if not client_side:
                finish_broken_stream(flow, st)
            _stream_failed(flow, st, msg)
        case StreamClosed():
            _stream_failed(flow, st, msg)
        case Sent() if flow.request.timestamp_end is None:
            _request_broken(flow, st, msg)
        case Sent() | Retrying() | Renewing() if not client_side:
            _answer_bad_gateway(flow, st, msg)
        case Sent() | Retrying() | Renewing() | Answered():
            if st.ex.error is None:
                st.ex.error = msg
        case Done():
            pass  # finished and handed to the recorder already
        case _:
            assert_never(phase)


def _stream_failed(flow: http.HTTPFlow, st: FlowState, msg: str) -> None:
    error = st.ex.error  # the gateway's own reason (a timeout) wins over the events'
    finish_stream(flow, st)  # the response head and what the events said so far
    st.ex.error = error or msg


def _client_side(msg: str) -> bool:
    """mitmproxy's messages for a client that went away ("Client disconnected.", h2 resets
    from the client) name the client; upstream failures do not."""
    return "client" in msg.lower()


def carried_terminal(st: FlowState) -> bool:
    """The last event the client was sent ends its stream."""
    last = st.tape.last if st.tape is not None else None
    return last is not None and codec(st.client).is_terminal(last)


def _request_broken(flow: http.HTTPFlow, st: FlowState, msg: str) -> None:
    """The client's request never arrived whole (a malformed chunked body, a hang-up mid-body):
    the client's error, not the upstream's. Recorded with what is known of the request (its
    method, URL and headers; the gateway's request hook never ran), answered with a 400 in the
    client's dialect while it still listens."""
    if st.rec and st.ex.client_request is None:
        st.ex.client_request = snapshots.snapshot_request(flow.request, None, st.client_url)
    st.ex.error = f"client request incomplete: {msg}"
    st.ex.extra["client_error"] = True
    writer = mitm_io.client_writer(flow)
    if writer is None or not flow.killable:
        return
    writer.write(raw_error(st, "invalid_request", st.ex.error))
    flow.kill()  # type: ignore[no-untyped-call]


def _answer_bad_gateway(flow: http.HTTPFlow, st: FlowState, msg: str) -> None:
    """In-dialect 502 instead of mitmproxy's HTML one (HTTP/1 clients; others keep it)."""
    writer = mitm_io.client_writer(flow)
    if writer is None or not flow.killable:
        if st.ex.error is None:
            st.ex.error = msg
        return
    when = "mid-response" if flow.response is not None else "before answering"
    if flow.response is not None and st.rec:
        st.ex.upstream_response = snapshots.snapshot_response(flow.response, None)
    if st.timed_out is not None:
        st.ex.error = st.timed_out
        writer.write(raw_error(st, "timeout", st.ex.error))
    else:
        st.ex.error = f"upstream connection lost {when}: {msg}"
        writer.write(raw_error(st, "bad_gateway", st.ex.error))
    # Killed, mitmproxy only closes the client connection (no error page of its own).
    flow.kill()  # type: ignore[no-untyped-call]
