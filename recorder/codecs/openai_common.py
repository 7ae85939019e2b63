"""What the OpenAI Chat Completions codec's body and stream halves share: the typed tables
(finish reasons, error kinds), usage conversion and compact JSON.

Choices (why):

* ``finish_reason`` -> IR: an unknown value becomes ``end_turn`` with a Note, because the answer
  did end and a client can do nothing better with an unknown reason.
* IR -> ``finish_reason``: ``refusal`` -> ``content_filter`` (the provider's safety layer ended the
  answer; ``stop`` would hide it), ``pause_turn`` and ``context_window_exceeded`` -> ``length``
  (the turn is incomplete and a client may continue it), ``stop_sequence`` -> ``stop``.
* Error kinds -> ``(status, type, code)``: OpenAI clients have no 529, so ``overloaded`` is 503.
"""

from __future__ import annotations

import json
from typing import Any, Final

from recorder import ir
from recorder.codecs.http_status import STATUS_TO_KIND, kind_of_status
from recorder.context import Context

_FINISH_REASON_TO_IR: Final[dict[str, ir.StopReason]] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "content_filter",
    # Not OpenAI's, but sent by OpenAI-compatible servers:
    "end_turn": "end_turn",  # some Anthropic-backed proxies
    "eos": "end_turn",  # older TGI / llama.cpp
    "model_length": "max_tokens",  # older vLLM / Mistral
    "refusal": "refusal",
}

_FINISH_REASON_FROM_IR: Final[dict[ir.StopReason, str]] = {
    "end_turn": "stop",
    "max_tokens": "length",
    "stop_sequence": "stop",
    "tool_use": "tool_calls",
    "content_filter": "content_filter",
    "refusal": "content_filter",
    "pause_turn": "length",
    "context_window_exceeded": "length",
}


def finish_reason_to_ir(reason: str, ctx: Context, path: str) -> ir.StopReason:
    mapped = _FINISH_REASON_TO_IR.get(reason)
    if mapped is None:
        ctx.note(path, f"unknown finish_reason {reason!r} reported as end_turn")
        return "end_turn"
    return mapped


def finish_reason_from_ir(reason: ir.StopReason | None) -> str:
    return "stop" if reason is None else _FINISH_REASON_FROM_IR[reason]


# --------------------------------------------------------------------------- usage


def usage_to_ir(u: dict[str, Any]) -> ir.Usage:
    """OpenAI (and DeepSeek / Groq) usage dict as IR usage; prompt_tokens is already the total."""
    ptd = u.get("prompt_tokens_details") or {}
    ctd = u.get("completion_tokens_details") or {}
    cached = ptd.get("cached_tokens") if isinstance(ptd, dict) else None
    if cached is None:
        cached = u.get("prompt_cache_hit_tokens")  # DeepSeek
    reasoning = ctd.get("reasoning_tokens") if isinstance(ctd, dict) else None
    return ir.Usage(
        input_tokens=ir.token_count(u.get("prompt_tokens")),
        output_tokens=ir.token_count(u.get("completion_tokens")),
        cache_read_tokens=ir.token_count(cached),
        reasoning_tokens=ir.token_count(reasoning),
    )


def usage_from_ir(u: ir.Usage) -> dict[str, Any]:
    prompt = u.input_tokens or 0
    completion = u.output_tokens or 0
    out: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    if u.cache_read_tokens is not None:
        out["prompt_tokens_details"] = {"cached_tokens": u.cache_read_tokens}
    if u.reasoning_tokens is not None:
        out["completion_tokens_details"] = {"reasoning_tokens": u.reasoning_tokens}
    return out


# --------------------------------------------------------------------------- errors


