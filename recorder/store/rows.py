"""Exchange <-> table rows. Pure: the writer appends these tuples, the reader rebuilds from them.

Secrets are removed here once more (headers, URLs), whatever the caller did: this is the last
step before bytes reach the database file.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from recorder import ir
from recorder.exchange import (
    Exchange,
    HttpRequest,
    HttpResponse,
    RecordedChunk,
    RecordedEvent,
    redact_headers,
    redact_url,
)
from recorder.store import conversation

_SCALARS = (
    "id", "started_at", "started_unix", "session_id", "client_dialect", "upstream_dialect",
    "route", "model", "model_requested", "model_sent", "model_answered", "stream", "status",
    "upstream_status", "stop_reason", "error", "t_upstream_first_byte", "t_first_token", "t_end",
    "input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens",
    "reasoning_tokens", "usage_extra",
)  # fmt: skip
_REQUEST_COLS = ("method", "url", "headers", "body", "body_raw")
_RESPONSE_COLS = ("headers", "body", "body_raw")  # status: "status" / "upstream_status"
_STATUS_COLUMN = {"upstream_response": "upstream_status", "client_response": "status"}
REQUEST_LEGS = ("client_request", "upstream_request")
RESPONSE_LEGS = ("upstream_response", "client_response")
EXCHANGE_COLUMNS: tuple[str, ...] = (
    _SCALARS
    + tuple(f"{leg}_{c}" for leg in REQUEST_LEGS for c in _REQUEST_COLS)
    + tuple(f"{leg}_{c}" for leg in RESPONSE_LEGS for c in _RESPONSE_COLS)
    + ("notes", "extra")
)
EVENT_COLUMNS = ("exchange_id", "leg", "seq", "t_offset", "event", "data", "comment", "pos")
CHUNK_COLUMNS = ("exchange_id", "seq", "t_offset", "data")
TOOL_CALL_COLUMNS = ("exchange_id", "session_id", "idx", "call_id", "name", "arguments")
# Exchange fields stored as a column of the same name and type.
_SIMPLE_FIELDS = (
    "id", "client_dialect", "upstream_dialect", "route", "session_id", "model_requested",
    "model_sent", "model_answered", "stream", "stop_reason", "error", "t_upstream_first_byte",
    "t_first_token", "t_end",
)  # fmt: skip
_BODY_COLUMNS = tuple(c for c in EXCHANGE_COLUMNS if c.endswith("_body"))

# yyjson (DuckDB's JSON type) rejects lone UTF-16 surrogate escapes that Python's json accepts.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


@dataclass(slots=True)
class Rows:
    exchange: tuple[Any, ...]
    events: list[tuple[Any, ...]]
    chunks: list[tuple[Any, ...]]
    tool_calls: list[tuple[Any, ...]]


def _reject_constant(name: str) -> Any:
    raise ValueError(name)


def split_body(body: bytes | None) -> tuple[str | None, bytes | None]:
    """(json_text, raw): a body that DuckDB accepts as JSON goes verbatim to the JSON column."""
    if body is None:
        return None, None
    try:
        text = body.decode("utf-8")
        if text.strip() and not _SURROGATE_ESCAPE.search(text):
            json.loads(text, parse_constant=_reject_constant)
            return text, None
    except ValueError:  # UnicodeDecodeError is a ValueError too
        pass
    return None, body


def clean(s: str | None) -> str | None:
    """A str DuckDB can store: lone surrogates (surrogateescape'd header bytes) become U+FFFD."""
    if s is None or s.isascii():
        return s
    try:
        s.encode("utf-8")
        return s
    except UnicodeEncodeError:
        return s.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _headers_json(headers: list[tuple[str, str]]) -> str:
    pairs = [[clean(k), clean(v)] for k, v in redact_headers(headers)]
    return json.dumps(pairs, ensure_ascii=False)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def to_rows(ex: Exchange) -> Rows:
    usage = ex.usage
    scalars = (
        ex.id,
        datetime.fromtimestamp(ex.started_at, UTC).replace(tzinfo=None),
        ex.started_at,
        ex.session_id,
        ex.client_dialect,
        ex.upstream_dialect,
        ex.route,
        ex.model_answered or ex.model_sent or ex.model_requested,
        ex.model_requested,
        ex.model_sent,
        ex.model_answered,
        ex.stream,
        ex.client_response.status if ex.client_response else None,
        ex.upstream_response.status if ex.upstream_response else None,
        ex.stop_reason,
        clean(ex.error),
        ex.t_upstream_first_byte,
        ex.t_first_token,
        ex.t_end,
        *(
            (u.input_tokens, u.output_tokens, u.cache_read_tokens, u.cache_creation_tokens)
            + (u.reasoning_tokens, _dumps(u.extra))
            if (u := usage) is not None
            else (None,) * 6
        ),
    )
    legs: list[Any] = []
    for req in (ex.client_request, ex.upstream_request):
        if req is None:
            legs += [None] * len(_REQUEST_COLS)
        else:
            legs += [clean(req.method), clean(redact_url(req.url)), _headers_json(req.headers)]
            legs += split_body(req.body)
    for resp in (ex.upstream_response, ex.client_response):
        if resp is None:
            legs += [None] * len(_RESPONSE_COLS)
        else:
            legs += [_headers_json(resp.headers), *split_body(resp.body)]
    notes = _dumps([{"path": n.path, "reason": n.reason} for n in ex.notes])
    exchange = (*scalars, *legs, notes, _dumps(ex.extra))
    events = [
        (ex.id, e.leg, e.seq, e.t, clean(e.event), clean(e.data), clean(e.comment), pos)
        for pos, e in enumerate(ex.events)
    ]
    chunks = [(ex.id, c.seq, c.t, c.data) for c in ex.chunks]
    return Rows(exchange, events, chunks, _tool_call_rows(ex))


def demote_json_bodies(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """Move every JSON body to its raw column: the fallback when DuckDB refused a batch."""
    values = dict(zip(EXCHANGE_COLUMNS, row, strict=True))
    for col in _BODY_COLUMNS:
        if values[col] is not None:
            values[col + "_raw"] = values[col].encode("utf-8")
            values[col] = None
    return tuple(values.values())


def _tool_call_rows(ex: Exchange) -> list[tuple[Any, ...]]:
    resp = ex.client_response
    # Parsing every event of a long stream costs more than writing it; look first.
    if not any(_may_call_tools(e.data) for e in ex.events if e.leg == "client") and not (
        resp is not None and resp.body and _may_call_tools(resp.body.decode("utf-8", "replace"))
    ):
        return []
    body = conversation.load_json(resp.body) if resp is not None else None
    url = ex.client_request.url if ex.client_request else None
    dialect = ex.client_dialect or conversation.guess_dialect(url, body)
    reply = conversation.reply_from(dialect, body, ex.events)
    if reply is None:
        return []
    calls = [p for p in reply.message.parts if p.kind == "tool_call"]
    return [
        (ex.id, ex.session_id, i, p.call_id, clean(p.name), clean(p.text))
        for i, p in enumerate(calls)
    ]


def _may_call_tools(data: str | None) -> bool:
    return data is not None and ("tool_use" in data or "tool_calls" in data)


# --------------------------------------------------------------------------- back to values


def _body(json_text: str | None, raw: bytes | None) -> bytes | None:
    if json_text is not None:
        return json_text.encode("utf-8")
    return bytes(raw) if raw is not None else None


def _headers(text: str | None) -> list[tuple[str, str]]:
    return [(k, v) for k, v in json.loads(text)] if text else []


def from_rows(
    row: dict[str, Any], events: list[dict[str, Any]], chunks: list[dict[str, Any]]
) -> Exchange:
    """Rebuild an Exchange from a row of ``exchanges`` (as a dict) and its events and chunks."""
    requests: list[HttpRequest | None] = []
    for leg in REQUEST_LEGS:
        if row[f"{leg}_method"] is None:
            requests.append(None)
            continue
        body = _body(row[f"{leg}_body"], row[f"{leg}_body_raw"])
        headers = _headers(row[f"{leg}_headers"])
        requests.append(HttpRequest(row[f"{leg}_method"], row[f"{leg}_url"], headers, body))
    responses: list[HttpResponse | None] = []
    for leg in RESPONSE_LEGS:
        status = row[_STATUS_COLUMN[leg]]
        if status is None:
            responses.append(None)
            continue
        body = _body(row[f"{leg}_body"], row[f"{leg}_body_raw"])
        responses.append(HttpResponse(status, _headers(row[f"{leg}_headers"]), body))
    usage = None
    if row["usage_extra"] is not None:
        usage = ir.Usage(
            row["input_tokens"], row["output_tokens"], row["cache_read_tokens"],
            row["cache_creation_tokens"], row["reasoning_tokens"], json.loads(row["usage_extra"]),
        )  # fmt: skip
    return Exchange(
        **{k: row[k] for k in _SIMPLE_FIELDS},
        started_at=row["started_unix"],
        client_request=requests[0],
        upstream_request=requests[1],
        upstream_response=responses[0],
        client_response=responses[1],
        events=[
            RecordedEvent(e["leg"], e["seq"], e["t_offset"], e["event"], e["data"], e["comment"])
            for e in events
        ],
        chunks=[RecordedChunk(c["seq"], c["t_offset"], bytes(c["data"])) for c in chunks],
        usage=usage,
        notes=[ir.Note(n["path"], n["reason"]) for n in json.loads(row["notes"] or "[]")],
        extra=json.loads(row["extra"] or "{}"),
    )
