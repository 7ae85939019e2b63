"""Kiro error bodies <-> IR errors (research/kiro.md §1.4; UNOFFICIAL).

Kiro answers errors as JSON ``{"message": ..., "reason": ...}`` (``reason`` often null), AWS
style bodies may carry ``__type`` (``...#ValidationException``). The reason says more than the
status, so it is read first:

==================================  =================  ========================================
reason / type                       IR kind            why
==================================  =================  ========================================
CONTENT_LENGTH_EXCEEDS_THRESHOLD    invalid_request    the prompt is too long: not retryable
MONTHLY_REQUEST_COUNT               billing            the subscription's quota is used up
INVALID_MODEL_ID                    not_found          unknown model, or not in the tier
``*Exception`` types                see EXCEPTION_KINDS
403 "bearer token ... invalid"      authentication     expired, revoked, wrong region/auth type
==================================  =================  ========================================

The message keeps Kiro's own text and names the reason, so "Improperly formed request." reaches
the client as Kiro said it (the recording keeps the exact body that caused it).
"""

from __future__ import annotations

import json
from typing import Any, Final

from recorder import ir
from recorder.codecs.http_status import STATUS_TO_KIND, kind_of_status
from recorder.codecs.kiro_stream import EXCEPTION_KINDS

__all__ = ["error_from_ir", "error_to_ir"]

JsonObject = dict[str, Any]

REASON_KINDS: Final[dict[str, ir.ErrorKind]] = {
    "CONTENT_LENGTH_EXCEEDS_THRESHOLD": "invalid_request",
    "MONTHLY_REQUEST_COUNT": "billing",
    "INVALID_MODEL_ID": "not_found",
}
# Claude Code compacts the conversation on an error that says this.
_TOO_LONG = "prompt is too long"
_MAX_TEXT = 1000

# IR kind -> the status a Kiro-shaped error body goes out with (the fake upstream, tests)
_KIND_STATUS: Final[dict[ir.ErrorKind, int]] = {
    kind: status for status, kind in sorted(STATUS_TO_KIND.items(), reverse=True)
}


def error_to_ir(status: int, body: Any) -> ir.ErrorInfo:
    if isinstance(body, bytes | str):
        try:
            body = json.loads(body)
        except ValueError:
            text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
            return _info(kind_of_status(status), text.strip()[:_MAX_TEXT], status, None, {})
    if not isinstance(body, dict):
        return _info(kind_of_status(status), "", status, None, {})
    message = body.get("message", body.get("Message"))
    message = message if isinstance(message, str) else ""
    reason = body.get("reason")
    if not isinstance(reason, str):
        nested = body.get("error")
        reason = nested.get("reason") if isinstance(nested, dict) else None
        reason = reason if isinstance(reason, str) else None
    aws_type = body.get("__type")
    aws_type = aws_type.rsplit("#", 1)[-1] if isinstance(aws_type, str) else None
    if reason in REASON_KINDS:
        kind = REASON_KINDS[reason]
    elif aws_type in EXCEPTION_KINDS:
        kind = EXCEPTION_KINDS[aws_type]
    elif status == 403 and "bearer token" in message.lower():
        kind = "authentication"
    else:
        kind = kind_of_status(status)
    if reason == "CONTENT_LENGTH_EXCEEDS_THRESHOLD":
        message = f"{_TOO_LONG} for Kiro: {message}".rstrip(": ")
    extra = {k: v for k, v in body.items() if k not in ("message", "Message", "reason")}
    return _info(kind, message, status, reason or aws_type, extra)


def _info(
    kind: ir.ErrorKind, message: str, status: int, code: str | None, extra: JsonObject
) -> ir.ErrorInfo:
    text = message or f"HTTP {status}"
    if code and code not in text:
        text = f"{text} (reason: {code})"
    if not text.startswith(_TOO_LONG):
        text = f"Kiro: {text}"
    return ir.ErrorInfo(kind, text, status=status, code=code, extra=extra)


def error_from_ir(err: ir.ErrorInfo) -> tuple[int, JsonObject]:
    """An error in Kiro's shape: ``(status, {"message", "reason"})``."""
    status = err.status or _KIND_STATUS.get(err.kind, 500)
    return status, {"message": err.message, "reason": err.code}
