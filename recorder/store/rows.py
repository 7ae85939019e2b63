"""Exchange <-> table rows. Pure: the writer appends these tuples, the reader rebuilds from them.

Secrets are removed here once more (headers, URLs), whatever the caller did: this is the last
step before bytes reach the database file.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from recorder import ir, safejson
from recorder.exchange import (
    Exchange,
    HttpRequest,
    HttpResponse,
    RecordedChunk,
    RecordedEvent,
    redact_headers,
    redact_url,
)

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
BACKEND_SESSION_COLUMNS = (
    "exchange_id", "started_at", "session_id", "backend", "conversation", "name", "backend_session",
    "cwd", "leaf",
)  # fmt: skip
# Exchange fields stored as a column of the same name and type.
_SIMPLE_FIELDS = (
    "id", "client_dialect", "upstream_dialect", "route", "session_id", "model_requested",
    "model_sent", "model_answered", "stream", "stop_reason", "error", "t_upstream_first_byte",
    "t_first_token", "t_end",
)  # fmt: skip
_BODY_COLUMNS = tuple(c for c in EXCHANGE_COLUMNS if c.endswith("_body"))
_BODY_INDEX = {c: i for i, c in enumerate(EXCHANGE_COLUMNS) if c.endswith(("_body", "_body_raw"))}
PIECE_COLUMNS = ("exchange_id", "body", "seq", "data")
# A body longer than this is stored in pieces of at most this many bytes (table body_pieces,
# migration m005): DuckDB keeps strings from about 4 KB up in overflow blocks, which a
# checkpoint pins all at once; shorter ones it writes and evicts block by block.
PIECE_BYTES = 3 << 10


@dataclass(slots=True)
class Rows:
    exchange: tuple[Any, ...]
    events: list[tuple[Any, ...]]
    chunks: list[tuple[Any, ...]]
    tool_calls: list[tuple[Any, ...]]
    backend_sessions: list[tuple[Any, ...]] = field(default_factory=list)


_PARSE_BYTES = 1 << 20


def _reject_constant(name: str) -> Any:
    raise ValueError(name)


def split_body(body: bytes | None) -> tuple[str | None, bytes | None]:
    """(json_text, raw): a body that DuckDB accepts as JSON goes verbatim to the JSON column;
    anything else (not UTF-8, not JSON, NaN, lone surrogate escapes, which DuckDB's yyjson
    refuses, or nesting too deep to check) as bytes.

    A large body is not parsed here (that costs seconds and hundreds of MB for 30 MB of JSON):
    if it looks like JSON it is offered to DuckDB, whose own check refuses the batch, which the
    writer then stores with its bodies demoted to bytes."""
    if body is None:
        return None, None
    try:
        text = body.decode("utf-8")
        if not text.strip() or safejson.has_lone_surrogate_escape(text):
            return None, body
        if len(body) > _PARSE_BYTES:
            return (text, None) if text.lstrip()[:1] in ("{", "[") else (None, body)
        json.loads(text, parse_constant=_reject_constant)
        return text, None
    except safejson.UNREADABLE:
        return None, body


def clean(s: str | None) -> str | None:
    """A str DuckDB can store: lone surrogates (a JSON ``"\\udfff"`` in a model name,
    surrogateescape'd header bytes) become U+FFFD."""
    return None if s is None else safejson.clean(s)


def _headers_json(headers: list[tuple[str, str]]) -> str:
    pairs = [[clean(k), clean(v)] for k, v in redact_headers(headers)]
    return json.dumps(pairs, ensure_ascii=False)


_dumps = safejson.dumps


def _timestamp(t: float) -> datetime | None:
    return datetime.fromtimestamp(t, UTC).replace(tzinfo=None) if math.isfinite(t) else None


def _str(value: Any) -> str | None:
    """A text column's value: None stays None, anything that is not a str (a client may send
    ``"model": {}``) its ``str()``, lone surrogates replaced."""
    if value is None:
        return None
    return safejson.clean(value if isinstance(value, str) else str(value))


def _seconds(t: Any) -> float | None:
    return float(t) if isinstance(t, int | float) and math.isfinite(t) else None


def _status(r: HttpRequest | HttpResponse | None) -> int | None:
    return r.status if isinstance(r, HttpResponse) and isinstance(r.status, int) else None


def to_rows(ex: Exchange) -> Rows:
    usage = ex.usage
    model = ex.model_answered or ex.model_sent or ex.model_requested
    scalars = (
        _str(ex.id),
        _timestamp(ex.started_at),
        ex.started_at,
        _str(ex.session_id),
        _str(ex.client_dialect),
        _str(ex.upstream_dialect),
        _str(ex.route),
        _str(model),
        _str(ex.model_requested),
        _str(ex.model_sent),
        _str(ex.model_answered),
        ex.stream,
        _status(ex.client_response),
        _status(ex.upstream_response),
        _str(ex.stop_reason),
        _str(ex.error),
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
    ex_id = scalars[0]
    events = [
        (ex_id, e.leg, e.seq, e.t, clean(e.event), clean(e.data), clean(e.comment), pos)
        for pos, e in enumerate(ex.events)
    ]
    chunks = [(ex_id, c.seq, c.t, c.data) for c in ex.chunks]
    try:
        tool_calls = _tool_call_rows(ex)
    except Exception:  # noqa: BLE001 - a derived table; the exchange itself must be stored
        tool_calls = []
    return Rows(exchange, events, chunks, tool_calls, _backend_session_rows(ex))


def failed_rows(ex: Exchange, reason: str) -> Rows:
    """The row of an exchange that could not be stored in full (its rows failed to convert or
    DuckDB refused them): what is known for certain, every body as raw bytes, no events, and
    ``reason`` in ``error`` and ``extra.unstorable``. Built from plain values only, so that it
    stores whatever the exchange held."""
    why = f"not recorded in full: {reason}"
    error = _str(ex.error)
    started = _seconds(ex.started_at)
    scalars = (
        _str(ex.id),
        None if started is None else _timestamp(started),
        started,
        _str(ex.session_id),
        _str(ex.client_dialect),
        _str(ex.upstream_dialect),
        _str(ex.route),
        _str(ex.model_answered or ex.model_sent or ex.model_requested),
        _str(ex.model_requested),
        _str(ex.model_sent),
        _str(ex.model_answered),
        ex.stream is True,
        _status(ex.client_response),
        _status(ex.upstream_response),
        _str(ex.stop_reason),
        f"{error}; {why}" if error else why,
        _seconds(ex.t_upstream_first_byte),
        _seconds(ex.t_first_token),
        _seconds(ex.t_end),
        *((None,) * 6),
    )
    legs: list[Any] = []
    for req in (ex.client_request, ex.upstream_request):
        if not isinstance(req, HttpRequest):
            legs += [None] * len(_REQUEST_COLS)
        else:
            legs += [_str(req.method), _str(redact_url(str(req.url))), _safe_headers(req.headers)]
            legs += [None, _blob(req.body)]
    for resp in (ex.upstream_response, ex.client_response):
        if not isinstance(resp, HttpResponse):
            legs += [None] * len(_RESPONSE_COLS)
        else:
            legs += [_safe_headers(resp.headers), None, _blob(resp.body)]
    extra = json.dumps({"unstorable": safejson.clean(reason)})
    return Rows((*scalars, *legs, "[]", extra), [], [], [])


def _blob(body: Any) -> bytes | None:
    return bytes(body) if isinstance(body, bytes | bytearray | memoryview) else None


def _safe_headers(headers: Any) -> str:
    try:
        return _headers_json([(str(k), str(v)) for k, v in headers])
    except Exception:  # noqa: BLE001 - a failed row must store whatever it is given
        return "[]"


def demote_json_bodies(
    row: tuple[Any, ...], columns: tuple[str, ...] = _BODY_COLUMNS
) -> tuple[Any, ...]:
    """Move the JSON bodies of ``columns`` (default: all) to their raw columns: the fallback
    when DuckDB refused a batch, or refuses one body as JSON."""
    values = dict(zip(EXCHANGE_COLUMNS, row, strict=True))
    for col in columns:
        if values[col] is not None:
            values[col + "_raw"] = values[col].encode("utf-8")
            values[col] = None
    return tuple(values.values())


def long_json_bodies(row: tuple[Any, ...]) -> dict[str, str]:
    """The JSON bodies of ``row`` that :func:`cut_bodies` will store as pieces, by column: no
    JSON column checks them then, so the writer asks DuckDB's JSON parser first."""
    found: dict[str, str] = {}
    for col in _BODY_COLUMNS:
        text = row[_BODY_INDEX[col]]
        if text is not None and len(text) > PIECE_BYTES // 4 and len(_utf8(text)) > PIECE_BYTES:
            found[col] = text
    return found


def cut_bodies(row: tuple[Any, ...]) -> tuple[tuple[Any, ...], list[tuple[Any, ...]]]:
    """``row`` with every body longer than PIECE_BYTES taken out (NULL), and those bodies as
    ``body_pieces`` rows. A JSON body is cut between characters, so that every piece is text."""
    pieces: list[tuple[Any, ...]] = []
    values: list[Any] | None = None
    for col, i in _BODY_INDEX.items():
        value = row[i]
        if value is None or len(value) <= PIECE_BYTES // 4:  # a character is 4 bytes at most
            continue
        data = _utf8(value) if isinstance(value, str) else bytes(value)
        if len(data) <= PIECE_BYTES:
            continue
        cuts = _utf8_cuts(data) if isinstance(value, str) else [*range(0, len(data), PIECE_BYTES)]
        ends = [*cuts[1:], len(data)]
        pieces += [
            (row[0], col, n, data[a:b]) for n, (a, b) in enumerate(zip(cuts, ends, strict=True))
        ]
        if values is None:
            values = list(row)
        values[i] = None
    return (row if values is None else tuple(values)), pieces


def _utf8(text: str) -> bytes:
    return text.encode("utf-8")


def _utf8_cuts(data: bytes) -> list[int]:
    """Where to cut UTF-8 ``data`` into pieces of at most PIECE_BYTES, never inside a
    character (a continuation byte is 0b10xxxxxx)."""
    cuts = [0]
    at = 0
    while len(data) - at > PIECE_BYTES:
        end = at + PIECE_BYTES
        while data[end] & 0xC0 == 0x80:
            end -= 1
        cuts.append(end)
        at = end
    return cuts


def _tool_call_rows(ex: Exchange) -> list[tuple[Any, ...]]:
    """The tool calls of the client leg's answer (read once by :func:`recorder.summary.settle`)."""
    if ex.answer is None:
        return []
    calls = [p for p in ex.answer.content if isinstance(p, ir.ToolCallPart)]
    return [
        (ex.id, ex.session_id, i, p.id, clean(p.name), clean(p.arguments))
        for i, p in enumerate(calls)
    ]


def _backend_session_rows(ex: Exchange) -> list[tuple[Any, ...]]:
    """Where a stateful backend left the conversation (``extra.backend_session``, read by
    :func:`recorder.summary.read_run`): the row a restarted gateway finds it by."""
    found = ex.extra.get("backend_session")
    if not isinstance(found, dict) or not isinstance(found.get("id"), str):
        return []
    started = _seconds(ex.started_at)
    at = None if started is None else _timestamp(started)
    text = [_str(found.get(k)) for k in ("conversation", "name", "id", "cwd", "leaf")]
    return [(_str(ex.id), at, _str(ex.session_id), _str(ex.upstream_dialect), *text)]


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
