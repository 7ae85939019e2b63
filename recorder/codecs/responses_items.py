"""Responses API items and the response object, as the codec writes them for a client: shared by
``response_from_ir`` and the stream encoder, which must write the same items (the object in a
``response.completed`` event is the one a JSON answer would have been).
"""

from __future__ import annotations

import json
from typing import Any

from recorder import ir
from recorder.codecs.responses_request import CUSTOM_INPUT
from recorder.context import Context

JsonObject = dict[str, Any]


def response_object(
    resp_id: str,
    model: str,
    ctx: Context,
    *,
    status: str,
    output: list[JsonObject],
    usage: JsonObject | None,
    incomplete: JsonObject | None = None,
    error: JsonObject | None = None,
) -> JsonObject:
    """A ``response`` object as the API writes it (also inside stream lifecycle events)."""
    return {
        "id": resp_id,
        "object": "response",
        "created_at": int(ctx.created),
        "status": status,
        "error": error,
        "incomplete_details": incomplete,
        "instructions": None,
        "model": model,
        "output": output,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": usage,
        "metadata": {},
    }


def output_text(text: str) -> JsonObject:
    return {"type": "output_text", "annotations": [], "logprobs": [], "text": text}


def message_item(item_id: str, content: list[JsonObject], status: str) -> JsonObject:
    return {
        "id": item_id,
        "type": "message",
        "status": status,
        "content": content,
        "role": "assistant",
    }


def reasoning_item(item_id: str, text: str, encrypted: str | None) -> JsonObject:
    item: JsonObject = {"id": item_id, "type": "reasoning", "summary": []}
    if text:
        item["summary"] = [{"type": "summary_text", "text": text}]
    if encrypted is not None:
        item["encrypted_content"] = encrypted
    return item


def call_item(p: ir.ToolCallPart, ctx: Context) -> JsonObject:
    if p.kind == "custom" or p.name in ctx.custom_tools:
        raw = p.arguments if p.kind == "custom" else custom_input(p.arguments, ctx, p.name)
        return {
            "id": ctx.ids.make("ctc_"),
            "type": "custom_tool_call",
            "status": "completed",
            "call_id": p.id,
            "name": p.name,
            "input": raw,
        }
    return {
        "id": ctx.ids.make("fc_"),
        "type": "function_call",
        "status": "completed",
        "arguments": p.arguments or "{}",
        "call_id": p.id,
        "name": p.name,
    }


def custom_input(arguments: str, ctx: Context, name: str) -> str:
    """The raw input of a custom tool call that went upstream as ``{"input": <text>}``.

    Arguments that are not that object (a model that ignored the schema) are given to the client
    as they are, with a Note: the tool then sees what the model wrote."""
    try:
        value = json.loads(arguments)
    except ValueError:
        value = None
    if isinstance(value, dict) and isinstance(value.get(CUSTOM_INPUT), str):
        return str(value[CUSTOM_INPUT])
    ctx.note(f"tool call {name!r}", 'custom tool arguments were not {"input": text}; sent as is')
    return arguments
