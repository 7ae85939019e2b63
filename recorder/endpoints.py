"""What the gateway answers itself: its own errors, ``GET /v1/models``, the ``count_tokens``
estimate and health checks. Pure: bodies as ``(status, headers, bytes)``.

count_tokens estimate (used when the upstream's dialect has no token-counting endpoint):
``ceil(len(json(system, messages, tools)) / 4)`` — about four characters per token for English
and JSON, the usual rule of thumb. It is marked with ``x-tapegate-estimate: true``.
"""

from __future__ import annotations

import json
import math
from typing import Any

from recorder import dialects, ir
from recorder.ir import Dialect
from recorder.sse import SseEvent
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


def error_event(kind: ir.ErrorKind, message: str, dialect: Dialect) -> SseEvent:
    """An error the gateway raises itself inside a stream that is under way, in ``dialect``."""
    err = ir.ErrorInfo(kind=kind, message=message, status=_STATUS[kind])
    return dialects.codec(dialect).error_event(err)


def health_body(refused: str | None, recorder: dict[str, int] | None = None) -> tuple[int, bytes]:
    """The answer to a health check (``HEAD``, ``GET /``): 200, or 503 with the reason while
    the gateway refuses traffic (recording failed), so a load balancer stops sending. With
    ``recorder``, the writer's counts: a monitor sees exchanges stored only as failed rows or
    not at all without reading the log."""
    body: dict[str, object] = (
        {"status": "ok", "service": "tapegate"}
        if refused is None
        else {"status": "unavailable", "reason": refused}
    )
    if recorder is not None:
        body["recorder"] = recorder
    return (200 if refused is None else 503), json.dumps(body, separators=(",", ":")).encode()


def models_body(names: list[str], dialect: Dialect, created: int) -> bytes:
    """``GET /v1/models`` in the client's dialect."""
    return json.dumps(dialects.codec(dialect).models_body(names, created)).encode()


def estimate_tokens(body: dict[str, Any]) -> int:
    """The documented chars/4 estimate over the JSON of system + messages + tools."""
    parts = {k: body[k] for k in ("system", "messages", "tools") if k in body}
    text = json.dumps(parts, ensure_ascii=False, separators=(",", ":"))
    return max(1, math.ceil(len(text) / 4))


def count_tokens_body(body: dict[str, Any]) -> bytes:
    return json.dumps({"input_tokens": estimate_tokens(body)}).encode()
