"""The connect probe: before a request needs a new upstream connection, the gateway opens one
itself, so that a failure becomes an in-dialect 502/504 instead of mitmproxy's HTML page
(see :mod:`addons.upstream`)."""

from __future__ import annotations

import asyncio

from addons.upstream.policy import RetryPolicy


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
