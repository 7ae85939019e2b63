"""The OpenAI Responses API codec (``POST /v1/responses``; the contract is in
:mod:`recorder.codecs`).

Requests live in :mod:`responses_request` (to IR, and :func:`adapt_request`, which fits a
Responses client's request to an upstream of another dialect) and
:mod:`responses_request_from_ir`; streams in :mod:`responses_stream` (decoder) and
:mod:`responses_stream_encoder`; the tables in :mod:`responses_common`. This module holds
non-streaming responses and errors and re-exports the rest, so callers see one module.

Choices (why):

* ``response_to_ir``: output items in order; a message's ``output_text`` parts are text parts (a
  ``refusal`` part is text with stop reason ``refusal``); reasoning items are thinking (see
  :mod:`responses_common` for their encrypted content); hosted tool calls (``web_search_call``
  ...) are dropped with a Note: the answer's text carries what they found.
* ``response_from_ir``: text parts in a row are one assistant message; thinking is a reasoning
  item with one summary part; calls of tools the request sent as custom tools become
  ``custom_tool_call`` items with the raw input.
* Errors: HTTP errors have the Chat Completions body, so the Chat codec's readers and tables are
  used as they are.
"""

from __future__ import annotations

import json
from typing import Any, assert_never

from recorder import ir
from recorder.codecs.base import Codec, FunctionCodec
from recorder.codecs.openai import error_from_ir, error_to_ir, models_body
from recorder.codecs.responses_common import (
    REDACTED_TAG,
    encrypted_for_client,
    failure_from_ir,
    reasoning_to_ir,
    response_id,
    status_from_ir,
    stop_reason_to_ir,
    usage_from_ir,
    usage_to_ir,
)
from recorder.codecs.responses_items import (
    call_item,
    message_item,
    output_text,
    reasoning_item,
    response_object,
)
from recorder.codecs.responses_request import adapt_request, request_to_ir
from recorder.codecs.responses_request_from_ir import request_from_ir
from recorder.codecs.responses_stream import StreamDecoder
from recorder.codecs.responses_stream_encoder import StreamEncoder
from recorder.context import Context
from recorder.errors import UnsupportedContentError
from recorder.sse import SseEvent, SseParser
from recorder.wire import responses as w

__all__ = [
    "CODEC",
    "StreamDecoder",
    "StreamEncoder",
    "adapt_request",
    "error_from_ir",
    "error_to_ir",
    "request_from_ir",
    "request_to_ir",
    "response_from_ir",
    "response_to_ir",
    "session_in_request",
]

JsonObject = dict[str, Any]

# Response fields read into the IR, or echoes of the request not worth a Note each time.
_RESPONSE_KNOWN = frozenset(
    {
        "id",
        "object",
        "created_at",
        "completed_at",
        "status",
        "model",
        "output",
        "usage",
        "incomplete_details",
        "error",
        "background",
        "instructions",
        "max_output_tokens",
        "max_tool_calls",
        "parallel_tool_calls",
        "previous_response_id",
        "prompt_cache_key",
        "prompt_cache_retention",
        "reasoning",
        "safety_identifier",
        "service_tier",
        "store",
        "temperature",
        "text",
        "tool_choice",
        "tools",
        "top_logprobs",
        "top_p",
        "truncation",
        "user",
        "metadata",
        "frequency_penalty",
        "presence_penalty",
        "output_text",
    }
)


# =========================================================================== responses


def response_to_ir(body: Any, ctx: Context) -> ir.Response:
    resp = w.validate(w.Response, body, "response")
    if resp.status == "failed":
        # a 200 whose body says it failed: the caller maps the IR error, never a fake answer
        err = resp.error or {}
        raise UnsupportedContentError(f"upstream response failed: {err.get('message') or err}")
    content: list[ir.Part] = []
    called_tool = refused = False
    for i, item in enumerate(resp.output):
        path = f"output[{i}]"
        match item:
            case w.MessageItem():
                if isinstance(item.content, str):
                    content.append(ir.TextPart(item.content))
                    continue
                for p in item.content:
                    if isinstance(p, w.OutputText):
                        extra = {"annotations": p.annotations} if p.annotations else {}
                        content.append(ir.TextPart(p.text, extra=extra))
                    elif isinstance(p, w.Refusal):
                        refused = True
                        content.append(ir.TextPart(p.refusal))
                    else:
                        ctx.note(f"{path}.content", f"content part {p.type!r} dropped")
            case w.FunctionCallItem():
                called_tool = True
                content.append(ir.ToolCallPart(item.call_id, item.name, item.arguments))
            case w.CustomToolCallItem():
                called_tool = True
                content.append(ir.ToolCallPart(item.call_id, item.name, item.input, kind="custom"))
            case w.ReasoningItem():
                texts = [s.text for s in item.content or []] or [s.text for s in item.summary]
                content.append(reasoning_to_ir(item.id, "\n\n".join(texts), item.encrypted_content))
            case w.OtherItem():
                ctx.note(path, f"{item.type} item (run by OpenAI) dropped; the answer carries it")
            case w.FunctionCallOutputItem() | w.CustomToolCallOutputItem():
                ctx.note(path, f"{item.type} in a response dropped")
            case _:
                assert_never(item)
    raw: JsonObject = body
    extra = {k: v for k, v in raw.items() if k not in _RESPONSE_KNOWN and v is not None}
    usage = usage_to_ir(resp.usage) if resp.usage is not None else ir.Usage()
    return ir.Response(
        id=resp.id or ctx.ids.make("resp_"),
        model=resp.model or ctx.requested_model or "",
        content=content,
        stop_reason=stop_reason_to_ir(
            resp.status,
            resp.incomplete_details,
            called_tool=called_tool,
            refused=refused,
            ctx=ctx,
            path="",
        ),
        usage=usage,
        extra=extra,
    )


