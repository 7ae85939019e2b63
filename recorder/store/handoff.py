"""An Exchange as bytes and back, for the hand-off from the gateway to its writer process.

``marshal`` over plain tuples: it is implemented in C and needs no per-class hooks, so packing a
streamed exchange (a hundred events or more) costs the proxy a few tens of microseconds, which
``pickle`` of the dataclasses would spend many times over. marshal's format belongs to one
Python version, which is fine here: both ends are the same interpreter (``sys.executable``).
Field order is written out once per class below; the round trip is tested field by field.
"""

from __future__ import annotations

import json
import marshal
from typing import Any

from recorder import ir
from recorder.exchange import Exchange, HttpRequest, HttpResponse, RecordedChunk, RecordedEvent

# Exchange fields that hold plain values (str, float, bool, None), in the packed order.
_PLAIN = (
    "id", "started_at", "client_dialect", "upstream_dialect", "route", "session_id",
    "model_requested", "model_sent", "model_answered", "stream", "t_upstream_first_byte",
    "t_first_token", "t_end", "stop_reason", "error",
)  # fmt: skip


def pack(ex: Exchange) -> bytes:
    value = (
        tuple([getattr(ex, name) for name in _PLAIN]),
        _request(ex.client_request),
        _request(ex.upstream_request),
        _response(ex.upstream_response),
        _response(ex.client_response),
        [(e.leg, e.seq, e.t, e.event, e.data, e.comment) for e in ex.events],
        [(c.seq, c.t, c.data) for c in ex.chunks],
        _usage(ex.usage),
        [(n.path, n.reason) for n in ex.notes],
        ex.extra,
        ex.taped,  # already plain tuples: the bulk of a stream costs nothing to convert
    )
    try:
        return marshal.dumps(value)
    except ValueError:  # a value marshal cannot hold in a free-form dict: store its JSON reading
        extra = json.loads(json.dumps(ex.extra, default=str))
        usage = value[7]
        if usage is not None:
            usage = (*usage[:5], json.loads(json.dumps(usage[5], default=str)))
        return marshal.dumps((*value[:7], usage, value[8], extra, value[10]))


def unpack(data: bytes | bytearray) -> Exchange:
    plain, creq, ureq, uresp, cresp, events, chunks, usage, notes, extra, taped = marshal.loads(
        data
    )
    ex = Exchange(**dict(zip(_PLAIN, plain, strict=True)))
    ex.client_request = HttpRequest(*creq) if creq is not None else None
    ex.upstream_request = HttpRequest(*ureq) if ureq is not None else None
    ex.upstream_response = HttpResponse(*uresp) if uresp is not None else None
    ex.client_response = HttpResponse(*cresp) if cresp is not None else None
    ex.events = [RecordedEvent(*e) for e in events]
    ex.chunks = [RecordedChunk(*c) for c in chunks]
    ex.usage = ir.Usage(*usage) if usage is not None else None
    ex.notes = [ir.Note(*n) for n in notes]
    ex.extra = extra
    ex.taped = taped
    return ex


def _request(r: HttpRequest | None) -> tuple[Any, ...] | None:
    return None if r is None else (r.method, r.url, [tuple(h) for h in r.headers], r.body)


def _response(r: HttpResponse | None) -> tuple[Any, ...] | None:
    return None if r is None else (r.status, [tuple(h) for h in r.headers], r.body)


def _usage(u: ir.Usage | None) -> tuple[Any, ...] | None:
    if u is None:
        return None
    return (
        u.input_tokens, u.output_tokens, u.cache_read_tokens, u.cache_creation_tokens,
        u.reasoning_tokens, u.extra,
    )  # fmt: skip
