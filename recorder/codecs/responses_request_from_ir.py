"""IR requests as OpenAI Responses API requests (Claude Code or a Chat Completions client in
front of a Responses upstream: OpenAI's reasoning models, Azure, OpenRouter ...).

Choices (why):

* The system prompt becomes ``instructions``; a system message later in the conversation stays a
  ``system`` message at its place.
* Every request is sent with ``store: false``: the client's dialect is stateless and sends the
  whole conversation each time, so nothing needs storing upstream. With thinking on, the request
  asks for ``reasoning.summary: "auto"`` (the summaries become thinking text) and for
  ``reasoning.encrypted_content`` (it rides back in the thinking signature, so the reasoning of a
  tool loop reaches the model again).
* ``thinking.budget_tokens`` -> ``reasoning.effort`` by the Chat codec's table; thinking disabled
  sends no ``reasoning`` (a non-reasoning model refuses the field).
* Tool results are ``function_call_output`` items right after the calls (their content a
  string when it is all text, else a list of input parts); ``is_error`` has no field: the output
  is prefixed with ``"Error: "`` and a Note records it.
* History the upstream cannot read is dropped with a Note: thinking without a Responses
  signature (Anthropic signatures, unsigned reasoning), redacted thinking. Content only another
  dialect understands (Anthropic server-tool blocks) is rendered as ``[<type>: <json>]`` text.
* ``top_k`` and ``stop_sequences`` have no Responses form: dropped with a Note.
"""

from __future__ import annotations

from typing import Any, Final, assert_never

from recorder import ir
from recorder.codecs.openai_common import compact
from recorder.codecs.responses_common import responses_reasoning
from recorder.context import Context
from recorder.errors import UnsupportedContentError

# thinking.budget_tokens -> reasoning.effort: (upper bound inclusive, effort), first match wins.
_BUDGET_TO_EFFORT: Final[tuple[tuple[int, str], ...]] = ((4096, "low"), (16384, "medium"))
_DEFAULT_PARAMETERS: Final[dict[str, Any]] = {"type": "object", "properties": {}}

JsonObject = dict[str, Any]


def request_from_ir(req: ir.Request, ctx: Context) -> JsonObject:
    out: JsonObject = {"model": req.model}
    if req.system:
        texts = []
        for i, p in enumerate(req.system):
            _note_text_extras(p, ctx, f"system[{i}]")
            texts.append(p.text)
        out["instructions"] = "\n\n".join(texts)
    items: list[JsonObject] = []
    for i, msg in enumerate(req.messages):
        path = f"messages[{i}]"
        for key in msg.extra:
            ctx.note(f"{path}.{key}", "no OpenAI Responses equivalent; dropped")
        match msg.role:
            case "system":
                items.append(_system_item(msg.content, ctx, path))
            case "user":
                items += _user_items(msg.content, ctx, path)
            case "assistant":
                items += _assistant_items(msg.content, ctx, path)
            case _:
                assert_never(msg.role)
    out["input"] = items
    tools = _tools_from_ir(req.tools, ctx)
    if tools:
        out["tools"] = tools
        if req.parallel_tool_calls is not None:
            out["parallel_tool_calls"] = req.parallel_tool_calls
    if req.tool_choice is not None:
        if tools:
            out["tool_choice"] = _tool_choice_from_ir(req.tool_choice, req.tools)
        else:
            ctx.note("tool_choice", "no tools left to choose from; dropped")
    if req.max_tokens is not None:
        out["max_output_tokens"] = req.max_tokens
    if req.temperature is not None:
        out["temperature"] = req.temperature
    if req.top_p is not None:
        out["top_p"] = req.top_p
    if req.top_k is not None:
        ctx.note("top_k", "the OpenAI Responses API has no top_k; dropped")
    if req.stop_sequences:
        ctx.note("stop_sequences", "the OpenAI Responses API has no stop sequences; dropped")
    if req.user is not None:
        out["user"] = req.user
    _reasoning_from_ir(req.thinking, out, ctx)
    if req.output_format is not None:
        out["text"] = {"format": _format_from_ir(req.output_format)}
    out["store"] = False
    if req.stream:
        out["stream"] = True
    for key in req.extra:
        ctx.note(key, "no OpenAI Responses equivalent; dropped")
    return out


