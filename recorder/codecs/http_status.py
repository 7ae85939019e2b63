"""HTTP status -> IR error kind: one table for every dialect's error reader."""

from __future__ import annotations

from typing import Final

from recorder import ir

STATUS_TO_KIND: Final[dict[int, ir.ErrorKind]] = {
    400: "invalid_request",
    401: "authentication",
    402: "billing",
    403: "permission",
    404: "not_found",
    408: "timeout",
    409: "invalid_request",
    413: "request_too_large",
    422: "invalid_request",
    429: "rate_limit",
    500: "api_error",
    502: "bad_gateway",
    503: "unavailable",
    504: "timeout",
    529: "overloaded",
}


def kind_of_status(status: int | None) -> ir.ErrorKind:
    """The kind a status alone implies; unknown 4xx are bad requests, anything else an API error."""
    if status is None:
        return "api_error"
    if status in STATUS_TO_KIND:
        return STATUS_TO_KIND[status]
    return "invalid_request" if 400 <= status < 500 else "api_error"
