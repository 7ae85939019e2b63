"""The facts of one finished exchange, flat: what the console line, the span attributes, the
message log's header and the report's session table show. Pure.

Read from the settled :class:`~recorder.exchange.Exchange` (timings, usage and stop reason as
the recorder's summary found them) and its :class:`~recorder.observe.reading.Reading` (tool
calls, response id, error kind: through the codecs).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from recorder import ir
from recorder.exchange import Exchange
from recorder.observe.reading import Reading
from recorder.store.sessions import session_id_for


@dataclass(slots=True, frozen=True)
class Facts:
    id: str
    started_at: float  # Unix time
    session: str | None
    client_dialect: str | None
    upstream_dialect: str | None  # None: answered by the gateway itself
    route: str | None
    method: str | None
    path: str | None  # of the client's request, without the query
    upstream_url: str | None  # redacted
    model_requested: str | None
    model_sent: str | None
    model_answered: str | None
    status: int | None  # sent to the client (None: no response)
    upstream_status: int | None
    stream: bool
    ttfb: float | None  # seconds from the start: upstream's first byte
    ttft: float | None  # first token sent to the client
    duration: float | None
    usage: ir.Usage | None
    stop_reason: str | None
    response_id: str | None
    tool_calls: tuple[str, ...]  # names, in order
    error: str | None  # what went wrong, in words
    error_kind: str | None  # low-cardinality: an IR error kind, "client_disconnected", ...
    attempts: int  # upstream attempts (retries + 1)
    notes: int  # fields a translation dropped

    @property
    def model(self) -> str | None:
        return self.model_answered or self.model_sent or self.model_requested

    @property
    def failed(self) -> bool:
        return self.error_kind is not None

    @property
    def translated(self) -> bool:
        return self.upstream_dialect is not None and self.upstream_dialect != self.client_dialect


def facts_of(ex: Exchange, reading: Reading) -> Facts:
    creq, cresp = ex.client_request, ex.client_response
    ureq, uresp = ex.upstream_request, ex.upstream_response
    client = reading.client
    answer = client.response or (reading.upstream.response if reading.upstream else None)
    path = urlsplit(creq.url).path if creq is not None else None
    return Facts(
        id=ex.id,
        started_at=ex.started_at,
        session=session_id_for(ex),
        client_dialect=ex.client_dialect,
        upstream_dialect=ex.upstream_dialect,
        route=ex.route,
        method=creq.method if creq is not None else None,
        path=path,
        upstream_url=ureq.url if ureq is not None and ex.upstream_dialect is not None else None,
        model_requested=ex.model_requested,
        model_sent=ex.model_sent,
        model_answered=ex.model_answered or (answer.model if answer and answer.model else None),
        status=cresp.status if cresp is not None else None,
        upstream_status=uresp.status if uresp is not None else None,
        stream=ex.stream,
        ttfb=ex.t_upstream_first_byte,
        ttft=ex.t_first_token,
        duration=ex.t_end,
        usage=ex.usage or (answer.usage if answer is not None else None),
        stop_reason=ex.stop_reason or (answer.stop_reason if answer is not None else None),
        response_id=answer.id if answer is not None and answer.id else None,
        tool_calls=tuple(p.name for p in client.tool_calls),
        error=ex.error or (client.error.message if client.error else None),
        error_kind=error_kind(ex, reading),
        attempts=_attempts(ex),
        notes=len(ex.notes),
    )


def error_kind(ex: Exchange, reading: Reading) -> str | None:
    """A short, low-cardinality name for what went wrong (None: nothing did). The codecs'
    reading of an error answer or error event comes first; then what the gateway saw."""
    if reading.client.error is not None:
        return reading.client.error.kind
    status = ex.client_response.status if ex.client_response is not None else None
    if status is not None and status >= 400:
        return str(status)
    if ex.error is None:
        return "incomplete_stream" if reading.client.incomplete else None
    words = ex.error.lower()
    if "client" in words and ("disconnect" in words or "closed" in words or "hung" in words):
        return "client_disconnected"
    if "timed out" in words or "timeout" in words or "within" in words:
        return "timeout"
    if "upstream" in words:
        return "upstream_failed"
    return "error"


def _attempts(ex: Exchange) -> int:
    n = ex.extra.get("attempts")
    return n if isinstance(n, int) and n > 0 else 1
