"""Recorded :class:`recorder.exchange.Exchange` values -> a cassette directory.

The client leg's stream is rebuilt from its recorded events (the gateway wrote them, so their
encoding is the wire); the upstream leg's from the raw chunks when the recorder kept them (true
wire chunking), else from its events. Exchanges are written in start order, so a cassette
re-exported from the same traffic gives the same files.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from recorder.exchange import Exchange, HttpRequest, HttpResponse, Leg
from recorder.sse import SseEvent, encode
from replay.cassette import (
    Cassette,
    Interaction,
    LegRecord,
    Request,
    Response,
    Stream,
    clean_headers,
    save,
)


def _round(t: float | None) -> float | None:
    return None if t is None else round(t, 4)


def _events_stream(ex: Exchange, leg: Leg) -> Stream:
    return Stream.from_chunks(
        (e.t, encode(SseEvent(event=e.event, data=e.data, comment=e.comment)))
        for e in ex.events
        if e.leg == leg
    )


def _leg(
    ex: Exchange, leg: Leg, req: HttpRequest | None, resp: HttpResponse | None
) -> LegRecord | None:
    if req is None:
        return None
    request = Request(req.method, req.url, clean_headers(req.headers), req.body)
    if resp is None:
        return LegRecord(request, None)
    stream = None
    if resp.body is None and ex.stream:
        if leg == "upstream" and ex.chunks:
            stream = Stream.from_chunks((c.t, c.data) for c in ex.chunks)
        else:
            stream = _events_stream(ex, leg)
    response = Response(resp.status, clean_headers(resp.headers), resp.body, stream)
    return LegRecord(request, response)


def _meta(ex: Exchange) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "route": ex.route,
        "session_id": ex.session_id,
        "model_sent": ex.model_sent,
        "model_answered": ex.model_answered,
        "stop_reason": ex.stop_reason,
        "error": ex.error,
        "t_upstream_first_byte": _round(ex.t_upstream_first_byte),
        "t_first_token": _round(ex.t_first_token),
        "t_end": _round(ex.t_end),
    }
    if ex.usage is not None:
        usage = dataclasses.asdict(ex.usage)
        meta["usage"] = {k: v for k, v in usage.items() if v not in (None, {})}
    if ex.notes:
        meta["notes"] = [{"path": n.path, "reason": n.reason} for n in ex.notes]
    return {k: v for k, v in meta.items() if v is not None}


def to_interaction(ex: Exchange, index: int) -> Interaction:
    return Interaction(
        index=index,
        client=_leg(ex, "client", ex.client_request, ex.client_response),
        upstream=_leg(ex, "upstream", ex.upstream_request, ex.upstream_response),
        id=ex.id,
        client_dialect=ex.client_dialect,
        upstream_dialect=ex.upstream_dialect,
        model=ex.model_requested,
        stream=ex.stream,
        meta=_meta(ex),
    )


def to_cassette(exchanges: Iterable[Exchange], name: str) -> Cassette:
    ordered: Sequence[Exchange] = sorted(exchanges, key=lambda e: (e.started_at, e.id))
    return Cassette(name, [to_interaction(ex, i) for i, ex in enumerate(ordered)])


def export(
    exchanges: Iterable[Exchange], directory: str | os.PathLike[str], name: str | None = None
) -> Cassette:
    """Write ``exchanges`` as the cassette ``directory`` (its name defaults to the folder's)."""
    d = Path(directory)
    cassette = to_cassette(exchanges, name or d.name)
    save(cassette, d)
    return cassette
