"""IR conversations as plain JSON in the shape of the OpenTelemetry GenAI conventions' message
schema (``gen_ai.input.messages`` / ``gen_ai.output.messages`` / ``gen_ai.system_instructions``).

One shape for the spans' content attributes and the message log: a message is
``{"role", "parts": [...]}``; a part is one of

* ``{"type": "text", "content"}``, ``{"type": "reasoning", "content"}``
* ``{"type": "tool_call", "id", "name", "arguments"}`` (arguments parsed when they are JSON)
* ``{"type": "tool_call_response", "id", "response", "is_error"?}``
* ``{"type": "uri", "modality", "uri"}`` or ``{"type": "blob", "modality", "mime_type"}``
  (inline media is named, never copied: base64 images do not belong in a trace or a log)
* ``{"type": "<block type>", ...}`` for a block the IR carries opaquely

An output message also has ``finish_reason``. Pure.
"""

from __future__ import annotations

import json
from typing import Any, assert_never

from recorder import ir

JsonObject = dict[str, Any]


def system_instructions(req: ir.Request) -> list[JsonObject]:
    return [{"type": "text", "content": p.text} for p in req.system]


def input_messages(req: ir.Request, skip: int = 0) -> list[JsonObject]:
    """The request's messages from ``skip`` on."""
    return [message(m.role, m.content) for m in req.messages[skip:]]


def output_messages(resp: ir.Response) -> list[JsonObject]:
    out = message("assistant", resp.content)
    out["finish_reason"] = resp.stop_reason or ""
    return [out]


def message(role: str, parts: list[ir.Part]) -> JsonObject:
    return {"role": role, "parts": [part(p) for p in parts]}


def part(p: ir.Part) -> JsonObject:
    match p:
        case ir.TextPart(text=text):
            return {"type": "text", "content": text}
        case ir.ThinkingPart(text=text):
            return {"type": "reasoning", "content": text}
        case ir.RedactedThinkingPart():
            return {"type": "reasoning", "content": "", "redacted": True}
        case ir.ToolCallPart(id=id_, name=name, arguments=args):
            return {"type": "tool_call", "id": id_, "name": name, "arguments": arguments(args)}
        case ir.ToolResultPart(tool_call_id=id_, content=content, is_error=is_error):
            out: JsonObject = {"type": "tool_call_response", "id": id_}
            texts = [c.text for c in content if isinstance(c, ir.TextPart)]
            out["response"] = "\n".join(texts)
            if len(texts) < len(content):
                out["media"] = [part(c) for c in content if not isinstance(c, ir.TextPart)]
            if is_error:
                out["is_error"] = True
            return out
        case ir.ImagePart(url=url, media_type=mt) | ir.DocumentPart(url=url, media_type=mt):
            modality = "image" if isinstance(p, ir.ImagePart) else "document"
            if url is not None:
                return {"type": "uri", "modality": modality, "uri": url}
            return {"type": "blob", "modality": modality, "mime_type": mt}
        case ir.OpaquePart(type=kind, data=data):
            return {**data, "type": kind}
        case _:
            assert_never(p)


def arguments(text: str) -> Any:
    """Tool arguments as JSON when they parse (they usually do), else the text as sent."""
    if not text:
        return {}
    try:
        return json.loads(text)
    except ValueError:
        return text
