"""One exchange as recorded: both legs, every SSE event, timings. Pure values plus redaction.

The gateway fills an :class:`Exchange` while a flow passes (it alone knows both legs); the
recorder store writes it to DuckDB; export turns stored exchanges back into :class:`Exchange`
values and the replay package writes those as cassettes. Times are seconds as floats: ``started_at``
is a Unix timestamp, every other time is an offset from it. The clock is read by the adapters
(addons), never here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from recorder import ir
from recorder.sse import SseEvent

Leg = Literal["client", "upstream"]

# Headers whose values are secrets. Matched case-insensitively; values are replaced, names kept
# so that a reader can still see that a credential was sent.
SECRET_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "x-api-key",
        "api-key",
        "cookie",
        "set-cookie",
        "x-goog-api-key",
        "openai-organization",
        "openai-project",
    }
)
REDACTED = "[redacted]"
_SECRET_QUERY = re.compile(r"(?i)([?&](?:key|api[-_]?key|token|access_token|auth|sig)=)[^&#]*")


def redact_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(k, REDACTED if k.lower() in SECRET_HEADERS else v) for k, v in headers]


def redact_url(url: str) -> str:
    """Drop credentials from a URL: userinfo and key-like query parameters."""
    url = re.sub(r"(?<=://)[^/@]+@", "", url)
    return _SECRET_QUERY.sub(lambda m: m.group(1) + REDACTED, url)


@dataclass(slots=True)
class HttpRequest:
    method: str
    url: str  # redacted
    headers: list[tuple[str, str]]  # redacted
    body: bytes | None = None


@dataclass(slots=True)
class HttpResponse:
    status: int
    headers: list[tuple[str, str]]  # redacted
    body: bytes | None = None  # None for a stream (its events are in Exchange.events)


@dataclass(slots=True)
class RecordedEvent:
    leg: Leg
    seq: int  # per leg, from 0
    t: float  # seconds since Exchange.started_at
    event: str | None
    data: str | None
    comment: str | None = None


@dataclass(slots=True)
class RecordedChunk:
    """Raw upstream chunk boundaries, so a replay can reproduce the wire chunking."""

    seq: int
    t: float
    data: bytes


@dataclass(slots=True)
class Exchange:
    id: str
    started_at: float
    client_dialect: str | None = None  # "anthropic" | "openai" | None for unknown traffic
    upstream_dialect: str | None = None
    route: str | None = None
    session_id: str | None = None
    model_requested: str | None = None
    model_sent: str | None = None
    model_answered: str | None = None
    stream: bool = False
    client_request: HttpRequest | None = None  # as received from the client
    upstream_request: HttpRequest | None = None  # as sent to the upstream
    upstream_response: HttpResponse | None = None  # as received
    client_response: HttpResponse | None = None  # as sent to the client
    events: list[RecordedEvent] = field(default_factory=list)
    chunks: list[RecordedChunk] = field(default_factory=list)
    t_upstream_first_byte: float | None = None
    t_first_token: float | None = None
    t_end: float | None = None
    usage: ir.Usage | None = None
    stop_reason: str | None = None
    error: str | None = None  # what went wrong, if anything (upstream error, disconnect, ...)
    notes: list[ir.Note] = field(default_factory=list)  # fields a translation dropped
    extra: dict[str, Any] = field(default_factory=dict)


class EventTape:
    """A :class:`recorder.translate.StreamObserver` that appends to an Exchange with timings.

    ``clock`` returns seconds (``time.monotonic`` in the gateway); offsets are taken from
    ``t0`` (the clock value at ``Exchange.started_at``). Appends only: cheap enough for the
    per-chunk path, and it never touches the database. ``Exchange.events`` is read while the
    stream runs (the gateway checks the last client event), so each event is appended as a
    :class:`RecordedEvent` right away. The translator calls it with batches, one call per leg
    and chunk, so the clock is read once per chunk and leg, not per event.
    """

    __slots__ = ("_ex", "_clock", "_t0", "_upstream_seq", "_client_seq")

    def __init__(self, exchange: Exchange, clock: Callable[[], float], t0: float) -> None:
        self._ex = exchange
        self._clock = clock
        self._t0 = t0
        self._upstream_seq = 0
        self._client_seq = 0

    def upstream(self, chunk: bytes, events: list[SseEvent]) -> None:
        # One clock read per chunk: its events arrived with it.
        t = self._clock() - self._t0
        ex = self._ex
        if chunk:
            if ex.t_upstream_first_byte is None:
                ex.t_upstream_first_byte = t
            ex.chunks.append(RecordedChunk(len(ex.chunks), t, chunk))
        if events:
            seq = self._upstream_seq
            self._upstream_seq = seq + len(events)
            ex.events += [
                RecordedEvent("upstream", i, t, e.event, e.data, e.comment)
                for i, e in enumerate(events, seq)
            ]

    def client(self, events: list[SseEvent]) -> None:
        t = self._clock() - self._t0
        ex = self._ex
        seq = self._client_seq
        self._client_seq = seq + len(events)
        ex.events += [
            RecordedEvent("client", i, t, e.event, e.data, e.comment)
            for i, e in enumerate(events, seq)
        ]
        if ex.t_first_token is None and any(_is_token(e) for e in events):
            ex.t_first_token = t


_TOKEN_KEYS = ("content", "reasoning_content", "reasoning", "tool_calls")


def _is_token(ev: SseEvent) -> bool:
    """First event that carries model output (a content delta) on the client leg."""
    if ev.data is None:
        return False
    if ev.event == "content_block_delta":
        return True
    if ev.event is None and '"delta"' in ev.data and ev.data != "[DONE]":
        try:
            chunk = json.loads(ev.data)
        except ValueError:
            return False
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            if any(delta.get(k) for k in _TOKEN_KEYS):
                return True
    return False
