"""One exchange as recorded: both legs, every SSE event, timings. Pure values plus redaction.

The gateway fills an :class:`Exchange` while a flow passes (it alone knows both legs); the
recorder store writes it to DuckDB; export turns stored exchanges back into :class:`Exchange`
values and the replay package writes those as cassettes. Times are seconds as floats: ``started_at``
is a Unix timestamp, every other time is an offset from it. The clock is read by the adapters
(addons), never here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from recorder import ir
from recorder.codecs.base import FrameParser, RecordedFrame, sse_recorded
from recorder.errors import StreamProtocolError
from recorder.secrets import REDACTED, redact_headers, redact_url
from recorder.sse import SseEvent, SseParser

Leg = Literal["client", "upstream"]

# Secrets: the deny-list of header names and query parameters lives in recorder.secrets.
__all__ = ["REDACTED", "redact_headers", "redact_url"]


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
    client_dialect: str | None = None  # a name of recorder.dialects; None for unknown traffic
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
    # A stream as taped live: (leg, t, bytes) in order, until untape() makes chunks and events.
    taped: list[tuple[Leg, float, bytes]] | None = None
    # The client leg's answer as IR, read once by recorder.summary.settle (not stored: the
    # tool_calls rows come from it).
    answer: ir.Response | None = None


class EventTape:
    """The :class:`recorder.translate.StreamObserver` of a recorded stream: the raw bytes of both
    legs with their times, in order, into ``Exchange.taped``.

    ``clock`` returns seconds (``time.monotonic`` in the gateway); offsets are taken from
    ``t0`` (the clock value at ``Exchange.started_at``). Per chunk it reads the clock and appends
    one tuple per leg, and builds no per-event object: this runs on the proxy's event loop for
    every chunk of every stream, so the events are made later, off that thread, by
    :func:`untape` (in the recorder's writer process), with the same parser. It also keeps what
    the gateway reads while the stream runs: the last event the client was sent (``last``) and
    the time of the first token (``Exchange.t_first_token``, which a first-token timeout
    watches), as ``is_token`` (the client dialect's codec) tells a token.
    """

    __slots__ = ("_ex", "_taped", "_clock", "_t0", "_is_token", "last")

    def __init__(
        self,
        exchange: Exchange,
        clock: Callable[[], float],
        t0: float,
        is_token: Callable[[SseEvent], bool],
    ) -> None:
        self._ex = exchange
        self._taped: list[tuple[Leg, float, bytes]] = []
        exchange.taped = self._taped
        self._clock = clock
        self._t0 = t0
        self._is_token = is_token
        self.last: SseEvent | None = None

    def upstream(self, chunk: bytes, frames: list[Any]) -> None:
        t = self._clock() - self._t0
        if chunk and self._ex.t_upstream_first_byte is None:
            self._ex.t_upstream_first_byte = t
        self._taped.append(("upstream", t, chunk))  # b"": the body ended (untape flushes)

    def client(self, events: list[SseEvent], wire: bytes) -> None:
        t = self._clock() - self._t0
        self._taped.append(("client", t, wire))
        self.last = last_with_data(events) or self.last
        ex = self._ex
        if ex.t_first_token is None and any(map(self._is_token, events)):
            ex.t_first_token = t


class LastClientEvent:
    """The stream observer when nothing records the exchange. An EventTape would keep both legs'
    bytes for nobody to read; the gateway itself needs only the last event the client was sent
    (:func:`addons.response.failures.carried_terminal`), which both keep as ``last``."""

    __slots__ = ("last",)

    def __init__(self) -> None:
        self.last: SseEvent | None = None

    def upstream(self, chunk: bytes, frames: list[Any]) -> None:
        pass

    def client(self, events: list[SseEvent], wire: bytes) -> None:
        self.last = last_with_data(events) or self.last


def last_with_data(events: list[SseEvent]) -> SseEvent | None:
    """The last of ``events`` that carries data (what a stream's end is judged by)."""
    for ev in reversed(events):
        if ev.data is not None:
            return ev
    return None


def untape(ex: Exchange) -> None:
    """Turn ``ex.taped`` into ``ex.chunks`` (the upstream's) and ``ex.events`` (both legs): each
    leg parsed as the gateway parsed it, each event timed by the bytes that completed it. An
    empty entry is the end of that leg's body; a stream cut off before it keeps only its whole
    events, as the SSE rules say."""
    taped, ex.taped = ex.taped, None
    if not taped:
        return
    # The upstream leg in its dialect's framing (SSE, or Kiro's AWS event stream, each frame
    # recorded as the codec describes it); the client leg is always SSE. The registry (every
    # codec) is imported here, not with this module: the writer process says it is ready
    # before it loads the codecs, which only the exchanges it then stores need.
    from recorder import dialects

    found = dialects.named(ex.upstream_dialect) if ex.upstream_dialect else None
    up = found.codec if found is not None else None
    parsers: dict[Leg, FrameParser[Any]] = {
        "upstream": up.frames() if up is not None else SseParser(),
        "client": SseParser(),
    }
    views: dict[Leg, Callable[[Any], RecordedFrame]] = {
        "upstream": up.recorded if up is not None else sse_recorded,
        "client": sse_recorded,
    }
    seqs: dict[Leg, int] = {"upstream": 0, "client": 0}
    events = ex.events
    for leg, t, data in taped:
        parser, view = parsers[leg], views[leg]
        if data:
            if leg == "upstream":
                ex.chunks.append(RecordedChunk(len(ex.chunks), t, data))
            one = parser.one_event(data)  # the usual chunk: one whole event (as feed would say)
            if one is not None:
                events.append(RecordedEvent(leg, seqs[leg], t, *view(one)))
                seqs[leg] += 1
                continue
        try:
            parsed = parser.feed(data) if data else parser.close()
        except StreamProtocolError:
            parsed = []  # bytes its framing cannot read: kept as a raw chunk, no event
        seq = seqs[leg]
        seqs[leg] = seq + len(parsed)
        events += [RecordedEvent(leg, i, t, *view(e)) for i, e in enumerate(parsed, seq)]
