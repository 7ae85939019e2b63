"""IR requests as OpenAI Chat Completions requests (an Anthropic client such as Claude Code in
front of an OpenAI-compatible upstream: vLLM, Ollama, llama.cpp, DeepSeek, OpenRouter).

Choices (why):

* User content that is all text is sent as one string joined with ``"\n\n"``: DeepSeek,
  llama.cpp and older Ollama accept only strings. Mixed content is a parts list.
* Tool results become ``role: "tool"`` messages first (OpenAI wants them right after the
  assistant's ``tool_calls``), then one user message with what a tool message cannot hold
  (images, PDFs: a Note each) followed by the sibling content. ``is_error`` has no field: the
  content is prefixed with ``"Error: "`` and a Note records it.
* Thinking goes back as ``reasoning_content`` (DeepSeek requires it after tool calls), never
  fabricated; signatures and redacted thinking are dropped with a Note.
* Blocks only Anthropic understands (server_tool_use, web_search_tool_result ...) are rendered as
  ``[<type>: <compact json>]`` text so the model still sees them; server tools are dropped.
* ``max_tokens`` stays ``max_tokens`` (every local backend accepts it; ``max_completion_tokens``
  is unknown to several). ``thinking.budget_tokens`` -> ``reasoning_effort`` by
  ``_BUDGET_TO_EFFORT``. A URL document has no Chat Completions form: UnsupportedContentError,
  rather than silently turning it into a link. ``stream`` always asks for
  ``stream_options.include_usage`` so that usage can be reported to the client.
"""

from __future__ import annotations

from typing import Any, Final, assert_never

from recorder import ir
from recorder.codecs.openai_common import compact
from recorder.context import Context
from recorder.errors import UnsupportedContentError

# thinking.budget_tokens -> reasoning_effort: (upper bound inclusive, effort), first match wins.
_BUDGET_TO_EFFORT: Final[tuple[tuple[int, str], ...]] = ((4096, "low"), (16384, "medium"))
_DEFAULT_PARAMETERS: Final[dict[str, Any]] = {"type": "object", "properties": {}}


def request_from_ir(req: ir.Request, ctx: Context) -> dict[str, Any]:
    messages: list[dict[str, Any]] = []
    if req.system:
        messages.append(
            {"role": "system", "content": _joined_text(req.system, ctx, "system", "\n\n")}
        )
    for i, msg in enumerate(req.messages):
        path = f"messages[{i}]"
        for key in msg.extra:
            ctx.note(f"{path}.{key}", "no OpenAI Chat Completions equivalent; dropped")
        match msg.role:
            case "system":
                text = _joined_text(_only_text(msg.content, path), ctx, path, "\n\n")
                messages.append({"role": "system", "content": text})
            case "user":
                messages += _user_from_ir(msg.content, ctx, path)
            case "assistant":
                messages.append(_assistant_from_ir(msg.content, ctx, path))
            case _:
                assert_never(msg.role)
    out: dict[str, Any] = {"model": req.model, "messages": messages}
    tools = _tools_from_ir(req.tools, ctx)
    if tools:
        out["tools"] = tools
        if req.parallel_tool_calls is not None:
            out["parallel_tool_calls"] = req.parallel_tool_calls
    if req.tool_choice is not None:
        if tools:
            out["tool_choice"] = _tool_choice_from_ir(req.tool_choice)
        else:
            ctx.note("tool_choice", "no tools left to choose from; dropped")
    if req.max_tokens is not None:
        out["max_tokens"] = req.max_tokens
    if req.temperature is not None:
        out["temperature"] = req.temperature
    if req.top_p is not None:
        out["top_p"] = req.top_p
    if req.top_k is not None:
        ctx.note("top_k", "OpenAI Chat Completions has no top_k; dropped")
    if req.stop_sequences:
        out["stop"] = list(req.stop_sequences)
    if req.user is not None:
        out["user"] = req.user
    effort = _effort_from_ir(req.thinking, ctx)
    if effort is not None:
        out["reasoning_effort"] = effort
    if req.output_format is not None:
        out["response_format"] = _format_from_ir(req.output_format)
    if req.stream:
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}
    for key in req.extra:
        ctx.note(key, "no OpenAI Chat Completions equivalent; dropped")
    return out


def _only_text(parts: list[ir.Part], path: str) -> list[ir.TextPart]:
    for j, p in enumerate(parts):
        if not isinstance(p, ir.TextPart):
            raise UnsupportedContentError(
                f"{path}.content[{j}]: a system message can only hold text, not {type(p).__name__}"
            )
    return [p for p in parts if isinstance(p, ir.TextPart)]


def _joined_text(parts: list[ir.TextPart], ctx: Context, path: str, sep: str) -> str:
    for j, p in enumerate(parts):
        _note_text_extras(p, ctx, f"{path}[{j}]")
    return sep.join(p.text for p in parts)


