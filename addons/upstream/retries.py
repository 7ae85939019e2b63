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

import asyncio
import logging

import httpx
from mitmproxy import http
from mitmproxy.net.http.http1 import assemble_response_head

from addons import mitm_io, snapshots
from addons.flow_state import FlowState
from addons.metadata import DELIVERED
from addons.response.buffered import finish_buffered
from addons.response.replies import reply_error
from addons.response.stream import finish_stream, is_sse, start_translator
from addons.response.stream_end import error_event
from addons.upstream.policy import RETRY_STATUSES, RetryPolicy

logger = logging.getLogger("tapegate.gateway")
# Hop-by-hop and framing headers httpx sets itself.
_DROP = frozenset({"host", "content-length", "transfer-encoding", "connection", "keep-alive"})


async def retry(
    flow: http.HTTPFlow, st: FlowState, client: httpx.AsyncClient, policy: RetryPolicy
) -> None:
    """Re-send a request the upstream answered with a retryable status (see addons.upstream.policy).
    A stream that then succeeds goes to an HTTP/1 client as it arrives (:func:`deliver`);
    anything else is read whole and answered like a buffered response."""
    assert flow.response is not None
    req = flow.request
    # Where the request went: the upstream, or the fault proxy in front of it (gateway_fault:
    # a retry meets the same fault, and the proxy's headers never reach the upstream).
    method, url, body = req.method, req.url, req.raw_content or b""
    headers = snapshots.header_pairs(req.headers)
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
    flow.response = response_from(r, content)
    finish_buffered(flow, st)


async def deliver(flow: http.HTTPFlow, st: FlowState, r: httpx.Response) -> bool:
    """Write the open SSE response ``r`` to the client as it arrives; False (nothing done)
    when it is not a stream or the client is not an HTTP/1 connection the gateway can write."""
    writer = mitm_io.client_writer(flow)
    flow.response = response_from(r, b"")
    if writer is None or not is_sse(flow.response):
        return False
    start_translator(flow, st)
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
    flow.metadata[DELIVERED] = True
    flow.kill()  # type: ignore[no-untyped-call]
    return True


async def reissue(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    headers: list[tuple[str, str]],
    body: bytes,
    policy: RetryPolicy,
    retry_after: str | None,
) -> tuple[httpx.Response, int]:
    """Re-send a request that got a retryable status, up to ``policy.retries`` times.

    Returns the last response (success or not) *open*, its body not read yet so that a stream
    can be passed on as it arrives (the caller closes it), and the attempts made, the first
    included. Raises ``httpx.TimeoutException`` or ``httpx.TransportError`` when the last
    attempt failed without any response."""
    send_headers = [(k, v) for k, v in headers if k.lower() not in _DROP]
    timeout = httpx.Timeout(
        connect=policy.connect_timeout,
        read=policy.first_token_timeout or None,
        write=policy.connect_timeout,
        pool=policy.connect_timeout,
    )
    last_exc: Exception | None = None
    for attempt in range(1, policy.retries + 1):
        await asyncio.sleep(policy.delay(attempt, retry_after))
        request = client.build_request(
            method, url, headers=send_headers, content=body, timeout=timeout
        )
        try:
            r = await client.send(request, stream=True)
        except (httpx.TimeoutException, httpx.TransportError) as e:
            last_exc, retry_after = e, None
            continue
        if r.status_code not in RETRY_STATUSES or attempt == policy.retries:
            return r, attempt + 1
        retry_after = r.headers.get("retry-after")
        await r.aclose()
    assert last_exc is not None
    raise last_exc


def response_from(r: httpx.Response, body: bytes) -> http.Response:
    """A mitmproxy response with ``r``'s status and headers (not its framing) and ``body``."""
    drop = {"content-length", "transfer-encoding", "content-encoding", "connection"}
    hdrs = [(k.encode(), v.encode()) for k, v in r.headers.multi_items() if k.lower() not in drop]
    return http.Response.make(r.status_code, body, hdrs)
