"""What the recorder wants to know about a finished exchange, read cheaply from wire bodies and
recorded events (no codec, no pydantic): the model that answered, usage, the stop reason in IR
terms and an in-stream error. Pure.

:func:`settle` runs in the recorder's sinks (the writer process, the cassette writer), not on
the proxy's event loop: a stream's events are taped there as raw bytes (see
:class:`recorder.exchange.EventTape`) and read here, off the hot path.
"""

from __future__ import annotations

import json
from typing import Any

from recorder import ir
from recorder.codecs.anthropic_parts import usage_to_ir as anthropic_usage_to_ir
from recorder.codecs.openai_common import usage_to_ir as openai_usage_to_ir
from recorder.codecs.responses_common import stop_of_response
from recorder.codecs.responses_common import usage_to_ir as responses_usage_to_ir
from recorder.exchange import Exchange, untape

_OPENAI_STOP = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "content_filter",
}
_ANTHROPIC_STOP = {"model_context_window_exceeded": "context_window_exceeded"}


def settle(ex: Exchange) -> None:
    """Turn a taped stream into events and chunks, then read its summary from them."""
    if ex.taped is None:
        return
    untape(ex)
    if ex.client_dialect is not None:
        summarize_events(ex, ex.client_dialect)


def stop_reason(dialect: str, raw: str | None) -> str | None:
    if raw is None:
        return None
    table = _OPENAI_STOP if dialect == "openai" else _ANTHROPIC_STOP
    return table.get(raw, raw)


def usage_of(dialect: str, u: Any) -> ir.Usage | None:
    """Wire usage as IR usage, via the codecs' own dict-level (pydantic-free) readers."""
    if not isinstance(u, dict):
        return None
    if dialect == "responses":
        return responses_usage_to_ir(u)
    return openai_usage_to_ir(u) if dialect == "openai" else anthropic_usage_to_ir(u)


def summarize_body(ex: Exchange, dialect: str, body: Any) -> None:
    """Fill model/usage/stop reason from a whole (non-streamed) response body."""
    if not isinstance(body, dict):
        return
    if isinstance(body.get("model"), str):
        ex.model_answered = body["model"]
    ex.usage = usage_of(dialect, body.get("usage")) or ex.usage
    if dialect == "responses":
        _responses_answer(ex, body)
    elif dialect == "openai":
        choices = body.get("choices") or [{}]
        ex.stop_reason = stop_reason(dialect, (choices[0] or {}).get("finish_reason"))
    else:
        ex.stop_reason = stop_reason(dialect, body.get("stop_reason"))


def summarize_events(ex: Exchange, dialect: str) -> None:
    """Fill model/usage/stop reason (and the error of an in-stream error event) from the
    client-leg events of a stream (after it ended).

    Only the few events that carry them are parsed: message_start/message_delta/error for
    Anthropic, chunks with a finish_reason, usage or error for OpenAI."""
    if dialect == "responses":
        _responses_events(ex)
        return
    start_usage: dict[str, Any] = {}
    for ev in ex.events:
        if ev.leg != "client" or not ev.data:
            continue
        if dialect == "anthropic":
            if ev.event not in ("message_start", "message_delta", "error"):
                continue
        elif '"finish_reason":null' in ev.data.replace(" ", "") and '"usage"' not in ev.data:
            continue
        try:
            d = json.loads(ev.data)
        except (ValueError, RecursionError):  # not JSON, or nested deeper than anyone writes
            continue
        if not isinstance(d, dict):
            continue
        if "error" in d and "choices" not in d:  # Anthropic error event, OpenAI error chunk
            # What the gateway itself saw go wrong (a lost upstream, a hang-up) comes first.
            ex.error = ex.error or error_text(d["error"])
        elif dialect == "anthropic":
            if ev.event == "message_start":
                msg = d.get("message") or {}
                ex.model_answered = msg.get("model", ex.model_answered)
                if isinstance(msg.get("usage"), dict):
                    start_usage = msg["usage"]
                ex.usage = usage_of(dialect, msg.get("usage")) or ex.usage
            else:
                ex.stop_reason = stop_reason(dialect, (d.get("delta") or {}).get("stop_reason"))
                late = d.get("usage")
                if isinstance(late, dict):
                    # message_delta usage is cumulative and may repeat input and cache counts:
                    # merge what it carries over message_start's, field by field.
                    merged = {**start_usage, **{k: v for k, v in late.items() if v is not None}}
                    ex.usage = usage_of(dialect, merged) or ex.usage
        else:
            ex.model_answered = d.get("model", ex.model_answered)
            for choice in d.get("choices") or []:
                if choice.get("finish_reason"):
                    ex.stop_reason = stop_reason(dialect, choice["finish_reason"])
            ex.usage = usage_of(dialect, d.get("usage")) or ex.usage


def error_text(err: Any) -> str:
    """An in-stream error as ``type: message`` (the recorder's pass-through reading does the
    same)."""
    if isinstance(err, dict):
        return f"{err.get('type', 'error')}: {err.get('message', '')}"
    return str(err)


# --------------------------------------------------------------------------- the Responses API

_RESPONSES_ENDS = ("response.completed", "response.incomplete", "response.failed")


def _responses_answer(ex: Exchange, resp: dict[str, Any]) -> None:
    """Stop reason (IR terms) and error of a response object, whole or a stream's last."""
    ex.stop_reason = stop_of_response(resp)
    err = resp.get("error")
    if isinstance(err, dict):
        ex.error = ex.error or f"{err.get('code') or 'error'}: {err.get('message', '')}"


def _responses_events(ex: Exchange) -> None:
    """Only the lifecycle events are parsed: the terminal one holds model, usage and output."""
    for ev in ex.events:
        if ev.leg != "client" or not ev.data:
            continue
        if ev.event not in _RESPONSES_ENDS and ev.event not in ("response.created", "error"):
            continue
        try:
            d = json.loads(ev.data)
        except (ValueError, RecursionError):
            continue
        if not isinstance(d, dict):
            continue
        if ev.event == "error":
            ex.error = ex.error or f"{d.get('code') or 'error'}: {d.get('message', '')}"
            continue
        resp = d.get("response")
        if isinstance(resp, dict):
            if isinstance(resp.get("model"), str):
                ex.model_answered = resp["model"]
            ex.usage = usage_of("responses", resp.get("usage")) or ex.usage
            if ev.event in _RESPONSES_ENDS:
                _responses_answer(ex, resp)
