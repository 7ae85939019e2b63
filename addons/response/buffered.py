"""A whole upstream response (JSON, an error, or an SSE body read whole on the retry path),
translated into the client's dialect and recorded as both legs (what the answer says — model,
usage, stop reason — is read by the recorder's sinks, off this thread:
:func:`recorder.summary.settle`)."""

from __future__ import annotations

import json
import time

from mitmproxy import http

from addons import snapshots
from addons.flow_state import FlowState
from addons.response.replies import loads, reply_error, set_response
from addons.response.stream import SSE_TYPE, collects, is_stream
from recorder import endpoints
from recorder.dialects import codec
from recorder.errors import TranslationError, UpstreamFailedError
from recorder.exchange import EventTape
from recorder.translate import StreamTranslator, translate_error, translate_response

_KEPT_ERROR_HEADERS = ("retry-after", "retry-after-ms")


def finish_buffered(flow: http.HTTPFlow, st: FlowState) -> None:
    """A whole upstream response (JSON, error, or an SSE body from the retry path)."""
    resp = flow.response
    assert resp is not None
    raw = resp.get_content(strict=False) or b""
    if st.rec:
        st.ex.upstream_response = snapshots.snapshot_response(resp, raw)
    if st.kind == "vendor" or (st.client == st.upstream and resp.status_code < 400):
        st.ex.client_response = st.ex.upstream_response
        return
    if resp.status_code >= 400:
        st.ex.error = f"upstream answered {resp.status_code}"
        if st.client == st.upstream:
            st.ex.client_response = st.ex.upstream_response
            return
        status, body = translate_error(resp.status_code, loads(raw, text=True), st.context())
        # when to come back holds in any dialect: an upstream's retry-after reaches the client
        kept = {k: v for k in _KEPT_ERROR_HEADERS if (v := resp.headers.get(k)) is not None}
        hdrs = endpoints.JSON_HEADERS | kept if kept else endpoints.JSON_HEADERS
        return set_response(flow, st, status, json.dumps(body).encode(), hdrs)
    if is_stream(resp, st.upstream) and collects(st):
        return _collected(flow, st, raw)
    if is_stream(resp, st.upstream):
        is_token = codec(st.client).is_token
        tape = EventTape(st.ex, time.monotonic, st.t0, is_token) if st.rec else None
        tr = StreamTranslator(st.context(), tape)
        out = tr.feed(raw) + tr.feed(b"")
        st.ex.stream = True
        return set_response(flow, st, resp.status_code, out, {"content-type": SSE_TYPE})
    try:
        translated = translate_response(loads(raw), st.context())
    except TranslationError as e:
        return reply_error(flow, st, "bad_gateway", f"upstream response: {e}")
    out = json.dumps(translated).encode()
    set_response(flow, st, resp.status_code, out, endpoints.JSON_HEADERS)


def _collected(flow: http.HTTPFlow, st: FlowState, raw: bytes) -> None:
    """A whole stream in the upstream's own framing, for a client that asked for one body: its
    frames are taped as the upstream leg, the answer they make is sent as JSON."""
    if st.rec:
        if st.ex.upstream_response is not None:
            st.ex.upstream_response.body = None  # a stream: its frames are taped instead
        tape = EventTape(st.ex, time.monotonic, st.t0, codec(st.client).is_token)
        tape.upstream(raw, [])
        tape.upstream(b"", [])
    try:
        translated = translate_response(raw, st.context())
    except UpstreamFailedError as e:
        st.ex.error = f"upstream stream failed: {e}"
        return reply_error(flow, st, e.kind, str(e))
    except TranslationError as e:
        return reply_error(flow, st, "bad_gateway", f"upstream response: {e}")
    out = json.dumps(translated).encode()
    set_response(flow, st, 200, out, endpoints.JSON_HEADERS)
