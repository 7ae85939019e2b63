"""What the OpenAI Responses codec's halves share: the status/stop-reason tables, usage, error
codes, ids, and the opaque reasoning tokens.

Choices (why):

* Status -> IR: ``completed`` is ``tool_use`` when the output holds a tool call, ``refusal`` when
  it holds a refusal, otherwise ``end_turn``; ``incomplete`` is ``max_tokens`` (reason
  ``max_output_tokens``) or ``content_filter``. IR -> status: ``max_tokens``,
  ``context_window_exceeded`` and ``pause_turn`` are ``incomplete`` / ``max_output_tokens`` (the
  turn is unfinished and a client may continue it), ``content_filter`` is ``incomplete`` /
  ``content_filter``, every other reason ``completed``.
* HTTP errors have the Chat Completions shape (``{"error": {message, type, param, code}}``), so
  the Chat tables are reused; inside a stream an error is ``response.failed`` whose
  ``response.error.code`` is one Codex understands (``rate_limit_exceeded``,
  ``insufficient_quota``, ``context_length_exceeded``, else ``server_error``).
* Reasoning tokens: a reasoning item's ``encrypted_content`` (and its id) ride in the IR
  thinking ``signature`` as ``tapegate:responses:<id>:<encrypted>``, so a client of another
  dialect that echoes the signature back (Claude Code does) gives a Responses upstream its
  reasoning back. The other way round an Anthropic signature rides in ``encrypted_content`` as
  ``tapegate:anthropic-signature:<signature>`` and redacted thinking as
  ``tapegate:anthropic-redacted:<data>``, which Codex stores and sends back.
"""

from __future__ import annotations

from typing import Any, Final

from recorder import ir
from recorder.context import Context

# --------------------------------------------------------------------------- stop reasons

# IR stop reason -> (status, incomplete_details.reason)
_STOP_TO_STATUS: Final[dict[ir.StopReason, tuple[str, str | None]]] = {
    "end_turn": ("completed", None),
    "stop_sequence": ("completed", None),
    "tool_use": ("completed", None),
    "refusal": ("completed", None),
    "max_tokens": ("incomplete", "max_output_tokens"),
    "context_window_exceeded": ("incomplete", "max_output_tokens"),
    "pause_turn": ("incomplete", "max_output_tokens"),
    "content_filter": ("incomplete", "content_filter"),
}

_INCOMPLETE_TO_IR: Final[dict[str, ir.StopReason]] = {
    "max_output_tokens": "max_tokens",
    "content_filter": "content_filter",
}


def status_from_ir(reason: ir.StopReason | None) -> tuple[str, str | None]:
    return ("completed", None) if reason is None else _STOP_TO_STATUS[reason]


def stop_reason_to_ir(
    status: str | None,
    incomplete: Any,
    *,
    called_tool: bool,
    refused: bool,
    ctx: Context,
    path: str,
) -> ir.StopReason | None:
    """The IR stop reason of a finished response (``status`` completed or incomplete)."""
    if status == "incomplete":
        reason = incomplete.get("reason") if isinstance(incomplete, dict) else None
        mapped = _INCOMPLETE_TO_IR.get(str(reason))
        if mapped is None:
            ctx.note(f"{path}.incomplete_details", f"incomplete for {reason!r}; sent as max_tokens")
            return "max_tokens"
        return mapped
    if status not in (None, "completed"):
        ctx.note(f"{path}.status", f"status {status!r} reported as end_turn")
    if called_tool:
        return "tool_use"
    return "refusal" if refused else "end_turn"


# --------------------------------------------------------------------------- usage


def usage_to_ir(u: dict[str, Any]) -> ir.Usage:
    """Responses usage (``input_tokens`` is already the total prompt) as IR usage."""
    itd = u.get("input_tokens_details")
    otd = u.get("output_tokens_details")
    itd = itd if isinstance(itd, dict) else {}
    otd = otd if isinstance(otd, dict) else {}
    return ir.Usage(
        input_tokens=ir.token_count(u.get("input_tokens")),
        output_tokens=ir.token_count(u.get("output_tokens")),
        cache_read_tokens=ir.token_count(itd.get("cached_tokens")),
        cache_creation_tokens=ir.token_count(itd.get("cache_write_tokens")),
        reasoning_tokens=ir.token_count(otd.get("reasoning_tokens")),
    )


