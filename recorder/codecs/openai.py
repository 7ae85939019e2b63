"""The OpenAI Chat Completions codec (the contract is in :mod:`recorder.codecs`).

Requests live in :mod:`openai_request` and :mod:`openai_request_from_ir`, streams in
:mod:`openai_stream` (decoder) and :mod:`openai_stream_encoder`, the shared tables in
:mod:`openai_common`; this module holds non-streaming responses and errors and re-exports the
rest, so callers see one module.

Choices (why):

* ``response_to_ir``: reasoning (``reasoning_content`` or ``reasoning``, or inline ``<think>``
  tags at the start of the content, as in the stream) becomes a ThinkingPart placed first; a
  ``refusal`` becomes text with stop reason ``refusal``; missing ids come from ``ctx.ids``.
* ``response_from_ir``: text parts are concatenated without separator (Anthropic splits one
  answer into several text blocks around citations); thinking goes to ``reasoning_content``;
  server-tool blocks (OpaquePart) and signatures are dropped with a Note: the answer's text
  already carries what they found.
* Errors: any body (OpenAI, OpenRouter's integer code, Azure's string "404", vLLM's top-level
  ``{"object":"error",...}``, plain text) -> ErrorInfo; the kind comes from the provider code
  first (``insufficient_quota`` arrives as a 429) and then the status. The reverse table is
  ``openai_common._KIND_TO_WIRE``.
"""

from __future__ import annotations

import json
from typing import Any, assert_never

from recorder import ir
from recorder.codecs.base import Codec, FunctionCodec
from recorder.codecs.openai_common import (
    compact,
    error_info_from_obj,
    error_wire,
    finish_reason_from_ir,
    finish_reason_to_ir,
    usage_from_ir,
    usage_to_ir,
)
from recorder.codecs.openai_request import request_to_ir
from recorder.codecs.openai_request_from_ir import request_from_ir
from recorder.codecs.openai_stream import StreamDecoder
from recorder.codecs.openai_stream_encoder import StreamEncoder, chunk_id
from recorder.codecs.think_tags import split_think_tags
from recorder.context import Context
from recorder.errors import UnsupportedContentError
from recorder.sse import SseEvent, SseParser
from recorder.wire import openai as w

__all__ = [
    "CODEC",
    "StreamDecoder",
    "StreamEncoder",
    "error_from_ir",
    "error_to_ir",
    "request_from_ir",
    "request_to_ir",
    "response_from_ir",
    "response_to_ir",
]

# Response fields read into the IR, or provider bookkeeping not worth a Note on every exchange.
_RESPONSE_KNOWN = frozenset(
    {
        "id",
        "object",
        "created",
        "model",
        "choices",
        "usage",
        "system_fingerprint",
        "service_tier",
        "obfuscation",
        "x_groq",
        "provider",
        "prompt_filter_results",
        "timings",
    }
)


# =========================================================================== responses


def response_to_ir(body: Any, ctx: Context) -> ir.Response:
    resp = w.validate(w.ChatCompletion, body, "response")
    content: list[ir.Part] = []
    stop_reason: ir.StopReason | None = None
    choices = resp.choices or []
    if not choices:
        ctx.note("choices", "response has no choices; translated as an empty answer")
    for choice in choices[1:]:
        ctx.note(f"choices[{choice.index}]", "only the first choice is translated")
    if choices:
        choice = choices[0]
        content = _message_to_ir(choice.message, ctx)
        if choice.finish_reason is not None:
            stop_reason = finish_reason_to_ir(choice.finish_reason, ctx, "choices[0].finish_reason")
        if choice.message.refusal and stop_reason in (None, "end_turn"):
            stop_reason = "refusal"
    raw: dict[str, Any] = body
    extra = {k: v for k, v in raw.items() if k not in _RESPONSE_KNOWN and v is not None}
    return ir.Response(
        id=resp.id or ctx.ids.make("chatcmpl-"),
        model=resp.model or ctx.requested_model or "",
        content=content,
        stop_reason=stop_reason,
        usage=usage_to_ir(raw["usage"]) if isinstance(raw.get("usage"), dict) else ir.Usage(),
        extra=extra,
    )