def _note_text_extras(p: ir.TextPart, ctx: Context, path: str) -> None:
    if p.cache_control is not None:
        ctx.note(f"{path}.cache_control", "OpenAI has no cache_control; dropped")
    for key in p.extra:
        ctx.note(f"{path}.{key}", "no OpenAI equivalent; dropped")


def _render_opaque(p: ir.OpaquePart, ctx: Context, path: str) -> dict[str, Any]:
    """A block only the other dialect understands, kept visible to the model as text."""
    if p.dialect == "openai":
        return p.data
    ctx.note(path, f"{p.dialect} {p.type} block has no OpenAI form; sent as text")
    return {"type": "text", "text": f"[{p.type}: {compact(p.data)}]"}


def _user_from_ir(parts: list[ir.Part], ctx: Context, path: str) -> list[dict[str, Any]]:
    """Tool results first (OpenAI wants them right after the assistant's tool_calls), then one
    user message with what a tool message cannot hold followed by the sibling content."""
    tool_msgs: list[dict[str, Any]] = []
    follow_up: list[dict[str, Any]] = []
    siblings: list[dict[str, Any]] = []
    for j, p in enumerate(parts):
        ppath = f"{path}.content[{j}]"
        if isinstance(p, ir.ToolResultPart):
            tool_msgs.append(_tool_result_from_ir(p, ctx, ppath, follow_up))
        else:
            siblings.append(_user_part_from_ir(p, ctx, ppath))
    out = tool_msgs
    rest = follow_up + siblings
    if rest:
        out.append({"role": "user", "content": _user_content_value(rest)})
    return out


def _user_content_value(parts: list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    if all(p.get("type") == "text" for p in parts):
        return "\n\n".join(p["text"] for p in parts)
    return parts


def _tool_result_from_ir(
    p: ir.ToolResultPart, ctx: Context, path: str, follow_up: list[dict[str, Any]]
) -> dict[str, Any]:
    texts: list[str] = []
    for k, c in enumerate(p.content):
        cpath = f"{path}.content[{k}]"
        if isinstance(c, ir.TextPart):
            _note_text_extras(c, ctx, cpath)
            texts.append(c.text)
        else:
            ctx.note(cpath, "a tool message holds only text; sent in a user message after it")
            follow_up.append(_user_part_from_ir(c, ctx, cpath))
    content = "\n\n".join(texts)
    if p.is_error:
        ctx.note(f"{path}.is_error", "OpenAI has no is_error; content prefixed with 'Error: '")
        content = f"Error: {content}"
    if p.cache_control is not None:
        ctx.note(f"{path}.cache_control", "OpenAI has no cache_control; dropped")
    for key in p.extra:
        ctx.note(f"{path}.{key}", "no OpenAI equivalent; dropped")
    return {"role": "tool", "tool_call_id": p.tool_call_id, "content": content}


def _user_part_from_ir(p: ir.Part, ctx: Context, path: str) -> dict[str, Any]:
    match p:
        case ir.TextPart():
            _note_text_extras(p, ctx, path)
            return {"type": "text", "text": p.text}
        case ir.ImagePart():
            if p.cache_control is not None:
                ctx.note(f"{path}.cache_control", "OpenAI has no cache_control; dropped")
            return {"type": "image_url", "image_url": {"url": _image_url(p, path)}}
        case ir.DocumentPart():
            return _document_from_ir(p, ctx, path)
        case ir.OpaquePart():
            return _render_opaque(p, ctx, path)
        case ir.ToolCallPart() | ir.ThinkingPart() | ir.RedactedThinkingPart():
            raise UnsupportedContentError(
                f"{path}: a user message cannot carry {type(p).__name__} in OpenAI Chat Completions"
            )
        case ir.ToolResultPart():  # handled by the caller; nested results are malformed
            raise UnsupportedContentError(f"{path}: a tool result cannot nest a tool result")
        case _:
            assert_never(p)


def _image_url(p: ir.ImagePart, path: str) -> str:
    if p.data is not None:
        return f"data:{p.media_type or 'image/png'};base64,{p.data}"
    if p.url is not None:
        return p.url
    raise UnsupportedContentError(f"{path}: image has neither data nor url")


def _document_from_ir(p: ir.DocumentPart, ctx: Context, path: str) -> dict[str, Any]:
    if p.cache_control is not None:
        ctx.note(f"{path}.cache_control", "OpenAI has no cache_control; dropped")
    if p.data is not None and (p.media_type or "").startswith("text/"):
        ctx.note(path, "text document sent as a text part")
        title = f"{p.filename}\n\n" if p.filename else ""
        return {"type": "text", "text": title + p.data}
    if p.data is not None:
        file: dict[str, Any] = {
            "file_data": f"data:{p.media_type or 'application/pdf'};base64,{p.data}"
        }
        file["filename"] = p.filename or "document.pdf"
        return {"type": "file", "file": file}
    raise UnsupportedContentError(
        f"{path}: a document given by URL has no OpenAI Chat Completions form; send it inline"
    )


def _assistant_from_ir(parts: list[ir.Part], ctx: Context, path: str) -> dict[str, Any]:
    texts: list[str] = []
    thinking: list[str] = []
    calls: list[dict[str, Any]] = []
    for j, p in enumerate(parts):
        ppath = f"{path}.content[{j}]"
        match p:
            case ir.TextPart():
                _note_text_extras(p, ctx, ppath)
                texts.append(p.text)
            case ir.ThinkingPart():
                if p.signature:
                    ctx.note(f"{ppath}.signature", "thinking signature has no OpenAI form; dropped")
                if p.text:
                    thinking.append(p.text)
            case ir.RedactedThinkingPart():
                ctx.note(ppath, "redacted thinking is encrypted for Anthropic only; dropped")
            case ir.ToolCallPart():
                if p.cache_control is not None:
                    ctx.note(f"{ppath}.cache_control", "OpenAI has no cache_control; dropped")
                fn = {"name": p.name, "arguments": p.arguments or "{}"}
                calls.append({"id": p.id, "type": "function", "function": fn})
            case ir.OpaquePart():
                rendered = _render_opaque(p, ctx, ppath)
                text = rendered.get("text", compact(rendered))
                texts.append(f"\n{text}" if texts else text)  # not glued to the answer
            case ir.ImagePart() | ir.DocumentPart() | ir.ToolResultPart():
                raise UnsupportedContentError(
                    f"{ppath}: an assistant message cannot carry {type(p).__name__} "
                    "in OpenAI Chat Completions"
                )
            case _:
                assert_never(p)
    out: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts else None}
    if not calls and out["content"] is None:
        out["content"] = ""
    if calls:
        out["tool_calls"] = calls
    if thinking:
        # DeepSeek thinking mode requires the reasoning echoed back after tool calls.
        out["reasoning_content"] = "\n\n".join(thinking)
    return out