def response_from_ir(resp: ir.Response, ctx: Context) -> JsonObject:
    output = output_items(resp.content, ctx)
    status, reason = status_from_ir(resp.stop_reason)
    if resp.stop_sequence is not None:
        ctx.note("stop_sequence", "the Responses API does not report a stop sequence; dropped")
    for key in resp.extra:
        ctx.note(key, "no OpenAI Responses equivalent; dropped")
    return response_object(
        response_id(resp.id, ctx),
        resp.model or ctx.requested_model or "",
        ctx,
        status=status,
        output=output,
        usage=usage_from_ir(resp.usage),
        incomplete=None if reason is None else {"reason": reason},
    )


def output_items(parts: list[ir.Part], ctx: Context) -> list[JsonObject]:
    out: list[JsonObject] = []
    texts: list[JsonObject] = []  # text parts in a row: one assistant message

    def flush() -> None:
        if texts:
            out.append(message_item(ctx.ids.make("msg_"), list(texts), "completed"))
            texts.clear()

    for i, p in enumerate(parts):
        path = f"content[{i}]"
        match p:
            case ir.TextPart():
                for key in p.extra:
                    ctx.note(f"{path}.{key}", "no OpenAI Responses equivalent; dropped")
                texts.append(output_text(p.text))
                continue
            case ir.ThinkingPart():
                item: JsonObject | None = reasoning_item(
                    ctx.ids.make("rs_"), p.text, encrypted_for_client(p.signature)
                )
            case ir.RedactedThinkingPart():
                item = reasoning_item(ctx.ids.make("rs_"), "", REDACTED_TAG + p.data)
            case ir.ToolCallPart():
                item = call_item(p, ctx)
            case ir.OpaquePart():
                if p.dialect == "responses":
                    item = dict(p.data)
                else:
                    ctx.note(path, f"{p.dialect} {p.type} block has no Responses form; dropped")
                    item = None
            case ir.ImagePart() | ir.DocumentPart() | ir.ToolResultPart():
                raise UnsupportedContentError(
                    f"{path}: a Responses answer cannot carry {type(p).__name__}"
                )
            case _:
                assert_never(p)
        flush()
        if item is not None:
            out.append(item)
    flush()
    return out


# --------------------------------------------------------------------------- the stream's shape

# Events after which the stream has nothing more to say.
_TERMINAL = frozenset({"response.completed", "response.incomplete", "response.failed", "error"})
# Deltas of model output (the first one is the first token).
_TOKENS = frozenset(
    {
        "response.output_text.delta",
        "response.refusal.delta",
        "response.reasoning_summary_text.delta",
        "response.reasoning_text.delta",
        "response.function_call_arguments.delta",
        "response.custom_tool_call_input.delta",
    }
)


def error_event(err: ir.ErrorInfo) -> SseEvent:
    """An ``error`` event, for a stream that has to end where no ``response.failed`` can be
    built (a pass-through stream knows no response object). The openai SDK does not raise on
    it: it yields a ``ResponseErrorEvent``, so a client must look at the event's type."""
    data = {
        "type": "error",
        "code": failure_from_ir(err)["code"],
        "message": err.message,
        "param": err.param,
    }
    return SseEvent(event="error", data=json.dumps(data))


def is_terminal(ev: SseEvent) -> bool:
    return ev.event in _TERMINAL


def is_token(ev: SseEvent) -> bool:
    return ev.event in _TOKENS


def session_in_request(body: JsonObject) -> str | None:
    """The session a client named in its request body: Codex's ``client_metadata.session_id``
    / ``thread_id``, else ``prompt_cache_key`` (one per conversation, by the API's own advice).
    Lenient: anything else is None."""
    meta = body.get("client_metadata")
    for value in (
        meta.get("session_id") if isinstance(meta, dict) else None,
        meta.get("thread_id") if isinstance(meta, dict) else None,
        body.get("prompt_cache_key"),
    ):
        if isinstance(value, str) and value:
            return value
    return None


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
    adapt_request=adapt_request,
)