def _note_text_extras(p: ir.TextPart, ctx: Context, path: str) -> None:
    if p.cache_control is not None:
        ctx.note(f"{path}.cache_control", "the OpenAI Responses API has no cache_control; dropped")
    for key in p.extra:
        ctx.note(f"{path}.{key}", "no OpenAI Responses equivalent; dropped")


def _system_item(parts: list[ir.Part], ctx: Context, path: str) -> JsonObject:
    texts = []
    for j, p in enumerate(parts):
        if not isinstance(p, ir.TextPart):
            raise UnsupportedContentError(
                f"{path}.content[{j}]: a system message can only hold text, not {type(p).__name__}"
            )
        _note_text_extras(p, ctx, f"{path}.content[{j}]")
        texts.append(p.text)
    return {"role": "system", "content": "\n\n".join(texts)}


# --------------------------------------------------------------------------- user side


def _user_items(parts: list[ir.Part], ctx: Context, path: str) -> list[JsonObject]:
    """Tool outputs first (right after the calls they answer), then one user message."""
    outputs: list[JsonObject] = []
    content: list[JsonObject] = []
    for j, p in enumerate(parts):
        ppath = f"{path}.content[{j}]"
        if isinstance(p, ir.ToolResultPart):
            outputs.append(_tool_output(p, ctx, ppath))
        elif isinstance(p, ir.OpaquePart) and p.dialect == "responses" and "call_id" in p.data:
            outputs.append(dict(p.data))  # a hosted tool's output item, back where it was
        else:
            content.append(_input_part(p, ctx, ppath))
    if content:
        outputs.append({"role": "user", "content": content})
    return outputs


def _tool_output(p: ir.ToolResultPart, ctx: Context, path: str) -> JsonObject:
    parts = [_input_part(c, ctx, f"{path}.content[{k}]") for k, c in enumerate(p.content)]
    output: str | list[JsonObject]
    if all(c["type"] == "input_text" for c in parts):
        output = "\n\n".join(c["text"] for c in parts)
        if p.is_error:
            output = f"Error: {output}"
    else:
        output = parts
        if p.is_error:
            output.insert(0, {"type": "input_text", "text": "Error:"})
    if p.is_error:
        ctx.note(f"{path}.is_error", "the Responses API has no is_error; output prefixed 'Error: '")
    if p.cache_control is not None:
        ctx.note(f"{path}.cache_control", "the OpenAI Responses API has no cache_control; dropped")
    for key in p.extra:
        ctx.note(f"{path}.{key}", "no OpenAI Responses equivalent; dropped")
    return {"type": "function_call_output", "call_id": p.tool_call_id, "output": output}


def _input_part(p: ir.Part, ctx: Context, path: str) -> JsonObject:
    match p:
        case ir.TextPart():
            _note_text_extras(p, ctx, path)
            return {"type": "input_text", "text": p.text}
        case ir.ImagePart():
            if p.cache_control is not None:
                ctx.note(f"{path}.cache_control", "no OpenAI Responses equivalent; dropped")
            out: JsonObject = {"type": "input_image", "image_url": _image_url(p, path)}
            out["detail"] = p.extra.get("detail", "auto")
            return out
        case ir.DocumentPart():
            return _document(p, ctx, path)
        case ir.OpaquePart():
            if p.dialect == "responses":
                return dict(p.data)
            ctx.note(path, f"{p.dialect} {p.type} block has no OpenAI Responses form; sent as text")
            return {"type": "input_text", "text": f"[{p.type}: {compact(p.data)}]"}
        case ir.ToolCallPart() | ir.ThinkingPart() | ir.RedactedThinkingPart():
            raise UnsupportedContentError(
                f"{path}: a user message cannot carry {type(p).__name__} in the Responses API"
            )
        case ir.ToolResultPart():
            raise UnsupportedContentError(f"{path}: a tool result cannot nest a tool result")
        case _:
            assert_never(p)


