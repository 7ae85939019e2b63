"""What the gateway retries and how long it waits (pure): statuses, backoff, ``retry-after``,
and the timeouts of the upstream connection (see :mod:`addons.upstream`)."""

from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504, 529})


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