def _message_to_ir(m: w.ResponseMessage, ctx: Context) -> list[ir.Part]:
    parts: list[ir.Part] = []
    reasoning = m.reasoning_content or m.reasoning
    if reasoning:
        parts.append(ir.ThinkingPart(reasoning))
    if isinstance(m.content, str):
        for kind, text in split_think_tags(m.content):
            parts.append(ir.ThinkingPart(text) if kind == "thinking" else ir.TextPart(text))
    elif m.content is not None:
        for p in m.content:
            parts.append(ir.TextPart(p.text if isinstance(p, w.TextContent) else p.refusal))
    if m.refusal:
        parts.append(ir.TextPart(m.refusal))
    for tc in m.tool_calls or []:
        if tc.function is None:
            parts.append(ir.OpaquePart("openai", tc.type, tc.model_dump(exclude_none=True)))
            continue
        call_id = tc.id or ctx.ids.make("call_")
        parts.append(ir.ToolCallPart(call_id, tc.function.name, tc.function.arguments))
    if m.function_call is not None:
        fc = m.function_call
        parts.append(ir.ToolCallPart(ctx.ids.make("call_"), fc.name, fc.arguments))
    # Thinking first (the IR's and Anthropic's order), whatever order the fields came in.
    return sorted(parts, key=lambda p: 0 if isinstance(p, ir.ThinkingPart) else 1)


def response_from_ir(resp: ir.Response, ctx: Context) -> dict[str, Any]:
    texts: list[str] = []
    thinking: list[str] = []
    calls: list[dict[str, Any]] = []
    for i, p in enumerate(resp.content):
        path = f"content[{i}]"
        match p:
            case ir.TextPart():
                texts.append(p.text)
                for key in p.extra:
                    ctx.note(f"{path}.{key}", "no OpenAI equivalent; dropped")
            case ir.ThinkingPart():
                if p.text:
                    thinking.append(p.text)
                if p.signature:
                    ctx.note(f"{path}.signature", "thinking signature has no OpenAI form; dropped")
            case ir.RedactedThinkingPart():
                ctx.note(path, "redacted thinking is encrypted for Anthropic only; dropped")
            case ir.ToolCallPart(kind="custom"):
                custom = {"name": p.name, "input": p.arguments}
                calls.append({"id": p.id, "type": "custom", "custom": custom})
            case ir.ToolCallPart():
                fn = {"name": p.name, "arguments": p.arguments or "{}"}
                calls.append({"id": p.id, "type": "function", "function": fn})
            case ir.OpaquePart():
                ctx.note(path, f"{p.dialect} {p.type} block has no OpenAI form; dropped")
            case ir.ImagePart() | ir.DocumentPart() | ir.ToolResultPart():
                raise UnsupportedContentError(
                    f"{path}: an assistant answer cannot carry {type(p).__name__} in OpenAI"
                )
            case _:
                assert_never(p)
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts else None}
    if calls:
        message["tool_calls"] = calls
    if thinking:
        message["reasoning_content"] = "\n\n".join(thinking)
    if resp.stop_sequence is not None:
        ctx.note("stop_sequence", "OpenAI does not report which stop sequence matched; dropped")
    for key in resp.extra:
        ctx.note(key, "no OpenAI equivalent; dropped")
    choice = {
        "index": 0,
        "message": message,
        "finish_reason": finish_reason_from_ir(resp.stop_reason),
    }
    return {
        "id": chunk_id(resp.id),
        "object": "chat.completion",
        "created": int(ctx.created),
        "model": resp.model,
        "choices": [choice],
        "usage": usage_from_ir(resp.usage),
    }


