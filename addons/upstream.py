"""Talking to upstreams when mitmproxy's own connection is not enough: retries and timeouts.

Why it is split this way (mitmproxy 11/12 constraints, read from ``proxy/layers/http``):

* The common path stays mitmproxy's: its pooled upstream connection, the response streamed
  through ``flow.response.stream``. No extra hop, no extra task per request.
* mitmproxy answers a failed upstream connect with its own HTML 502, and no hook can replace
  it once the connect was tried. So before a request needs a *new* upstream connection the
  gateway probes the address itself (:func:`probe`, bounded by ``gateway_connect_timeout``,
  retried with backoff); when the probe fails the gateway answers in the client's dialect
  (502 unreachable, 504 timeout) without letting mitmproxy try. Connections already open on the
  same client connection (tracked through ``server_connected``/``server_disconnected``) skip the
  probe, so a keep-alive client pays for it once.
* An upstream that answers 429 or 5xx (before any byte reached the client: such responses are
  never streamed) is retried from the ``response`` hook with httpx (:func:`reissue`),
  honouring ``retry-after`` up to a cap. A response set by an addon is sent whole, so a stream
  that succeeds on a retry is written to an HTTP/1 client by the gateway itself, chunk by chunk
  as it arrives (:mod:`addons.retry_stream`); HTTP/2 clients get it whole.
* First-token timeout: the retry path enforces it as httpx's read timeout; on the common path a
  timer started when the request leaves turns a silent upstream into an in-dialect 504, or ends
  a stream whose tokens do not come with an in-dialect error event (see :mod:`addons.timeouts`).
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from dataclasses import dataclass

import httpx

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504, 529})
# Hop-by-hop and framing headers httpx sets itself.
_DROP = frozenset({"host", "content-length", "transfer-encoding", "connection", "keep-alive"})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    retries: int = 2  # extra attempts after the first
    backoff: float = 0.25  # seconds, doubled per attempt, +-25% jitter
    max_wait: float = 8.0  # cap on any single wait, retry-after included
    connect_timeout: float = 5.0
    first_token_timeout: float = 0.0  # 0: no limit

    def delay(self, attempt: int, retry_after: str | None = None) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based)."""
        hinted = parse_retry_after(retry_after)
        if hinted is not None:
            return min(max(hinted, 0.0), self.max_wait)
        base: float = self.backoff * 2.0 ** (attempt - 1)
        return min(base * random.uniform(0.75, 1.25), self.max_wait)


def parse_retry_after(value: str | None) -> float | None:
    """``retry-after`` as seconds: delta-seconds or an HTTP date; None if absent or unusable."""
    if not value:
        return None
    value = value.strip()
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class ProbeFailed(Exception):
    def __init__(self, message: str, timed_out: bool) -> None:
        super().__init__(message)
        self.timed_out = timed_out


async def probe(host: str, port: int, policy: RetryPolicy) -> None:
    """Open (and close) a TCP connection to the upstream, with retries; ProbeFailed if none
    succeeds."""
    last = ProbeFailed(f"cannot connect to {host}:{port}", False)
    for attempt in range(policy.retries + 1):
        if attempt:
            await asyncio.sleep(policy.delay(attempt))
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port), policy.connect_timeout
            )
        except TimeoutError:
            last = ProbeFailed(
                f"connecting to upstream {host}:{port} timed out after {policy.connect_timeout:g}s",
                True,
            )
            continue
        except OSError as e:
            last = ProbeFailed(f"upstream {host}:{port} unreachable: {e.strerror or e}", False)
            continue
        writer.close()
        return
    raise last


@dataclass(slots=True)
class Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    attempts: int


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
