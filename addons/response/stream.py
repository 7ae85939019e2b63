"""A streamed response: SSE through the translator as it arrives, the first-token timer, and the
record of both legs' heads. Whole bodies are :mod:`addons.response.buffered`."""

from __future__ import annotations

import logging
import time

from mitmproxy import http

from addons import snapshots
from addons.flow_state import RENEWING, RETRYING, FlowState, Streaming
from addons.response import stream_end
from addons.upstream.policy import RETRY_STATUSES, RetryPolicy
from recorder import dialects, header_edit
from recorder.backends import RenewsCredentials
from recorder.dialects import codec
from recorder.exchange import EventTape, LastClientEvent
from recorder.ir import Dialect
from recorder.translate import StreamTranslator

logger = logging.getLogger("tapegate.gateway")

SSE_TYPE = "text/event-stream; charset=utf-8"
# An upstream answering these may take fresh credentials (``RenewsCredentials``).
RENEW_STATUSES = frozenset({401, 403})
# A translated stream's head: its own content type, chunked (its length is unknown).
_DROP_LENGTH = header_edit.drop("content-length")
_SSE_CONTENT_TYPE = header_edit.set_("content-type", SSE_TYPE)
_CHUNKED = header_edit.default("transfer-encoding", "chunked")


def on_headers(flow: http.HTTPFlow, st: FlowState, policy: RetryPolicy) -> None:
    """``responseheaders``: mark retryable errors, and stream SSE through the translator,
    noting when each whole event passes (the idle timeout's clock, FlowState.last_event)."""
    resp = flow.response
    assert resp is not None
    if resp.status_code >= 400:
        retryable = resp.status_code in RETRY_STATUSES and policy.retries > 0
        backend = st.pointed.backend if st.pointed is not None else None
        if st.kind != "gateway":
            return
        if resp.status_code in RENEW_STATUSES and isinstance(backend, RenewsCredentials):
            st.phase = RENEWING
        elif retryable:
            st.phase = RETRYING
        return
    if not is_stream(resp, st.upstream) or collects(st):
        return
    tr = start_translator(flow, st)
    feed, clock = tr.feed, time.monotonic

    def stream(chunk: bytes) -> bytes | list[bytes]:
        frames = tr.frames_in
        try:
            out = feed(chunk)
        except Exception:  # noqa: BLE001 - keep the connection going
            logger.exception("gateway: stream translation failed")
            return []
        if tr.frames_in != frames:
            st.last_event = clock()
        if chunk and tr.done:  # the client has its stream's end: don't wait for ours
            stream_end.after_terminal_event(flow, st)
        # b"" mid-stream would end a chunked response early: return an empty list.
        return out if out or not chunk else []

    resp.stream = stream


def is_stream(resp: http.Response, upstream: Dialect) -> bool:
    """``resp`` streams, in SSE or in the framing of the ``upstream`` dialect (Kiro's AWS event
    stream)."""
    ctype = header_edit.get(resp.headers.fields, b"content-type") or ""
    return "text/event-stream" in ctype or dialects.entry(upstream).framing.content_type in ctype


def collects(st: FlowState) -> bool:
    """The upstream answers in a stream of its own framing to a client that asked for a whole
    answer (Kiro always streams): the stream is read whole and answered as one body."""
    return (
        not st.ex.stream
        and st.client != st.upstream
        and dialects.entry(st.upstream).framing is not dialects.SSE
    )


def start_translator(flow: http.HTTPFlow, st: FlowState) -> StreamTranslator:
    """The translator (and its tape) of the SSE response ``flow.response``, as the flow's
    :class:`~addons.flow_state.Streaming` phase; the response gets the head of a translated
    stream."""
    resp = flow.response
    assert resp is not None
    # The EventTape tapes both legs' bytes with their times for the recorder, and marks the
    # first token, which the first-token timeout waits for. With neither, the stream only needs
    # its last client event kept (see FlowState.rec).
    tape: EventTape | LastClientEvent
    if st.rec or (st.policy is not None and st.policy.first_token_timeout):
        tape = EventTape(st.ex, time.monotonic, st.t0, codec(st.client).is_token)
    else:
        tape = LastClientEvent()
    translator = StreamTranslator(st.context(), tape)
    st.phase = Streaming(translator, tape)
    st.ex.stream = True
    if st.client != st.upstream:
        edits = [_DROP_LENGTH, _SSE_CONTENT_TYPE]
        if not flow.request.is_http2:
            edits.append(_CHUNKED)
        resp.headers.fields = header_edit.apply(resp.headers.fields, edits)
    return translator


def finish_stream(flow: http.HTTPFlow, st: FlowState) -> None:
    """A stream that went through: record both legs' response heads (its events and summary
    are read from the tape by the recorder, off this thread: :func:`recorder.summary.settle`)."""
    resp = flow.response
    assert resp is not None
    if st.rec:
        st.ex.upstream_response = snapshots.snapshot_response(resp, None)
        st.ex.client_response = st.ex.upstream_response
