"""Anthropic content blocks, usage and stop reasons <-> IR: the vocabulary shared by the
request/response codec (``anthropic.py``) and the stream codec (``anthropic_stream.py``).

``same`` arguments say whether the IR came from an Anthropic body (a round trip, or a test):
then ``extra`` keys are written back verbatim; otherwise each is dropped with ``ctx.note``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from typing import Any
from urllib.parse import unquote_to_bytes

from pydantic import BaseModel

from recorder import ir
from recorder.context import Context
from recorder.errors import UnsupportedContentError
from recorder.wire import anthropic as w

JsonObject = dict[str, Any]

# --------------------------------------------------------------------------- stop reasons

_STOP_REASON_TO_IR: dict[str, ir.StopReason] = {
    "end_turn": "end_turn",
    "max_tokens": "max_tokens",
    "stop_sequence": "stop_sequence",
    "tool_use": "tool_use",
    "pause_turn": "pause_turn",
    "refusal": "refusal",
    "model_context_window_exceeded": "context_window_exceeded",
}

_STOP_REASON_FROM_IR: dict[ir.StopReason, str] = {
    "end_turn": "end_turn",
    "max_tokens": "max_tokens",
    "stop_sequence": "stop_sequence",
    "tool_use": "tool_use",
    "pause_turn": "pause_turn",
    "refusal": "refusal",
    "context_window_exceeded": "model_context_window_exceeded",
    # Anthropic has no content filter stop; "refusal" is what its clients already handle as
    # "the answer was withheld" (end_turn would hide the cut, stop_sequence would lie).
    "content_filter": "refusal",
}


def stop_reason_to_ir(raw: str | None, ctx: Context, path: str) -> ir.StopReason | None:
    if raw is None:
        return None
    sr = _STOP_REASON_TO_IR.get(raw)
    if sr is None:  # a stop reason newer than this table: the turn did end
        ctx.note(path, f"unknown stop_reason {raw!r} mapped to end_turn")
        return "end_turn"
    return sr


def stop_reason_from_ir(sr: ir.StopReason | None, ctx: Context, path: str) -> str:
    if sr is None:  # Anthropic clients treat a null stop_reason as an unfinished message
        ctx.note(path, "upstream gave no stop reason; sent end_turn")
        return "end_turn"
    return _STOP_REASON_FROM_IR[sr]


# --------------------------------------------------------------------------- usage

_USAGE_KEYS = frozenset(
    {
        "input_tokens",
        "output_tokens",
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
        "output_tokens_details",
    }
)


def usage_to_ir(u: JsonObject) -> ir.Usage:
    """Anthropic usage (``input_tokens`` without cache) as IR usage (total prompt)."""
    inp, cr, cc = (
        ir.token_count(u.get("input_tokens")),
        ir.token_count(u.get("cache_read_input_tokens")),
        ir.token_count(u.get("cache_creation_input_tokens")),
    )
    total = (
        None if inp is None and cr is None and cc is None else (inp or 0) + (cr or 0) + (cc or 0)
    )
    extra = {k: v for k, v in u.items() if k not in _USAGE_KEYS}
    details = u.get("output_tokens_details")
    reasoning = None
    if isinstance(details, dict):
        reasoning = ir.token_count(details.get("thinking_tokens"))
        rest = {k: v for k, v in details.items() if k != "thinking_tokens"}
        if rest:
            extra["output_tokens_details"] = rest
    return ir.Usage(
        input_tokens=total,
        output_tokens=ir.token_count(u.get("output_tokens")),
        cache_read_tokens=cr,
        cache_creation_tokens=cc,
        reasoning_tokens=reasoning,
        extra=extra,
    )


def usage_from_ir(u: ir.Usage, ctx: Context, path: str, same: bool) -> JsonObject:
    """Always both cache fields (Claude Code >= 2.1.79 fails without them, LiteLLM #24176)."""
    cr, cc = u.cache_read_tokens or 0, u.cache_creation_tokens or 0
    out: JsonObject = {
        "input_tokens": max(0, u.input_tokens - cr - cc) if u.input_tokens is not None else 0,
        "cache_creation_input_tokens": cc,
        "cache_read_input_tokens": cr,
        "output_tokens": u.output_tokens or 0,
    }
    extra = dict(u.extra)
    if u.reasoning_tokens is not None:
        details = extra.pop("output_tokens_details", None) if same else None
        out["output_tokens_details"] = {**(details or {}), "thinking_tokens": u.reasoning_tokens}
    carry(out, extra, ctx, path, same)
    return out


# --------------------------------------------------------------------------- extras, ids, input


def carry(out: JsonObject, extra: JsonObject, ctx: Context, path: str, same: bool) -> None:
    """Write ``extra`` back (same dialect) or drop each key with a note (another dialect's)."""
    if same:
        for k, v in extra.items():
            out.setdefault(k, v)
        return
    for k in extra:
        ctx.note(f"{path}.{k}" if path else k, "no Anthropic equivalent; dropped")


_TOOL_ID_BAD = re.compile(r"[^a-zA-Z0-9_-]")


def tool_id(raw: str) -> str:
    """A tool id Anthropic accepts (``^[a-zA-Z0-9_-]+$``). Deterministic, so a tool_use and
    its tool_result map alike; the hash suffix keeps ``a.b`` and ``a:b`` apart."""
    if raw and not _TOOL_ID_BAD.search(raw):
        return raw
    # surrogatepass: a lone surrogate escaped in the request JSON ("\ud800") still names a call
    digest = hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{_TOOL_ID_BAD.sub('_', raw)}_{digest}"


def tool_input(arguments: str, what: str) -> JsonObject:
    """IR argument text as an Anthropic ``input`` object ("" means no arguments)."""
    if not arguments.strip():
        return {}
    try:
        value = json.loads(arguments)
    except ValueError as e:
        raise UnsupportedContentError(f"{what}: arguments are not valid JSON ({e})") from e
    if not isinstance(value, dict):
        raise UnsupportedContentError(f"{what}: arguments must be a JSON object")
    return value


def dump_args(value: JsonObject) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# --------------------------------------------------------------------------- blocks -> parts


def opaque(block: BaseModel) -> ir.OpaquePart:
    data = block.model_dump(mode="json", exclude_unset=True)
    return ir.OpaquePart("anthropic", str(data.get("type")), data)


def block_to_part(block: Any) -> ir.Part:
    """One validated content block as an IR part; what the IR can't hold stays opaque."""
    extra = dict(block.model_extra or {})
    match block:
        case w.TextBlock():
            return ir.TextPart(block.text, block.cache_control, extra)
        case w.ImageBlock():
            src = block.source
            if src.model_extra or not isinstance(src, w.Base64Source | w.UrlSource):
                return opaque(block)
            if isinstance(src, w.Base64Source):
                return ir.ImagePart(src.media_type, src.data, None, block.cache_control, extra)
            return ir.ImagePart(url=src.url, cache_control=block.cache_control, extra=extra)
        case w.DocumentBlock():
            src = block.source
            if src.model_extra or isinstance(src, w.OtherSource):
                return opaque(block)
            doc = ir.DocumentPart(
                filename=block.title, cache_control=block.cache_control, extra=extra
            )
            if isinstance(src, w.UrlSource):
                doc.url = src.url
            else:
                doc.media_type, doc.data = src.media_type, src.data
            return doc
        case w.ToolUseBlock():
            args = dump_args(block.input)
            return ir.ToolCallPart(block.id, block.name, args, block.cache_control, extra)
        case w.ToolResultBlock():
            return _tool_result(block, extra)
        case w.ThinkingBlock():
            return ir.ThinkingPart(block.thinking, block.signature, extra)
        case w.RedactedThinkingBlock():
            return opaque(block) if extra else ir.RedactedThinkingPart(block.data)
        case _:
            return opaque(block)


def _tool_result(block: w.ToolResultBlock, extra: JsonObject) -> ir.Part:
    content: list[ir.TextPart | ir.ImagePart | ir.DocumentPart] = []
    if isinstance(block.content, str):
        content.append(ir.TextPart(block.content))
    else:
        for sub in block.content or []:
            part = block_to_part(sub)
            if not isinstance(part, ir.TextPart | ir.ImagePart | ir.DocumentPart):
                return opaque(block)  # e.g. a search_result inside: keep the whole result
            content.append(part)
    return ir.ToolResultPart(block.tool_use_id, content, block.is_error, block.cache_control, extra)


# --------------------------------------------------------------------------- parts -> blocks


def message_id(raw: str, ctx: Context) -> str:
    """A response id Anthropic clients expect (``msg_...``), derived from the upstream's."""
    if raw.startswith("msg_"):
        return raw
    return f"msg_{_TOOL_ID_BAD.sub('_', raw)}" if raw else ctx.ids.make("msg_")


def part_to_block(part: ir.Part, ctx: Context, path: str, same: bool) -> JsonObject | None:
    """One IR part as a request content block; None when it is dropped with a note."""
    match part:
        case ir.TextPart():
            return text_block(part, ctx, path, same)
        case ir.ImagePart():
            out = {"type": "image", "source": _source(part.data, part.url, part.media_type, path)}
            return _finish(out, part.cache_control, part.extra, ctx, path, same)
        case ir.DocumentPart():
            out = {"type": "document", "source": _doc_source(part, path)}
            if part.filename is not None:
                out["title"] = part.filename
            return _finish(out, part.cache_control, part.extra, ctx, path, same)
        case ir.ToolCallPart():
            return tool_use_block(part, tool_id(part.id), ctx, path, same, history=True)
        case ir.ToolResultPart():
            return _tool_result_block(part, ctx, path, same)
        case ir.ThinkingPart():
            if not part.signature:
                # Anthropic rejects unsigned thinking and a signature is never fabricated
                ctx.note(path, "thinking without a signature dropped (Anthropic rejects it)")
                return None
            out = {"type": "thinking", "thinking": part.text, "signature": part.signature}
            return _finish(out, None, part.extra, ctx, path, same)
        case ir.RedactedThinkingPart():
            return {"type": "redacted_thinking", "data": part.data}
        case ir.OpaquePart():
            if part.dialect != "anthropic":
                raise UnsupportedContentError(
                    f"{path}: {part.dialect} content of type {part.type!r} has no Anthropic form"
                )
            return dict(part.data)


def text_block(part: ir.TextPart, ctx: Context, path: str, same: bool) -> JsonObject:
    return _finish(
        {"type": "text", "text": part.text}, part.cache_control, part.extra, ctx, path, same
    )


def tool_use_block(
    part: ir.ToolCallPart,
    block_id: str,
    ctx: Context,
    path: str,
    same: bool,
    *,
    history: bool = False,
) -> JsonObject:
    what = f"{path} (tool call {part.id!r} to {part.name!r})"
    try:
        args = tool_input(part.arguments, what)
    except UnsupportedContentError:
        if not history:
            raise
        # A broken call the model made earlier must not sink the whole conversation: its text is
        # carried inside an object, the only shape Anthropic accepts for ``input``.
        ctx.note(path, "tool call arguments were not a JSON object; carried as _raw_arguments")
        args = {"_raw_arguments": part.arguments}
    out = {"type": "tool_use", "id": block_id, "name": part.name, "input": args}
    return _finish(out, part.cache_control, part.extra, ctx, path, same)


def _finish(
    out: JsonObject,
    cache_control: JsonObject | None,
    extra: JsonObject,
    ctx: Context,
    path: str,
    same: bool,
) -> JsonObject:
    if cache_control is not None:
        out["cache_control"] = cache_control
    carry(out, extra, ctx, path, same)
    return out


def _tool_result_block(part: ir.ToolResultPart, ctx: Context, path: str, same: bool) -> JsonObject:
    out: JsonObject = {"type": "tool_result", "tool_use_id": tool_id(part.tool_call_id)}
    c = part.content
    if (
        len(c) == 1
        and isinstance(c[0], ir.TextPart)
        and c[0].cache_control is None
        and not c[0].extra
    ):
        out["content"] = c[0].text
    elif c:
        blocks = [part_to_block(p, ctx, f"{path}.content[{i}]", same) for i, p in enumerate(c)]
        out["content"] = [b for b in blocks if b is not None]
    if part.is_error is not None:
        out["is_error"] = part.is_error
    return _finish(out, part.cache_control, part.extra, ctx, path, same)


_DATA_URL = re.compile(r"^data:([^;,]+)?(;base64)?,(.*)$", re.DOTALL)

# Leading base64 characters of the formats Anthropic accepts, for data without a media type.
_IMAGE_MAGIC = (("/9j/", "image/jpeg"), ("iVBOR", "image/png"), ("R0lGOD", "image/gif"))


def _source(data: str | None, url: str | None, media_type: str | None, path: str) -> JsonObject:
    if data is None and url is not None:
        m = _DATA_URL.match(url)
        if m is None:
            return {"type": "url", "url": url}
        media_type = media_type or m.group(1)
        data = m.group(3) if m.group(2) else _b64(m.group(3))
    if data is None:
        raise UnsupportedContentError(f"{path}: image or document without data or url")
    if media_type is None:
        media_type = next((mt for magic, mt in _IMAGE_MAGIC if data.startswith(magic)), None)
        if data.startswith("UklGR"):
            media_type = "image/webp"
        if media_type is None:
            raise UnsupportedContentError(f"{path}: inline data without a media type")
    return {"type": "base64", "media_type": media_type, "data": data}


def _b64(text: str) -> str:
    """A data URL payload given without ``;base64`` (percent-encoded bytes) as base64."""
    return base64.b64encode(unquote_to_bytes(text)).decode()


def _doc_source(part: ir.DocumentPart, path: str) -> JsonObject:
    if part.data is not None and part.media_type == "text/plain":
        return {"type": "text", "media_type": "text/plain", "data": part.data}
    if part.data is not None and part.media_type is None:
        return {"type": "base64", "media_type": "application/pdf", "data": part.data}
    return _source(part.data, part.url, part.media_type, path)
