"""The response side of an exchange: streaming SSE through the translator, translating whole
bodies and errors, retrying 429/5xx, and the client-leg record of what was answered."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable

from mitmproxy import http

from addons import endpoints, header_edit, summary
from addons.flowstate import FlowState, LastClientEvent
from addons.replies import loads, reply_error, set_response
from addons.upstream import RETRY_STATUSES, RetryPolicy
from recorder.errors import TranslationError
from recorder.exchange import EventTape
from recorder.summary import summarize_body
from recorder.translate import StreamTranslator, translate_error, translate_response

logger = logging.getLogger("tapegate.gateway")

SSE_TYPE = "text/event-stream; charset=utf-8"
# A translated stream's head: its own content type, chunked (its length is unknown).
_DROP_LENGTH = header_edit.drop("content-length")
_SSE_CONTENT_TYPE = header_edit.set_("content-type", SSE_TYPE)
_CHUNKED = header_edit.default("transfer-encoding", "chunked")
UNAVAILABLE = (ImportError, NotImplementedError)  # a codec that has not landed yet


def on_headers(flow: http.HTTPFlow, st: FlowState, policy: RetryPolicy) -> None:
    """``responseheaders``: mark retryable errors, and stream SSE through the translator.
    The first-token timer keeps running through a stream until its first token passes."""
    resp = flow.response
    assert resp is not None
    if resp.status_code >= 400:
        st.cancel_timer()
        retryable = resp.status_code in RETRY_STATUSES and policy.retries > 0
        st.retry = st.kind == "gateway" and retryable
        return
    if not is_sse(resp):
        st.cancel_timer()
        return
    if not start_translator(flow, st):
        st.cancel_timer()
        return  # buffered; answered as an error in the response hook
    feed = st.translator.feed

    def stream(chunk: bytes) -> bytes | list[bytes]:
        try:
            out = feed(chunk)
        except Exception:  # noqa: BLE001 - keep the connection going
            logger.exception("gateway: stream translation failed")
            return []
        # b"" mid-stream would end a chunked response early: return an empty list.
        return out if out or not chunk else []

    resp.stream = stream if st.timer is None else _until_first_token(stream, st, resp)


def is_sse(resp: http.Response) -> bool:
    return "text/event-stream" in (header_edit.get(resp.headers.fields, b"content-type") or "")


def start_translator(flow: http.HTTPFlow, st: FlowState) -> bool:
    """Set up ``st.translator`` (and its tape) for the SSE response ``flow.response`` and give
    that response the head of a translated stream. False when the translation is unavailable
    (``st.failure`` says why)."""
    resp = flow.response
    assert resp is not None
    # The EventTape tapes both legs' bytes with their times for the recorder, and marks the
    # first token, which the first-token timer waits for (st.timer). With neither, the stream
    # only needs its last client event kept (see FlowState.rec).
    tape: EventTape | LastClientEvent
    if st.rec or st.timer is not None:
        tape = EventTape(st.ex, time.monotonic, st.t0)
    else:
        tape = LastClientEvent()
    try:
        st.translator = StreamTranslator(st.context(), tape)
    except UNAVAILABLE as e:
        st.failure = f"translation {st.upstream} -> {st.client} unavailable: {e}"
        return False
    st.tape = tape
    st.ex.stream = True
    if st.client != st.upstream:
        edits = [_DROP_LENGTH, _SSE_CONTENT_TYPE]
        if not flow.request.is_http2:
            edits.append(_CHUNKED)
        resp.headers.fields = header_edit.apply(resp.headers.fields, edits)
    return True


def _until_first_token(
    stream: Callable[[bytes], bytes | list[bytes]], st: FlowState, resp: http.Response
) -> Callable[[bytes], bytes | list[bytes]]:
    """``stream`` that stops the first-token timer once a token passed (the tape marks it,
    ``Exchange.t_first_token``) or the stream ended, then hands over to plain ``stream``."""
    ex = st.ex

    def timed(chunk: bytes) -> bytes | list[bytes]:
        out = stream(chunk)
        if ex.t_first_token is not None or not chunk:
            st.cancel_timer()
            resp.stream = stream
        return out

    return timed


def finish_stream(flow: http.HTTPFlow, st: FlowState) -> None:
    """A stream that went through: record both legs' response heads (its events and summary
    are read from the tape by the recorder, off this thread: :func:`recorder.summary.settle`)."""
    resp = flow.response
    assert resp is not None
    if st.rec:
        st.ex.upstream_response = summary.snapshot_response(resp, None)
        st.ex.client_response = st.ex.upstream_response


def finish_buffered(flow: http.HTTPFlow, st: FlowState) -> None:
    """A whole upstream response (JSON, error, or an SSE body from the retry path)."""
    resp = flow.response
    assert resp is not None
    raw = resp.get_content(strict=False) or b""
    if st.rec:
        st.ex.upstream_response = summary.snapshot_response(resp, raw)
    if st.failure is not None:
        return reply_error(flow, st, "api_error", st.failure)
    if st.kind == "vendor" or (st.client == st.upstream and resp.status_code < 400):
        if st.rec and resp.status_code < 400 and raw[:1] == b"{":
            summarize_body(st.ex, st.client, loads(raw))
        st.ex.client_response = st.ex.upstream_response
        return
    if resp.status_code >= 400:
        st.ex.error = f"upstream answered {resp.status_code}"
        if st.client == st.upstream:
            st.ex.client_response = st.ex.upstream_response
            return
        try:
            status, body = translate_error(resp.status_code, loads(raw, text=True), st.context())
        except UNAVAILABLE:
            return reply_error(flow, st, "bad_gateway", raw.decode("utf-8", "replace"))
        return set_response(flow, st, status, json.dumps(body).encode(), endpoints.JSON_HEADERS)
    if "text/event-stream" in (header_edit.get(resp.headers.fields, b"content-type") or ""):
        tape = EventTape(st.ex, time.monotonic, st.t0) if st.rec else None
        tr = StreamTranslator(st.context(), tape)
        out = tr.feed(raw) + tr.feed(b"")
        st.ex.stream = True
        return set_response(flow, st, resp.status_code, out, {"content-type": SSE_TYPE})
    try:
        translated = translate_response(loads(raw), st.context())
    except TranslationError as e:
        return reply_error(flow, st, "bad_gateway", f"upstream response: {e}")
    except UNAVAILABLE as e:
        return reply_error(flow, st, "api_error", f"translation unavailable: {e}")
    if st.rec:
        summarize_body(st.ex, st.client, translated)
    out = json.dumps(translated).encode()
    set_response(flow, st, resp.status_code, out, endpoints.JSON_HEADERS)
