"""Anthropic error bodies <-> IR errors.

Anthropic answers errors as ``{"type":"error","error":{"type","message"},"request_id"?}``; the
same shape travels inside a stream as ``event: error``. Anything else an "Anthropic" upstream
may return (a proxy's HTML, Bedrock's ``{"message": ...}``, an empty body) is read by status.

Table (IR kind -> status, Anthropic type; the SDK picks its exception class by status):

=================  ======  ======================
invalid_request    400     invalid_request_error
authentication     401     authentication_error
billing            402     billing_error
permission         403     permission_error
not_found          404     not_found_error
request_too_large  413     request_too_large
rate_limit         429     rate_limit_error
api_error          500     api_error
bad_gateway        502     api_error
unavailable        503     api_error
timeout            504     timeout_error
overloaded         529     overloaded_error
=================  ======  ======================

``err.status`` is kept instead of the default when it is one this kind plausibly has (e.g. 422
for invalid_request, 408 for timeout), so a client still sees the upstream's own status.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from recorder import ir
from recorder.codecs.http_status import kind_of_status

JsonObject = dict[str, Any]


@dataclass(frozen=True, slots=True)
class _Wire:
    status: int
    type: str
    plausible: frozenset[int]


_FROM_IR: dict[ir.ErrorKind, _Wire] = {
    "invalid_request": _Wire(400, "invalid_request_error", frozenset({400, 409, 422})),
    "authentication": _Wire(401, "authentication_error", frozenset({401})),
    "billing": _Wire(402, "billing_error", frozenset({402})),
    "permission": _Wire(403, "permission_error", frozenset({403})),
    "not_found": _Wire(404, "not_found_error", frozenset({404})),
    "request_too_large": _Wire(413, "request_too_large", frozenset({413})),
    "rate_limit": _Wire(429, "rate_limit_error", frozenset({429})),
    "api_error": _Wire(500, "api_error", frozenset({500, 501, 505})),
    "bad_gateway": _Wire(502, "api_error", frozenset({502})),
    "unavailable": _Wire(503, "api_error", frozenset({503})),
    "timeout": _Wire(504, "timeout_error", frozenset({408, 504})),
    "overloaded": _Wire(529, "overloaded_error", frozenset({529, 503})),
}

_TYPE_TO_KIND: dict[str, ir.ErrorKind] = {
    "invalid_request_error": "invalid_request",
    "authentication_error": "authentication",
    "billing_error": "billing",
    "permission_error": "permission",
    "not_found_error": "not_found",
    "request_too_large": "request_too_large",
    "rate_limit_error": "rate_limit",
    "timeout_error": "timeout",
    "overloaded_error": "overloaded",
    # "api_error" is read by status: 502/503 say more than the type does
}


_MAX_TEXT = 1000  # a proxy's HTML page is not an error message


def kind_of_type(err_type: str | None, status: int | None) -> ir.ErrorKind:
    kind = _TYPE_TO_KIND.get(err_type or "")
    return kind if kind is not None else kind_of_status(status)


def error_to_ir(status: int, body: Any) -> ir.ErrorInfo:
    """Any upstream error body, JSON or not, as an IR error; never an exception (a body nested
    too deep to read is reported by status)."""
    try:
        return _error_to_ir(status, body)
    except RecursionError:
        return _by_status(status, "error body nested too deeply to read")


def _error_to_ir(status: int, body: Any) -> ir.ErrorInfo:
    if isinstance(body, bytes | str):
        try:
            body = json.loads(body)
        except ValueError:
            text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
            return _by_status(status, text.strip()[:_MAX_TEXT])
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            return detail_to_ir(
                err, status, {k: v for k, v in body.items() if k not in ("type", "error")}
            )
        message = body.get("message", body.get("Message"))  # AWS / Bedrock shape
        if isinstance(message, str):
            return _by_status(status, message)
    return _by_status(status, "")


def detail_to_ir(
    err: JsonObject, status: int | None, extra: JsonObject | None = None
) -> ir.ErrorInfo:
    """The ``error`` object of an error body or stream ``error`` event."""
    err_type = err.get("type") if isinstance(err.get("type"), str) else None
    message = err.get("message")
    info = ir.ErrorInfo(
        kind=kind_of_type(err_type, status),
        message=message if isinstance(message, str) else json.dumps(err),
        status=status,
        code=err_type,
        extra={**(extra or {}), **{k: v for k, v in err.items() if k not in ("type", "message")}},
    )
    return info


def _by_status(status: int, text: str) -> ir.ErrorInfo:
    return ir.ErrorInfo(
        kind=kind_of_status(status),
        message=text or f"upstream answered HTTP {status}",
        status=status,
    )


def error_from_ir(err: ir.ErrorInfo) -> tuple[int, JsonObject]:
    wire = _FROM_IR[err.kind]
    status = err.status if err.status in wire.plausible else wire.status
    return status, error_body(err)


def error_body(err: ir.ErrorInfo) -> JsonObject:
    return {"type": "error", "error": {"type": _FROM_IR[err.kind].type, "message": err.message}}
