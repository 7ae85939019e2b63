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
from addons.response.stream import collects, finish_stream, is_stream, start_translator
from addons.response.stream_end import error_event
from addons.upstream.policy import RETRY_STATUSES, RetryPolicy
from recorder import auth, dialects, header_edit
from recorder.backends import Backend, BackendError, RenewsCredentials
from recorder.dialects import codec
from recorder.sse import SseParser

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
    await answer(flow, st, r)


async def renew(
    flow: http.HTTPFlow, st: FlowState, client: httpx.AsyncClient, policy: RetryPolicy
) -> None:
    """The upstream refused the backend's credentials (401/403): when the backend renews them
    (:class:`recorder.backends.RenewsCredentials`, e.g. Kiro refreshing an expired token), the
    request goes once more with the new ones; otherwise the refusal is answered as it came."""
    resp, req = flow.response, flow.request
    assert resp is not None and st.pointed is not None  # Renewing: a backend refused
    backend: Backend = st.pointed.backend
    renewer = backend if isinstance(backend, RenewsCredentials) else None
    refused = resp.get_content(strict=False) or b""
    used = auth.client_key(req.headers)
    if renewer is None or not await renewer.renew(resp.status_code, refused, used):
        return finish_buffered(flow, st)
    try:
        creds = await backend.credentials()
    except BackendError as e:
        return reply_error(flow, st, e.kind, str(e))
    if creds is None or creds.key is None:
        return finish_buffered(flow, st)
    style = dialects.entry(st.upstream).key_style
    edits = auth.upstream_auth_edits(req.headers, style, creds.key, True)
    edits += [header_edit.set_(k, v) for k, v in creds.headers]
    req.headers.fields = header_edit.apply(req.headers.fields, edits)
    send_headers = [
        (k, v) for k, v in snapshots.header_pairs(req.headers) if k.lower() not in _DROP
    ]
    request = client.build_request(
        req.method,
        st.upstream_url,
        headers=send_headers,
        content=req.raw_content or b"",
        timeout=_timeout(policy),
    )
    try:
        r = await client.send(request, stream=True)
    except httpx.TimeoutException as e:
        return reply_error(flow, st, "timeout", f"upstream timed out after renewing: {e!r}")
    except httpx.TransportError as e:
        return reply_error(flow, st, "bad_gateway", f"upstream failed after renewing: {e!r}")
    st.ex.extra["renewed_credentials"] = True
    st.ex.extra["attempts"] = 2
    await answer(flow, st, r)


async def answer(flow: http.HTTPFlow, st: FlowState, r: httpx.Response) -> None:
    """Pass on the open response ``r`` of a re-sent request: a stream as it arrives
    (:func:`deliver`), anything else read whole (and closed either way)."""
    try:
        if r.status_code < 400 and await deliver(flow, st, r):
            return
        try:
            content = await read_body(r, st)
        except httpx.HTTPError as e:
            return reply_error(flow, st, "bad_gateway", f"upstream failed on retry: {e!r}")
    finally:
        await r.aclose()
    flow.response = response_from(r, content)
    finish_buffered(flow, st)


async def read_body(r: httpx.Response, st: FlowState) -> bytes:
    """The whole body of ``r``; for a stream, up to its terminal event: whatever the upstream
    sends (or how long it takes to end the body) afterwards is not waited for."""
    if "text/event-stream" not in r.headers.get("content-type", ""):
        return await r.aread()
    ends = codec(st.upstream).is_terminal
    parser = SseParser()
    body = bytearray()
    async for chunk in r.aiter_bytes():
        body += chunk
        if any(ends(ev) for ev in parser.feed(chunk)):
            return bytes(body)
    return bytes(body)


async def deliver(flow: http.HTTPFlow, st: FlowState, r: httpx.Response) -> bool:
    """Write the open SSE response ``r`` to the client as it arrives; False (nothing done)
    when it is not a stream or the client is not an HTTP/1 connection the gateway can write."""
    writer = mitm_io.client_writer(flow)
    flow.response = response_from(r, b"")
    if writer is None or not is_stream(flow.response, st.upstream) or collects(st):
        return False
    translator = start_translator(flow, st)
    feed = translator.feed
    flow.response.headers["transfer-encoding"] = "chunked"
    flow.response.headers["connection"] = "close"  # the kill below closes it
    try:
        writer.write(assemble_response_head(flow.response))  # type: ignore[no-untyped-call]
        try:
            async for chunk in r.aiter_bytes():
                out = feed(chunk)
                if out:
                    writer.write(b"%x\r\n%s\r\n" % (len(out), out))
                    await writer.drain()
                if translator.done:  # its terminal event: the rest is not waited for
                    break
            tail = feed(b"")
        except httpx.HTTPError as e:  # the upstream died mid-stream: end in the client's dialect
            st.ex.error = f"upstream connection lost mid-stream on retry: {e!r}"
            tail = feed(b"") or error_event(st, "bad_gateway", st.ex.error)
        writer.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(tail), tail) if tail else b"0\r\n\r\n")
        await writer.drain()
    except (ConnectionError, RuntimeError):  # the client went away while it was written
        st.ex.error = st.ex.error or "Client disconnected."
    st.close_stream()
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
    timeout = _timeout(policy)
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


def _timeout(policy: RetryPolicy) -> httpx.Timeout:
    # httpx's read timeout is per read, the head's wait included: the longer of the head's and
    # the idle deadline (a retried stream's trickle is bounded by the total in deliver).
    reads = [policy.first_byte_timeout, policy.idle_timeout]
    return httpx.Timeout(
        connect=policy.connect_timeout,
        read=None if 0 in reads else max(reads),
        write=policy.connect_timeout,
        pool=policy.connect_timeout,
    )


def response_from(r: httpx.Response, body: bytes) -> http.Response:
    """A mitmproxy response with ``r``'s status and headers (not its framing) and ``body``."""
    drop = {"content-length", "transfer-encoding", "content-encoding", "connection"}
    hdrs = [(k.encode(), v.encode()) for k, v in r.headers.multi_items() if k.lower() not in drop]
    return http.Response.make(r.status_code, body, hdrs)
