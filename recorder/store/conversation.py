"""A lenient reading of recorded bodies and events as a conversation. Pure.

Used to render exchanges (``recorder show``), to fill the ``tool_calls`` table and, for flows the
gateway did not see, to pick usage / model / stop reason out of the response. This reads what was
recorded; it never validates. Unknown blocks become ``other`` parts (shown, never dropped), so a
new content type that Claude Code starts sending appears in ``show`` as ``[other: type]``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from recorder import ir
from recorder.codecs.anthropic_parts import usage_to_ir as anthropic_usage_to_ir
from recorder.codecs.openai_common import usage_to_ir as openai_usage_to_ir
from recorder.codecs.responses_common import stop_of_response
from recorder.codecs.responses_common import usage_to_ir as responses_usage_to_ir
from recorder.exchange import RecordedEvent

PartKind = Literal["text", "thinking", "tool_call", "tool_result", "image", "other"]


@dataclass(slots=True)
class Part:
    kind: PartKind
    text: str = ""
    name: str | None = None  # tool name, or the block type of an "other" part
    call_id: str | None = None
    is_error: bool = False


@dataclass(slots=True)
class Message:
    role: str
    parts: list[Part] = field(default_factory=list)


@dataclass(slots=True)
class Reply:
    """What the model answered, from a response body or reassembled from its SSE events."""

    message: Message
    model: str | None = None
    stop_reason: str | None = None
    usage: ir.Usage | None = None
    error: str | None = None


def guess_dialect(url: str | None, body: Any = None) -> str | None:
    path = (url or "").split("?", 1)[0]
    if path.endswith("/messages"):
        return "anthropic"
    if path.endswith("/chat/completions"):
        return "openai"
    if path.endswith("/responses"):
        return "responses"
    if isinstance(body, dict):
        if body.get("type") == "message" or "system" in body:
            return "anthropic"
        if "choices" in body:
            return "openai"
        if body.get("object") == "response" or "input" in body:
            return "responses"
    return None


def load_json(raw: bytes | str | None) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return None


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(_text_of(c.get("text", c) if isinstance(c, dict) else c) for c in content)
    return "" if content is None else _dumps(content)


# --------------------------------------------------------------------------- requests


def request_messages(dialect: str | None, body: Any) -> list[Message]:
    """The conversation a request carries; a system prompt comes first as role ``system``."""
    if not isinstance(body, dict):
        return []
    if dialect == "responses":
        return _responses_request(body)
    out: list[Message] = []
    if body.get("system"):
        out.append(Message("system", [Part("text", _text_of(body["system"]))]))
    for m in body.get("messages") or []:
        if isinstance(m, dict):
            out.append(_message(dialect, m))
    return out


def _message(dialect: str | None, m: dict[str, Any]) -> Message:
    role = str(m.get("role", "?"))
    content = m.get("content")
    parts: list[Part] = []
    if isinstance(content, str):
        parts.append(Part("text", content))
    elif isinstance(content, list):
        parts.extend(_block(b) for b in content if isinstance(b, dict))
    for key in ("reasoning_content", "reasoning"):  # OpenAI-compatible servers' thinking
        if isinstance(m.get(key), str) and m[key]:
            parts.insert(0, Part("thinking", m[key]))
    for call in m.get("tool_calls") or []:
        fn = call.get("function") or {}
        parts.append(
            Part("tool_call", str(fn.get("arguments", "")), fn.get("name"), call.get("id"))
        )
    if role == "tool":  # OpenAI tool result
        return Message(
            "tool", [Part("tool_result", _text_of(content), call_id=m.get("tool_call_id"))]
        )
    return Message(role, parts)


def _block(b: dict[str, Any]) -> Part:
    kind = b.get("type")
    if kind == "text":
        return Part("text", str(b.get("text", "")))
    if kind == "thinking":
        return Part("thinking", str(b.get("thinking", "")))
    if kind == "redacted_thinking":
        return Part("thinking", "[redacted thinking]")
    if kind in ("tool_use", "server_tool_use"):
        return Part("tool_call", _dumps(b.get("input", {})), b.get("name"), b.get("id"))
    if kind == "tool_result":
        return Part(
            "tool_result", _text_of(b.get("content")), call_id=b.get("tool_use_id"),
            is_error=bool(b.get("is_error")),
        )  # fmt: skip
    if kind in ("image", "image_url", "document"):
        return Part("image", name=str(kind))
    return Part("other", _dumps(b), name=str(kind))


# --------------------------------------------------------------------------- responses


def reply_from(dialect: str | None, body: Any, events: list[RecordedEvent]) -> Reply | None:
    """The client-leg reply: from the body when there is one, else from the client-leg events."""
    if isinstance(body, dict):
        if "error" in body and "choices" not in body and "content" not in body:
            if body.get("object") != "response":
                return Reply(Message("assistant"), error=_error_text(body["error"]))
        if dialect == "responses" or body.get("object") == "response":
            return _responses_reply(body)
        if dialect == "openai" or "choices" in body:
            return _openai_body(body)
        return _anthropic_body(body)
    client = [e for e in events if e.leg == "client" and e.data is not None]
    if not client:
        return None
    if dialect == "anthropic" or any(e.event == "message_start" for e in client):
        return _anthropic_stream(client)
    if dialect == "responses" or any(e.event == "response.created" for e in client):
        return _responses_stream(client)
    return _openai_stream(client)


def _error_text(err: Any) -> str:
    if isinstance(err, dict):
        return f"{err.get('type', 'error')}: {err.get('message', '')}"
    return str(err)


def _anthropic_usage(u: Any, into: ir.Usage | None = None) -> ir.Usage | None:
    """Usage from an Anthropic body or event, merged over what earlier events said."""
    if not isinstance(u, dict):
        return into
    usage = anthropic_usage_to_ir(u)
    return usage if into is None else ir.merge_usage(into, usage)


def _openai_usage(u: Any) -> ir.Usage | None:
    return openai_usage_to_ir(u) if isinstance(u, dict) else None


def _anthropic_body(body: dict[str, Any]) -> Reply:
    parts = [_block(b) for b in body.get("content") or [] if isinstance(b, dict)]
    return Reply(
        Message(str(body.get("role", "assistant")), parts),
        model=body.get("model"),
        stop_reason=body.get("stop_reason"),
        usage=_anthropic_usage(body.get("usage")),
    )


def _openai_body(body: dict[str, Any]) -> Reply:
    choices = body.get("choices") or [{}]
    message = _message("openai", choices[0].get("message") or {"role": "assistant"})
    return Reply(
        message,
        model=body.get("model"),
        stop_reason=choices[0].get("finish_reason"),
        usage=_openai_usage(body.get("usage")),
    )


def _anthropic_stream(events: list[RecordedEvent]) -> Reply:
    reply = Reply(Message("assistant"))
    blocks: dict[int, Part] = {}
    for e in events:
        data = load_json(e.data)
        if not isinstance(data, dict):
            continue
        kind = data.get("type", e.event)
        if kind == "message_start":
            msg = data.get("message") or {}
            reply.model = msg.get("model")
            reply.usage = _anthropic_usage(msg.get("usage"), reply.usage)
        elif kind == "content_block_start":
            block = dict(data.get("content_block") or {})
            if block.get("type") in ("tool_use", "server_tool_use"):
                block["input"] = ""  # filled by input_json_delta partials
            part = _block(block)
            if part.kind == "tool_call":
                part.text = ""
            blocks[int(data.get("index", len(blocks)))] = part
        elif kind == "content_block_delta":
            part = blocks.setdefault(int(data.get("index", 0)), Part("text"))
            delta = data.get("delta") or {}
            part.text += str(
                delta.get("text") or delta.get("partial_json") or delta.get("thinking") or ""
            )
        elif kind == "message_delta":
            reply.stop_reason = (data.get("delta") or {}).get("stop_reason") or reply.stop_reason
            reply.usage = _anthropic_usage(data.get("usage"), reply.usage)
        elif kind == "error":
            reply.error = _error_text(data.get("error"))
    reply.message.parts = [blocks[i] for i in sorted(blocks)]
    return reply


def _openai_stream(events: list[RecordedEvent]) -> Reply:
    reply = Reply(Message("assistant"))
    thinking, text = Part("thinking"), Part("text")
    calls: dict[int, Part] = {}
    for e in events:
        data = load_json(e.data)
        if not isinstance(data, dict):
            continue
        if "error" in data:
            reply.error = _error_text(data["error"])
        reply.model = data.get("model") or reply.model
        if data.get("usage"):
            reply.usage = _openai_usage(data["usage"])
        for choice in data.get("choices") or []:
            delta = choice.get("delta") or {}
            thinking.text += delta.get("reasoning_content") or delta.get("reasoning") or ""
            text.text += delta.get("content") or ""
            for call in delta.get("tool_calls") or []:
                part = calls.setdefault(int(call.get("index", len(calls))), Part("tool_call"))
                fn = call.get("function") or {}
                part.call_id = part.call_id or call.get("id")
                part.name = part.name or fn.get("name")
                part.text += fn.get("arguments") or ""
            reply.stop_reason = choice.get("finish_reason") or reply.stop_reason
    parts = [p for p in (thinking, text) if p.text] + [calls[i] for i in sorted(calls)]
    reply.message.parts = parts
    return reply


# --------------------------------------------------------------------------- the Responses API

_RESPONSES_TERMINALS = ("response.completed", "response.incomplete", "response.failed")


def _responses_request(body: dict[str, Any]) -> list[Message]:
    out: list[Message] = []
    if body.get("instructions"):
        out.append(Message("system", [Part("text", _text_of(body["instructions"]))]))
    items = body.get("input")
    if isinstance(items, str):
        return [*out, Message("user", [Part("text", items)])]
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        kind = item.get("type", "message")
        if kind == "message" or "role" in item:
            role = str(item.get("role", "?"))
            content = item.get("content")
            parts = (
                [Part("text", content)]
                if isinstance(content, str)
                else [_responses_part(p) for p in content or [] if isinstance(p, dict)]
            )
            out.append(Message("system" if role == "developer" else role, parts))
        elif kind.endswith("_output"):
            output = item.get("output")
            part = Part("tool_result", _text_of(output), call_id=item.get("call_id"))
            out.append(Message("tool", [part]))
        else:
            out.append(Message("assistant", [_responses_item(item)]))
    return out


def _responses_part(p: dict[str, Any]) -> Part:
    kind = p.get("type")
    if kind in ("input_text", "output_text"):
        return Part("text", str(p.get("text", "")))
    if kind == "refusal":
        return Part("text", str(p.get("refusal", "")))
    if kind in ("input_image", "input_file"):
        return Part("image", name=str(kind))
    return Part("other", _dumps(p), name=str(kind))


def _responses_item(item: dict[str, Any]) -> Part:
    """One output item (or an assistant-side input item) as a part."""
    kind = item.get("type")
    if kind == "function_call":
        args = str(item.get("arguments", ""))
        return Part("tool_call", args, item.get("name"), item.get("call_id"))
    if kind == "custom_tool_call":
        return Part("tool_call", str(item.get("input", "")), item.get("name"), item.get("call_id"))
    if kind == "reasoning":
        texts = [c.get("text", "") for c in item.get("content") or [] if isinstance(c, dict)]
        texts = texts or [
            s.get("text", "") for s in item.get("summary") or [] if isinstance(s, dict)
        ]
        return Part("thinking", "\n\n".join(str(t) for t in texts) or "[encrypted reasoning]")
    return Part("other", _dumps(item), name=str(kind))


def _responses_reply(resp: dict[str, Any]) -> Reply:
    parts: list[Part] = []
    for item in resp.get("output") or []:
        if not isinstance(item, dict):
            continue
        if item.get("type") == "message":
            parts += [_responses_part(p) for p in item.get("content") or [] if isinstance(p, dict)]
        else:
            parts.append(_responses_item(item))
    usage = resp.get("usage")
    err = resp.get("error")
    return Reply(
        Message("assistant", parts),
        model=resp.get("model"),
        stop_reason=stop_of_response(resp),
        usage=responses_usage_to_ir(usage) if isinstance(usage, dict) else None,
        error=_error_text(err) if isinstance(err, dict) else None,
    )


def _responses_stream(events: list[RecordedEvent]) -> Reply:
    """A Responses stream's terminal event holds the whole answer; without one, what was
    streamed up to the end (its items as ``output_item.done`` had them)."""
    done: list[Any] = []
    model: str | None = None
    error: str | None = None
    for e in events:
        data = load_json(e.data)
        if not isinstance(data, dict):
            continue
        kind = data.get("type", e.event)
        if kind in _RESPONSES_TERMINALS and isinstance(data.get("response"), dict):
            return _responses_reply(data["response"])
        if kind == "response.created" and isinstance(data.get("response"), dict):
            model = data["response"].get("model")
        elif kind == "response.output_item.done":
            done.append(data.get("item"))
        elif kind == "error":
            error = f"{data.get('code') or 'error'}: {data.get('message', '')}"
    reply = _responses_reply({"output": done, "model": model})
    reply.error = error
    return reply