def _tools_from_ir(tools: list[ir.Tool], ctx: Context) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i, t in enumerate(tools):
        path = f"tools[{i}]"
        if "type" in t.extra:
            ctx.note(
                path, f"server tool {t.extra['type']!r} ({t.name}) has no OpenAI form; dropped"
            )
            continue
        if "openai_tool" in t.extra:
            out.append(t.extra["openai_tool"])
            continue
        for key in t.extra:
            ctx.note(f"{path}.{key}", "no OpenAI equivalent; dropped")
        if t.cache_control is not None:
            ctx.note(f"{path}.cache_control", "OpenAI has no cache_control; dropped")
        fn: dict[str, Any] = {"name": t.name}
        if t.description is not None:
            fn["description"] = t.description
        fn["parameters"] = t.parameters if t.parameters is not None else dict(_DEFAULT_PARAMETERS)
        if t.strict is not None:
            fn["strict"] = t.strict
        out.append({"type": "function", "function": fn})
    return out


def _tool_choice_from_ir(choice: ir.ToolChoice) -> str | dict[str, Any]:
    match choice.mode:
        case "auto":
            return "auto"
        case "none":
            return "none"
        case "any":
            return "required"
        case "tool":
            return {"type": "function", "function": {"name": choice.name or ""}}
        case _:
            assert_never(choice.mode)


def _format_from_ir(fmt: ir.OutputFormat) -> dict[str, Any]:
    match fmt.type:
        case "json_object":
            return {"type": "json_object"}
        case "json_schema":
            spec: dict[str, Any] = {"name": fmt.name or "response"}
            if fmt.description is not None:
                spec["description"] = fmt.description
            spec["schema"] = fmt.schema if fmt.schema is not None else {"type": "object"}
            if fmt.strict is not None:
                spec["strict"] = fmt.strict
            return {"type": "json_schema", "json_schema": spec}
        case _:
            assert_never(fmt.type)


def _effort_from_ir(thinking: ir.ThinkingConfig | None, ctx: Context) -> str | None:
    if thinking is None or thinking.type == "disabled":
        return None
    if thinking.effort is not None:
        return thinking.effort
    if thinking.type == "enabled" and thinking.budget_tokens is not None:
        budget = thinking.budget_tokens
        effort = next((e for bound, e in _BUDGET_TO_EFFORT if budget <= bound), "high")
        ctx.note("thinking.budget_tokens", f"budget {budget} sent as reasoning_effort {effort!r}")
        return effort
    ctx.note("thinking", f"thinking {thinking.type!r} without effort or budget; not sent")
    return None
