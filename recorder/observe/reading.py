"""An exchange read through the codecs: each leg's request, answer and stream as IR. Pure.

Every view of the traffic (console, spans, message log, mitmweb, the HTML report) starts here,
so that no view parses a wire format itself and a new dialect's codec is all a view needs. The
reading is lenient where the codecs are strict: whatever a codec refuses becomes a ``problem``
of that leg (shown by the views), never an exception.

A stream's exchange must be settled first (:func:`recorder.summary.settle`: the taped bytes
parsed into events); :func:`settled_copy` does it without touching a live exchange.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from recorder import dialects, ir
from recorder.accumulate import fold
from recorder.codecs.base import Codec
from recorder.context import Context, IdFactory
from recorder.errors import StreamProtocolError, TranslationError
from recorder.exchange import Exchange, HttpRequest, HttpResponse, Leg, RecordedEvent
from recorder.sse import SseEvent, SseParser
from recorder.summary import settle


@dataclass(slots=True)
class TimedEvent:
    """One wire event of a leg and the IR events its codec read from it."""

    wire: RecordedEvent
    ir: list[ir.StreamEvent]


@dataclass(slots=True)
class LegReading:
    leg: Leg
    dialect: str | None
    request: ir.Request | None = None
    response: ir.Response | None = None  # a JSON answer, or a stream's events added up
    error: ir.ErrorInfo | None = None  # an error answer, or a stream's error event
    incomplete: str | None = None  # the stream ended without its terminal event: why it says so
    events: list[TimedEvent] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # what could not be read, and why
    timed: bool = True  # the events carry the times they passed (not so for a lone body)

    @property
    def tool_calls(self) -> list[ir.ToolCallPart]:
        if self.response is None:
            return []
        return [p for p in self.response.content if isinstance(p, ir.ToolCallPart)]


@dataclass(slots=True)
class Reading:
    client: LegReading
    upstream: LegReading | None  # None: the gateway answered itself


def settled_copy(ex: Exchange) -> Exchange:
    """``ex`` with its taped stream parsed, leaving ``ex`` itself as it was (a live exchange
    may still be taping)."""
    if ex.taped is None:
        return ex
    copy = replace(ex, events=list(ex.events), chunks=list(ex.chunks), taped=list(ex.taped))
    settle(copy)
    return copy


def read(
    ex: Exchange, *, upstream: bool = True, requests: bool = True, answers: bool = True
) -> Reading:
    """The legs of a settled exchange. Less when less is needed (a console line reads only
    the client's answer, if that): ``upstream=False`` leaves the upstream leg out,
    ``requests=False`` the requests, ``answers=False`` the answers (error answers are read
    all the same)."""
    client = read_leg(ex, "client", request=requests, answer=answers)
    if not upstream or (ex.upstream_dialect is None and ex.upstream_request is None):
        return Reading(client, None)
    return Reading(client, read_leg(ex, "upstream", request=requests, answer=answers))


def read_leg(ex: Exchange, leg: Leg, *, request: bool = True, answer: bool = True) -> LegReading:
    if leg == "client":
        dialect, req, resp = ex.client_dialect, ex.client_request, ex.client_response
    else:
        dialect = ex.upstream_dialect or ex.client_dialect
        req, resp = ex.upstream_request, ex.upstream_response
    out = LegReading(leg, dialect)
    spec = dialects.named(dialect or "")
    if spec is None:
        out.problems.append(f"no codec for dialect {dialect!r}")
        return out
    mod = spec.codec
    ctx = Context(spec.name, spec.name, ids=IdFactory(ex.id))
    if leg == "upstream":  # what the backend told its codec (Kiro's settings)
        options = ex.extra.get("upstream_options")
        ctx.upstream_options = options if isinstance(options, dict) else None
    if request:
        _read_request(out, mod, req)
    events = [e for e in ex.events if e.leg == leg] if answer else []
    if events:
        frames = _frames(out, spec, ex, leg, events)
        _read_stream(out, mod, ctx, events, frames)
    elif resp is not None and (answer or resp.status >= 400):
        _read_body(out, mod, ctx, resp)
    return out


def read_message(
    data: bytes, dialect: str | None, part: Literal["request", "response"], status: int = 200
) -> LegReading:
    """A lone HTTP body (a request, a JSON answer or an SSE stream) read as one leg, when no
    recorded exchange is at hand (a flow seen without the recorder). Events are untimed."""
    ex = Exchange(id="message", started_at=0.0, client_dialect=dialect)
    if part == "request":
        ex.client_request = HttpRequest("POST", "", [], data)
        out = read_leg(ex, "client")
        out.timed = False
        return out
    parser = SseParser()
    try:
        events = parser.feed(data) + parser.close() if data.lstrip()[:1] != b"{" else []
    except StreamProtocolError:
        events = []
    if events:
        ex.events = [RecordedEvent("client", i, 0.0, e.event, e.data, e.comment)
                     for i, e in enumerate(events)]  # fmt: skip
    else:
        ex.client_response = HttpResponse(status, [], data)
    out = read_leg(ex, "client")
    out.timed = False
    return out


def body_json(raw: bytes | None) -> Any:
    """A body as JSON; None when empty or not JSON."""
    if not raw:
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None


def _read_request(out: LegReading, mod: Codec[Any], req: HttpRequest | None) -> None:
    body = body_json(req.body if req is not None else None)
    if not isinstance(body, dict):
        return
    try:
        out.request = mod.request_to_ir(body)
    except (TranslationError, ValueError, TypeError) as e:
        out.problems.append(f"request: {_short(e)}")


def _read_body(out: LegReading, mod: Codec[Any], ctx: Context, resp: HttpResponse) -> None:
    body = body_json(resp.body)
    if resp.status >= 400:
        try:
            out.error = mod.error_to_ir(resp.status, body if body is not None else resp.body)
        except (TranslationError, ValueError, TypeError) as e:
            out.problems.append(f"error body: {_short(e)}")
        return
    if body is None:
        return
    try:
        out.response = mod.response_to_ir(body, ctx)
    except (TranslationError, ValueError, TypeError) as e:
        out.problems.append(f"response: {_short(e)}")


def _frames(
    out: LegReading,
    spec: dialects.DialectEntry,
    ex: Exchange,
    leg: Leg,
    events: list[RecordedEvent],
) -> list[Any]:
    """The frames the codec reads, one per recorded event: SSE events as recorded; frames of
    another framing (Kiro's binary event stream, recorded as readable JSON views) parsed again
    from the upstream's raw chunks."""
    if leg == "client" or spec.framing is dialects.SSE:
        return [SseEvent(e.event, e.data, comment=e.comment) for e in events]
    parser = spec.codec.frames()
    frames: list[Any] = []
    try:
        for c in ex.chunks:
            frames += parser.feed(c.data)
    except StreamProtocolError as err:
        out.problems.append(f"stream: {_short(err)}")
    return frames[: len(events)]


def _read_stream(
    out: LegReading,
    mod: Codec[Any],
    ctx: Context,
    events: list[RecordedEvent],
    frames: list[Any],
) -> None:
    def seen(i: int, evs: list[ir.StreamEvent]) -> None:
        out.events.append(TimedEvent(events[i], evs))

    folded = fold(mod.stream_decoder(ctx), frames[: len(events)], seen)
    for at, err in folded.problems:
        where = "end of stream" if at is None else f"event {events[at].seq}"
        out.problems.append(f"{where}: {_short(err)}")
    out.response = folded.response
    out.error = folded.error  # an error event on the wire
    out.incomplete = folded.incomplete


def _short(e: Exception, limit: int = 300) -> str:
    text = str(e) or type(e).__name__
    return text if len(text) <= limit else text[:limit] + "…"