# =========================================================================== errors


def error_to_ir(status: int, body: Any) -> ir.ErrorInfo:
    """Any body, never an exception: one nested too deep to read is reported by status."""
    try:
        return _error_to_ir(status, body)
    except RecursionError:
        return error_info_from_obj({"message": "error body nested too deeply to read"}, status)


def _error_to_ir(status: int, body: Any) -> ir.ErrorInfo:
    if isinstance(body, bytes | bytearray):
        body = body.decode("utf-8", errors="replace")
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except ValueError:
            text = body.strip()
            return error_info_from_obj({"message": text[:2000]} if text else {}, status)
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            info = error_info_from_obj(err, status)
            info.extra.update({k: v for k, v in body.items() if k != "error"})
            return info
        if isinstance(err, str) and err:  # {"error": "message"} (Ollama, some proxies)
            return error_info_from_obj({"message": err}, status)
        if isinstance(body.get("message"), str) or isinstance(body.get("detail"), str):
            # vLLM {"object":"error","message",...}, FastAPI {"detail"}, AWS {"message"}
            obj = dict(body)
            obj.setdefault("message", body.get("detail"))
            return error_info_from_obj(obj, status)
    return error_info_from_obj({"message": compact(body)} if body else {}, status)


def error_from_ir(err: ir.ErrorInfo) -> tuple[int, dict[str, Any]]:
    status, detail = error_wire(err)
    return status, {"error": detail}


# --------------------------------------------------------------------------- the stream's shape

# Delta fields that carry model output (the first such chunk is the first token).
_TOKEN_KEYS = ("content", "reasoning_content", "reasoning", "tool_calls")


def error_event(err: ir.ErrorInfo) -> SseEvent:
    """A ``data: {"error": ...}`` chunk: what the openai SDK raises ``APIError`` on."""
    return SseEvent(data=json.dumps(error_from_ir(err)[1]))


def is_terminal(ev: SseEvent) -> bool:
    """``data: [DONE]`` ends a stream, and so does an error chunk (``event: error`` too, which
    some compatible servers send)."""
    if ev.event == "error":
        return True
    data = ev.data
    if data is None:
        return False
    # per event of a pass-through: a chunk ("{...}") skips the stripping [DONE] test
    if data[:1] != "{" and data.strip() == "[DONE]":
        return True
    if '"error"' not in data:
        return False
    try:
        d = json.loads(data)
    except (ValueError, RecursionError):
        return False
    return isinstance(d, dict) and "error" in d and "choices" not in d


def is_token(ev: SseEvent) -> bool:
    """A chunk whose delta has content, reasoning or tool calls (not a role-only chunk)."""
    if ev.event is not None or ev.data is None or '"delta"' not in ev.data or ev.data == "[DONE]":
        return False
    try:
        chunk = json.loads(ev.data)
    except (ValueError, RecursionError):
        return False
    if not isinstance(chunk, dict):
        return False
    for choice in chunk.get("choices") or []:
        delta = choice.get("delta") or {}
        if any(delta.get(k) for k in _TOKEN_KEYS):
            return True
    return False


def models_body(names: list[str], created: int) -> dict[str, Any]:
    """``GET /v1/models``: a list of model objects."""
    data = [{"id": n, "object": "model", "created": created, "owned_by": "tapegate"} for n in names]
    return {"object": "list", "data": data}


CODEC: Codec[SseEvent] = FunctionCodec(
    request_to_ir=request_to_ir,
    request_from_ir=request_from_ir,
    response_to_ir=response_to_ir,
    response_from_ir=response_from_ir,
    error_to_ir=error_to_ir,
    error_from_ir=error_from_ir,
    error_event=error_event,
    is_terminal=is_terminal,
    is_token=is_token,
    frames=SseParser,
    stream_decoder=StreamDecoder,
    stream_encoder=StreamEncoder,
    models_body=models_body,
)