# A provider's code or type says more than the status: OpenAI sends quota exhaustion as 429.
# Codes precise enough to override the HTTP status (OpenAI sends insufficient_quota as a 429).
_SPECIFIC_CODE_TO_KIND: Final[dict[str, ir.ErrorKind]] = {
    "insufficient_quota": "billing",
    "invalid_api_key": "authentication",
    "model_not_found": "not_found",
    "DeploymentNotFound": "not_found",
    "context_length_exceeded": "invalid_request",
    "overloaded": "overloaded",
    "overloaded_error": "overloaded",
}
# Generic types, consulted only when the status says nothing: a 529 with type "server_error"
# is still an overload, and a 404 with type "invalid_request_error" still a 404.
_GENERIC_TO_KIND: Final[dict[str, ir.ErrorKind]] = {
    "authentication_error": "authentication",
    "permission_error": "permission",
    "not_found_error": "not_found",
    "rate_limit_exceeded": "rate_limit",
    "rate_limit_error": "rate_limit",
    "invalid_request_error": "invalid_request",
    "server_error": "api_error",
}

# kind -> (HTTP status, error.type, error.code) as an OpenAI client expects them.
# Real OpenAI answers 401/403/404 with type "invalid_request_error" and tells them apart by code.
_KIND_TO_WIRE: Final[dict[ir.ErrorKind, tuple[int, str, str | None]]] = {
    "invalid_request": (400, "invalid_request_error", None),
    "authentication": (401, "invalid_request_error", "invalid_api_key"),
    "permission": (403, "invalid_request_error", "permission_denied"),
    "not_found": (404, "invalid_request_error", "not_found"),
    "request_too_large": (413, "invalid_request_error", "request_too_large"),
    "rate_limit": (429, "rate_limit_exceeded", "rate_limit_exceeded"),
    "billing": (402, "insufficient_quota", "insufficient_quota"),
    "timeout": (504, "server_error", "timeout"),
    "api_error": (500, "server_error", None),
    "overloaded": (503, "server_error", "overloaded"),
    "bad_gateway": (502, "server_error", "bad_gateway"),
    "unavailable": (503, "server_error", "service_unavailable"),
}


def kind_for(status: int | None, code: Any, type_: Any) -> ir.ErrorKind:
    for key in (code, type_):
        if isinstance(key, str) and key in _SPECIFIC_CODE_TO_KIND:
            return _SPECIFIC_CODE_TO_KIND[key]
    num = _as_status(status)
    if num is not None and num in STATUS_TO_KIND:
        return STATUS_TO_KIND[num]
    for key in (code, type_):
        if isinstance(key, str) and key in _GENERIC_TO_KIND:
            return _GENERIC_TO_KIND[key]
    for candidate in (status, code):  # OpenRouter puts the status in "code"
        num = _as_status(candidate)
        if num is not None:
            return kind_of_status(num)
    return "api_error"


def _as_status(v: Any) -> int | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v if 100 <= v <= 599 else None
    if isinstance(v, str) and v.isdigit() and len(v) == 3:
        return int(v)
    return None


def error_info_from_obj(obj: dict[str, Any], status: int | None) -> ir.ErrorInfo:
    """``{"message","type","param","code",...}`` (any of them missing) as ErrorInfo."""
    code = obj.get("code")
    type_ = obj.get("type")
    message = obj.get("message")
    if not isinstance(message, str) or not message:
        message = compact(obj) if obj else f"HTTP {status}"
    param = obj.get("param")
    extra = {k: v for k, v in obj.items() if k not in ("message", "type", "param", "code")}
    if isinstance(type_, str):
        extra["type"] = type_
    return ir.ErrorInfo(
        kind=kind_for(status, code, type_),
        message=message,
        status=status if status is not None else _as_status(code),
        code=None if code is None else str(code),
        param=param if isinstance(param, str) else None,
        extra=extra,
    )


def error_wire(err: ir.ErrorInfo) -> tuple[int, dict[str, Any]]:
    status, type_, code = _KIND_TO_WIRE[err.kind]
    return status, {
        "message": err.message,
        "type": type_,
        "param": err.param,
        "code": code if code is not None else err.code,
    }


# --------------------------------------------------------------------------- json


def compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