def usage_from_ir(u: ir.Usage) -> dict[str, Any]:
    """Every field present and numeric: Codex refuses a usage object with one missing."""
    prompt = u.input_tokens or 0
    completion = u.output_tokens or 0
    details: dict[str, Any] = {"cached_tokens": u.cache_read_tokens or 0}
    if u.cache_creation_tokens is not None:
        details["cache_write_tokens"] = u.cache_creation_tokens
    return {
        "input_tokens": prompt,
        "input_tokens_details": details,
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": u.reasoning_tokens or 0},
        "total_tokens": prompt + completion,
    }


# --------------------------------------------------------------------------- stream errors

# error codes a Responses client acts on (Codex: context window, quota, retry after ...)
_KNOWN_CODES: Final = frozenset(
    {
        "context_length_exceeded",
        "insufficient_quota",
        "rate_limit_exceeded",
        "usage_not_included",
        "invalid_prompt",
        "server_error",
    }
)
_KIND_TO_CODE: Final[dict[ir.ErrorKind, str]] = {
    "invalid_request": "invalid_prompt",
    "authentication": "invalid_api_key",
    "permission": "permission_denied",
    "not_found": "not_found",
    "request_too_large": "context_length_exceeded",
    "rate_limit": "rate_limit_exceeded",
    "billing": "insufficient_quota",
    "timeout": "server_error",
    "api_error": "server_error",
    "overloaded": "server_error",
    "bad_gateway": "server_error",
    "unavailable": "server_error",
}


def failure_from_ir(err: ir.ErrorInfo) -> dict[str, Any]:
    """``response.error`` of a ``response.failed`` event."""
    code = err.code if err.code in _KNOWN_CODES else _KIND_TO_CODE[err.kind]
    return {"code": code, "message": err.message}


# --------------------------------------------------------------------------- ids


def response_id(raw: str, ctx: Context) -> str:
    """The id a Responses client gets for an answer from another dialect: minted from
    ``ctx.ids`` (seeded per exchange), never derived from the upstream's. A client may continue
    the conversation by this id (``previous_response_id``), so it must name this exchange only,
    and upstreams are not all careful about theirs (a local server may repeat one)."""
    return raw if raw.startswith("resp_") else ctx.ids.make("resp_")


# --------------------------------------------------------------------------- reasoning tokens

RESPONSES_TAG: Final = "tapegate:responses:"
SIGNATURE_TAG: Final = "tapegate:anthropic-signature:"
REDACTED_TAG: Final = "tapegate:anthropic-redacted:"


def reasoning_to_ir(
    item_id: str | None, text: str, encrypted: str | None
) -> ir.ThinkingPart | ir.RedactedThinkingPart:
    """A reasoning item (its text already joined) as an IR part; see the module docstring."""
    if encrypted is not None and encrypted.startswith(REDACTED_TAG):
        return ir.RedactedThinkingPart(encrypted.removeprefix(REDACTED_TAG))
    if encrypted is not None and encrypted.startswith(SIGNATURE_TAG):
        return ir.ThinkingPart(text, encrypted.removeprefix(SIGNATURE_TAG))
    if item_id or encrypted:
        return ir.ThinkingPart(text, f"{RESPONSES_TAG}{item_id or ''}:{encrypted or ''}")
    return ir.ThinkingPart(text)


def signature_of_item(item_id: str | None, encrypted: str | None) -> str | None:
    """The IR signature a streamed reasoning item ends with (None: it has none)."""
    part = reasoning_to_ir(item_id, "", encrypted)
    return part.signature if isinstance(part, ir.ThinkingPart) else None


def responses_reasoning(signature: str | None) -> tuple[str, str | None] | None:
    """``(item id, encrypted_content)`` of a signature that came from a Responses upstream."""
    if signature is None or not signature.startswith(RESPONSES_TAG):
        return None
    item_id, _, encrypted = signature.removeprefix(RESPONSES_TAG).partition(":")
    return item_id, encrypted or None


def encrypted_for_client(signature: str | None) -> str | None:
    """The ``encrypted_content`` a Responses client gets for a thinking signature."""
    if not signature:
        return None
    known = responses_reasoning(signature)
    if known is not None:
        return known[1]
    return SIGNATURE_TAG + signature