def _image_url(p: ir.ImagePart, path: str) -> str:
    if p.data is not None:
        return f"data:{p.media_type or 'image/png'};base64,{p.data}"
    if p.url is not None:
        return p.url
    raise UnsupportedContentError(f"{path}: image has neither data nor url")


def _document(p: ir.DocumentPart, ctx: Context, path: str) -> JsonObject:
    if p.cache_control is not None:
        ctx.note(f"{path}.cache_control", "no OpenAI Responses equivalent; dropped")
    if p.data is not None and (p.media_type or "").startswith("text/"):
        ctx.note(path, "text document sent as an input_text part")
        title = f"{p.filename}\n\n" if p.filename else ""
        return {"type": "input_text", "text": title + p.data}
    out: JsonObject = {"type": "input_file"}
    if p.data is not None:
        out["file_data"] = f"data:{p.media_type or 'application/pdf'};base64,{p.data}"
        out["filename"] = p.filename or "document.pdf"
    elif p.url is not None:
        out["file_url"] = p.url
        if p.filename is not None:
            out["filename"] = p.filename
    else:
        raise UnsupportedContentError(f"{path}: document has neither data nor url")
    return out


# --------------------------------------------------------------------------- assistant side


def _assistant_items(parts: list[ir.Part], ctx: Context, path: str) -> list[JsonObject]:
    items: list[JsonObject] = []
    texts: list[str] = []  # text parts in a row become one assistant message

    def flush() -> None:
        if texts:
            items.append({"role": "assistant", "content": "".join(texts)})
            texts.clear()

    for j, p in enumerate(parts):
        ppath = f"{path}.content[{j}]"
        match p:
            case ir.TextPart():
                _note_text_extras(p, ctx, ppath)
                if p.text:
                    texts.append(p.text)
                continue
            case ir.ThinkingPart():
                item = _reasoning_item(p, ctx, ppath)
            case ir.RedactedThinkingPart():
                ctx.note(ppath, "redacted thinking is encrypted for Anthropic only; dropped")
                item = None
            case ir.ToolCallPart():
                if p.cache_control is not None:
                    ctx.note(f"{ppath}.cache_control", "no OpenAI Responses equivalent; dropped")
                if p.kind == "custom":
                    item = {
                        "type": "custom_tool_call",
                        "call_id": p.id,
                        "name": p.name,
                        "input": p.arguments,
                    }
                else:
                    item = {
                        "type": "function_call",
                        "call_id": p.id,
                        "name": p.name,
                        "arguments": p.arguments or "{}",
                    }
            case ir.OpaquePart():
                if p.dialect == "responses":
                    item = dict(p.data)
                else:
                    ctx.note(
                        ppath, f"{p.dialect} {p.type} block has no Responses form; sent as text"
                    )
                    texts.append(
                        f"\n[{p.type}: {compact(p.data)}]"
                        if texts
                        else f"[{p.type}: {compact(p.data)}]"
                    )
                    continue
            case ir.ImagePart() | ir.DocumentPart() | ir.ToolResultPart():
                raise UnsupportedContentError(
                    f"{ppath}: an assistant turn cannot carry {type(p).__name__} "
                    "in the Responses API"
                )
            case _:
                assert_never(p)
        flush()
        if item is not None:
            items.append(item)
    flush()
    return items


def _reasoning_item(p: ir.ThinkingPart, ctx: Context, path: str) -> JsonObject | None:
    known = responses_reasoning(p.signature)
    if known is None:
        why = "an Anthropic signature" if p.signature else "no encrypted content"
        ctx.note(path, f"thinking with {why} cannot be sent to a Responses upstream; dropped")
        return None
    item_id, encrypted = known
    item: JsonObject = {"type": "reasoning", "id": item_id, "summary": []}
    if p.text:
        item["summary"] = [{"type": "summary_text", "text": p.text}]
    if encrypted is not None:
        item["encrypted_content"] = encrypted
    return item


