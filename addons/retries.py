"""Retrying a request the upstream answered with 429 or 5xx, and delivering what the retry got.

mitmproxy sends a response set by an addon in one piece: a stream that succeeds only on a
retry would reach the client whole, after its last event. So for an HTTP/1 client the gateway
writes that stream itself, chunk by chunk as it arrives: the head (with ``connection: close``),
each translated chunk, the end of the chunked body, through the client's socket
(:mod:`addons.mitm_io`); then it kills the flow, so that mitmproxy writes nothing more and only
closes the connection. The record is that of any stream: the tape sees every chunk, the flow
keeps the response head, and ``DELIVERED`` tells the Recorder that the kill was no failure.
HTTP/2 clients (no socket to write to) and non-stream answers get the whole response.
"""

from __future__ import annotations

import logging

import httpx
from mitmproxy import http
from mitmproxy.net.http.http1 import assemble_response_head

from addons import mitm_io, summary
from addons.flowstate import FlowState
from addons.record import DELIVERED_KEY
from addons.replies import reply_error, response_from
from addons.response_side import finish_buffered, finish_stream, is_sse, start_translator
from addons.stream_end import error_event
from addons.upstream import Reply, RetryPolicy, reissue

logger = logging.getLogger("tapegate.gateway")


async def retry(
    flow: http.HTTPFlow, st: FlowState, client: httpx.AsyncClient, policy: RetryPolicy
) -> None:
    """Re-send a request the upstream answered with a retryable status (see addons.upstream).
    A stream that then succeeds goes to an HTTP/1 client as it arrives (:func:`deliver`);
    anything else is read whole and answered like a buffered response."""
    assert flow.response is not None
    req = flow.request
    method, url, body = req.method, st.upstream_url, req.raw_content or b""
    headers = summary.header_pairs(req.headers)
    retry_after = flow.response.headers.get("retry-after")
    try:
        r, attempts = await reissue(client, method, url, headers, body, policy, retry_after)
    except httpx.TimeoutException as e:
        return reply_error(flow, st, "timeout", f"upstream timed out on retry: {e!r}")
    except httpx.TransportError as e:
        return reply_error(flow, st, "bad_gateway", f"upstream failed on retry: {e!r}")
    st.ex.extra["attempts"] = attempts
    try:
        if r.status_code < 400 and await deliver(flow, st, r):
            return
        try:
            content = await r.aread()
        except httpx.HTTPError as e:
            return reply_error(flow, st, "bad_gateway", f"upstream failed on retry: {e!r}")
    finally:
        await r.aclose()
    flow.response = response_from(Reply(r.status_code, list(r.headers.multi_items()), content, 0))
    finish_buffered(flow, st)


async def deliver(flow: http.HTTPFlow, st: FlowState, r: httpx.Response) -> bool:
    """Write the open SSE response ``r`` to the client as it arrives; False (nothing done)
    when it is not a stream or the client is not an HTTP/1 connection the gateway can write."""
    writer = mitm_io.client_writer(flow)
    flow.response = response_from(Reply(r.status_code, list(r.headers.multi_items()), b"", 0))
    if writer is None or not is_sse(flow.response) or not start_translator(flow, st):
        return False
    flow.response.headers["transfer-encoding"] = "chunked"
    flow.response.headers["connection"] = "close"  # the kill below closes it
    feed = st.translator.feed
    try:
        writer.write(assemble_response_head(flow.response))  # type: ignore[no-untyped-call]
        try:
            async for chunk in r.aiter_bytes():
                out = feed(chunk)
                if out:
                    writer.write(b"%x\r\n%s\r\n" % (len(out), out))
                    await writer.drain()
            tail = feed(b"")
        except httpx.HTTPError as e:  # the upstream died mid-stream: end in the client's dialect
            st.ex.error = f"upstream connection lost mid-stream on retry: {e!r}"
            tail = feed(b"") or error_event(st, "bad_gateway", st.ex.error)
        writer.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(tail), tail) if tail else b"0\r\n\r\n")
        await writer.drain()
    except (ConnectionError, RuntimeError):  # the client went away while it was written
        st.ex.error = st.ex.error or "Client disconnected."
    st.tail_written = True
    finish_stream(flow, st)
    flow.metadata[DELIVERED_KEY] = True
    flow.kill()  # type: ignore[no-untyped-call]
    return True
