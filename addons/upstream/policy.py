"""What the gateway retries and how long it waits (pure): statuses, backoff, ``retry-after``,
and the timeouts of the upstream connection (see :mod:`addons.upstream`): which deadline an
exchange meets next (:func:`next_deadline`), from the times it has seen."""

from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass
from typing import Literal

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504, 529})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    retries: int = 2  # extra attempts after the first
    backoff: float = 0.25  # seconds, doubled per attempt, +-25% jitter
    max_wait: float = 8.0  # cap on any single wait, retry-after included
    connect_timeout: float = 5.0
    # The deadlines below: seconds, 0 for no limit (see next_deadline).
    first_token_timeout: float = 0.0
    first_byte_timeout: float = 600.0
    idle_timeout: float = 300.0
    total_timeout: float = 3600.0
    # Seconds an upstream connection is kept while its client has no request under way (0:
    # while the client keeps its connection): see addons.upstream.keepalive.
    upstream_keepalive: float = 60.0

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


# What an exchange awaits, as far as its deadlines go: waiting for the response head, reading a
# whole body (JSON, an error; "collect": a stream read whole for a client that asked for one
# body), or passing a stream on.
Awaiting = Literal["head", "body", "collect", "stream"]


@dataclass(frozen=True, slots=True)
class Deadline:
    at: float  # on the clock the times given to next_deadline are on
    option: str  # the option that sets it
    seconds: float
    why: str  # what did not happen in time, for the client and the record

    @property
    def message(self) -> str:
        return f"{self.why} ({self.option})"


def next_deadline(
    policy: RetryPolicy,
    phase: Awaiting,
    sent: float,
    head: float | None = None,
    last_event: float | None = None,
    first_token: bool = False,
) -> Deadline | None:
    """The earliest deadline an exchange in ``phase`` is under (None: none).

    ``sent``: when the request left for the upstream; ``head``: when the response head came;
    ``last_event``: when the stream's last whole event came; ``first_token``: a token passed.

    * ``gateway_total_timeout`` from ``sent``, always;
    * ``gateway_first_byte_timeout`` from ``sent`` until the head;
    * ``gateway_first_token_timeout`` from ``sent`` until a stream's first token, or a whole
      body's end (a JSON answer's tokens come with its last byte);
    * ``gateway_idle_timeout`` from the head for a whole body to arrive, and between a stream's
      whole events (bytes trickling in without ever completing one do not count); not for a
      stream read whole (its events are not seen until it ends: the total bounds it).
    """
    p = policy
    found: list[Deadline] = []
    if p.total_timeout:
        why = f"the exchange took longer than {p.total_timeout:g}s"
        found.append(
            Deadline(sent + p.total_timeout, "gateway_total_timeout", p.total_timeout, why)
        )
    if phase == "head" and p.first_byte_timeout:
        s = p.first_byte_timeout
        why = f"no response head from upstream within {s:g}s"
        found.append(Deadline(sent + s, "gateway_first_byte_timeout", s, why))
    if p.first_token_timeout and not first_token:
        s = p.first_token_timeout
        why = f"no first token from upstream within {s:g}s"
        found.append(Deadline(sent + s, "gateway_first_token_timeout", s, why))
    if p.idle_timeout and head is not None:
        s = p.idle_timeout
        if phase == "body":
            why = f"upstream did not finish its answer within {s:g}s of its head"
            found.append(Deadline(head + s, "gateway_idle_timeout", s, why))
        elif phase == "stream":
            since = head if last_event is None else max(head, last_event)
            why = f"no event from upstream for {s:g}s"
            found.append(Deadline(since + s, "gateway_idle_timeout", s, why))
    return min(found, key=lambda d: d.at, default=None)
