"""At most N CLI processes at once; a request beyond them waits in line for a while, then is
turned away with a ``retry-after``; every live process is ended on shutdown.

Why a bound at all: each CLI is a Bun process of ~220 MB resident while it waits on the model
(~310 MB peak) that costs ~0.75 CPU-seconds to start (docs/claude-cli.md §Resources), so a
burst of requests must not start a process each.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Final

from recorder.claude_cli.process import CliProcess

DEFAULT_MAX_CONCURRENCY: Final = 8
DEFAULT_QUEUE_TIMEOUT: Final = 30.0


class PoolBusyError(Exception):
    """No CLI slot freed up within the queue timeout."""

    def __init__(self, retry_after: int, limit: int) -> None:
        super().__init__(
            f"all {limit} Claude Code CLI slots are busy (claude_cli_max_concurrency); "
            f"retry in {retry_after} s"
        )
        self.retry_after = retry_after


class CliPool:
    def __init__(
        self,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        queue_timeout: float = DEFAULT_QUEUE_TIMEOUT,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError("claude_cli_max_concurrency must be at least 1")
        self.limit = max_concurrency
        self.queue_timeout = queue_timeout
        self._sem = asyncio.Semaphore(max_concurrency)
        self._clock = clock or (lambda: asyncio.get_running_loop().time())
        self._live: set[CliProcess] = set()
        self._recent: deque[float] = deque(maxlen=20)  # seconds per turn
        self.running = 0
        self.waiting = 0

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one of the N slots for the body; PoolBusyError after the queue timeout."""
        self.waiting += 1
        try:
            if self.queue_timeout <= 0:
                if self._sem.locked():
                    raise PoolBusyError(self.retry_after(), self.limit)
                await self._sem.acquire()
            else:
                try:
                    await asyncio.wait_for(self._sem.acquire(), self.queue_timeout)
                except TimeoutError:
                    raise PoolBusyError(self.retry_after(), self.limit) from None
        finally:
            self.waiting -= 1
        self.running += 1
        t0 = self._clock()
        try:
            yield
        finally:
            self.running -= 1
            self._recent.append(self._clock() - t0)
            self._sem.release()

    def retry_after(self) -> int:
        """Seconds a turned-away client should wait: a recent turn's typical length."""
        if not self._recent:
            return 5
        return max(1, math.ceil(sorted(self._recent)[len(self._recent) // 2]))

    def track(self, proc: CliProcess) -> None:
        self._live.add(proc)

    def untrack(self, proc: CliProcess) -> None:
        self._live.discard(proc)

    async def shutdown(self, grace: float = 3.0) -> None:
        """End every live CLI process and reap it (the gateway is stopping)."""
        procs = list(self._live)
        self._live.clear()
        await asyncio.gather(*(p.stop("gateway shutdown", grace) for p in procs))