# --------------------------------------------------------------------------- tools, reasoning


def _tools_from_ir(tools: list[ir.Tool], ctx: Context) -> list[JsonObject]:
    out: list[JsonObject] = []
    for i, t in enumerate(tools):
        path = f"tools[{i}]"
        openai_tool = t.extra.get("openai_tool")
        if "type" in t.extra and t.kind != "hosted":
            ctx.note(
                path, f"server tool {t.extra['type']!r} ({t.name}) has no Responses form; dropped"
            )
            continue
        if isinstance(openai_tool, dict):
            custom = openai_tool.get("custom")
            if openai_tool.get("type") == "custom" and isinstance(custom, dict):
                out.append({"type": "custom", **custom})  # a Chat custom tool: the same concept
            else:
                ctx.note(
                    path, f"tool type {openai_tool.get('type')!r} has no Responses form; dropped"
                )
            continue
        match t.kind:
            case "hosted":
                out.append(dict(t.extra))
                continue
            case "custom":
                tool: JsonObject = {"type": "custom", "name": t.name}
                if t.description is not None:
                    tool["description"] = t.description
                if t.format is not None:
                    tool["format"] = t.format
            case "function":
                tool = {"type": "function", "name": t.name}
                if t.description is not None:
                    tool["description"] = t.description
                tool["parameters"] = (
                    t.parameters if t.parameters is not None else dict(_DEFAULT_PARAMETERS)
                )
                # OpenAI's default is strict: true, which rejects most hand-written schemas
                tool["strict"] = t.strict if t.strict is not None else False
            case _:
                assert_never(t.kind)
        for key in t.extra:
            ctx.note(f"{path}.{key}", "no OpenAI Responses equivalent; dropped")
        if t.cache_control is not None:
            ctx.note(
                f"{path}.cache_control", "the OpenAI Responses API has no cache_control; dropped"
            )
        out.append(tool)
    return out


def _tool_choice_from_ir(choice: ir.ToolChoice, tools: list[ir.Tool]) -> str | JsonObject:
    match choice.mode:
        case "auto":
            return "auto"
        case "none":
            return "none"
        case "any":
            return "required"
        case "tool":
            kind = next((t.kind for t in tools if t.name == choice.name), "function")
            return {"type": "custom" if kind == "custom" else "function", "name": choice.name or ""}
        case _:
            assert_never(choice.mode)


def _format_from_ir(fmt: ir.OutputFormat) -> JsonObject:
    match fmt.type:
        case "json_object":
            return {"type": "json_object"}
        case "json_schema":
            out: JsonObject = {"type": "json_schema", "name": fmt.name or "response"}
            if fmt.description is not None:
                out["description"] = fmt.description
            out["schema"] = fmt.schema if fmt.schema is not None else {"type": "object"}
            if fmt.strict is not None:
                out["strict"] = fmt.strict
            return out
        case _:
            assert_never(fmt.type)


def _reasoning_from_ir(thinking: ir.ThinkingConfig | None, out: JsonObject, ctx: Context) -> None:
    if thinking is None:
        return
    if thinking.type == "disabled" or thinking.effort == "none":
        ctx.note("thinking", "disabled thinking is the default; no reasoning sent")
        return
    effort = thinking.effort
    if effort is None and thinking.budget_tokens is not None:
        budget = thinking.budget_tokens
        effort = next((e for bound, e in _BUDGET_TO_EFFORT if budget <= bound), "high")
        ctx.note("thinking.budget_tokens", f"budget {budget} sent as reasoning.effort {effort!r}")
    reasoning: JsonObject = {"summary": "auto"}
    if effort is not None:
        reasoning = {"effort": effort, **reasoning}
    out["reasoning"] = reasoning
    out["include"] = ["reasoning.encrypted_content"]
