"""What the gateway answers itself: its own errors, ``GET /v1/models``, the ``count_tokens``
estimate and ``HEAD /``. Pure: bodies as ``(status, headers, bytes)``.

count_tokens estimate (used when the route's upstream is not Anthropic, which alone can count):
``ceil(len(json(system, messages, tools)) / 4)`` — about four characters per token for English
and JSON, the usual rule of thumb. It is marked with ``x-tapegate-estimate: true``.
"""

from __future__ import annotations

import json
import math
from typing import Any

from recorder import ir
from recorder.ir import Dialect
from recorder.translate import error_body

JSON_HEADERS = {"content-type": "application/json"}
ESTIMATE_HEADER = "x-tapegate-estimate"

# The statuses of the gateway's own errors (502/504 are gateway facts, not a codec's guess).
_STATUS: dict[ir.ErrorKind, int] = {
    "invalid_request": 400,
    "authentication": 401,
    "permission": 403,
    "not_found": 404,
    "request_too_large": 413,
    "rate_limit": 429,
    "billing": 402,
    "timeout": 504,
    "api_error": 500,
    "overloaded": 529,
    "bad_gateway": 502,
    "unavailable": 503,
}


def error_response(kind: ir.ErrorKind, message: str, dialect: Dialect) -> tuple[int, bytes]:
    """An error the gateway raises itself, as ``(status, body)`` in ``dialect``."""
    err = ir.ErrorInfo(kind=kind, message=message, status=_STATUS[kind])
    _, body = error_body(err, dialect)
    return _STATUS[kind], json.dumps(body).encode()


def models_body(names: list[str], dialect: Dialect, created: int) -> bytes:
    """``GET /v1/models`` in the client's dialect."""
    data: list[dict[str, Any]]
    if dialect == "anthropic":
        data = [
            {
                "type": "model",
                "id": n,
                "display_name": n,
                "created_at": "1970-01-01T00:00:00Z",
            }
            for n in names
        ]
        body: dict[str, Any] = {
            "data": data,
            "has_more": False,
            "first_id": names[0] if names else None,
            "last_id": names[-1] if names else None,
        }
    else:
        data = [
            {"id": n, "object": "model", "created": created, "owned_by": "tapegate"} for n in names
        ]
        body = {"object": "list", "data": data}
    return json.dumps(body).encode()


def estimate_tokens(body: dict[str, Any]) -> int:
    """The documented chars/4 estimate over the JSON of system + messages + tools."""
    parts = {k: body[k] for k in ("system", "messages", "tools") if k in body}
    text = json.dumps(parts, ensure_ascii=False, separators=(",", ":"))
    return max(1, math.ceil(len(text) / 4))


def count_tokens_body(body: dict[str, Any]) -> bytes:
    return json.dumps({"input_tokens": estimate_tokens(body)}).encode()
