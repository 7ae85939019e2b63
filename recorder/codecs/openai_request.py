"""OpenAI Chat Completions requests to the IR (the reverse is :mod:`openai_request_from_ir`).

Choices (why): system and developer messages stay IR system messages *at their position* (the
Anthropic encoder hoists leading ones); consecutive ``tool`` messages become one IR user message
of tool results (the shape Anthropic requires); legacy ``function_call`` / ``function`` messages
get position-derived ids (``request_to_ir`` has no id factory); ``reasoning_effort: "none"``
is thinking disabled, any other effort is thinking enabled with that effort; image ``detail``
rides in ``ImagePart.extra``; ``input_audio`` and ``file_id`` files become OpaqueParts.
"""

from __future__ import annotations

from typing import Any, Final, assert_never

from recorder import ir
from recorder.wire import openai as w

# Request fields the IR models; every other top-level field rides in Request.extra verbatim.
_IR_FIELDS: Final = frozenset(
    {
        "model",
        "messages",
        "tools",
        "tool_choice",
        "functions",
        "function_call",
        "parallel_tool_calls",
        "max_tokens",
        "max_completion_tokens",
        "temperature",
        "top_p",
        "top_k",
        "stop",
        "stream",
        "stream_options",
        "reasoning_effort",
        "user",
        "response_format",
    }
)

_TOOL_CHOICE_TO_IR: Final[dict[str, ir.ToolChoice]] = {
    "auto": ir.ToolChoice("auto"),
    "none": ir.ToolChoice("none"),
    "required": ir.ToolChoice("any"),
}


# =========================================================================== to IR


def request_to_ir(body: Any) -> ir.Request:
    req = w.validate(w.ChatCompletionRequest, body, "request")
    raw: dict[str, Any] = body
    extra = {k: v for k, v in raw.items() if k not in _IR_FIELDS}
    tools = [_tool_to_ir(t) for t in req.tools or []]
    tools += [_function_to_ir(f) for f in req.functions or []]
    tool_choice = _tool_choice_to_ir(req.tool_choice, req.function_call, extra)
    include_usage = None
    if req.stream_options is not None:
        include_usage = req.stream_options.include_usage
        rest = {k: v for k, v in raw["stream_options"].items() if k != "include_usage"}
        if rest:
            extra["stream_options"] = rest
    thinking = None
    if req.reasoning_effort is not None:
        thinking = (
            ir.ThinkingConfig(type="disabled")
            if req.reasoning_effort == "none"
            else ir.ThinkingConfig(type="enabled", effort=req.reasoning_effort)
        )
    stop = [req.stop] if isinstance(req.stop, str) else list(req.stop or [])
    output_format = _format_to_ir(raw.get("response_format"), extra)
    return ir.Request(
        model=req.model,
        messages=_messages_to_ir(req.messages),
        tools=tools,
        tool_choice=tool_choice,
        parallel_tool_calls=req.parallel_tool_calls,
        max_tokens=(
            req.max_completion_tokens if req.max_completion_tokens is not None else req.max_tokens
        ),
        temperature=req.temperature,
        top_p=req.top_p,
        top_k=req.top_k,
        stop_sequences=stop,
        stream=bool(req.stream),
        include_usage=include_usage,
        thinking=thinking,
        user=req.user,
        extra=extra,
        output_format=output_format,
    )


def _format_to_ir(fmt: Any, extra: dict[str, Any]) -> ir.OutputFormat | None:
    """``response_format``; a shape the IR does not know rides in extra."""
    if fmt is None:
        return None
    if isinstance(fmt, dict) and fmt.get("type") == "text" and len(fmt) == 1:
        return None
    if isinstance(fmt, dict) and fmt.get("type") == "json_object" and len(fmt) == 1:
        return ir.OutputFormat("json_object")
    spec = fmt.get("json_schema") if isinstance(fmt, dict) else None
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema" and isinstance(spec, dict):
        name, desc, strict = spec.get("name"), spec.get("description"), spec.get("strict")
        schema = spec.get("schema")
        return ir.OutputFormat(
            "json_schema",
            schema if isinstance(schema, dict) else None,
            name if isinstance(name, str) else None,
            strict if isinstance(strict, bool) else None,
            desc if isinstance(desc, str) else None,
        )
    extra["response_format"] = fmt
    return None


def _tool_to_ir(t: w.ToolDef) -> ir.Tool:
    if t.type != "function" or t.function is None:
        # e.g. {"type":"custom","custom":{...}}: carried whole; a cross-dialect target drops it.
        raw = t.model_dump(exclude_none=True)
        spec = raw.get(t.type)
        name = spec.get("name") if isinstance(spec, dict) else None
        return ir.Tool(name=str(name or t.type), extra={"openai_tool": raw})
    return _function_to_ir(t.function, t.model_extra)


def _function_to_ir(f: w.FunctionDef, tool_extra: dict[str, Any] | None = None) -> ir.Tool:
    extra = dict(f.model_extra or {})
    extra.update(tool_extra or {})
    return ir.Tool(
        name=f.name,
        description=f.description,
        parameters=f.parameters,
        strict=f.strict,
        extra=extra,
    )


def _tool_choice_to_ir(
    choice: str | w.NamedToolChoice | dict[str, Any] | None,
    legacy: str | w.NamedFunction | None,
    extra: dict[str, Any],
) -> ir.ToolChoice | None:
    if choice is None and legacy is not None:
        if isinstance(legacy, w.NamedFunction):
            return ir.ToolChoice("tool", legacy.name)
        choice = legacy
    if choice is None:
        return None
    if isinstance(choice, w.NamedToolChoice):
        return ir.ToolChoice("tool", choice.function.name)
    if isinstance(choice, str) and choice in _TOOL_CHOICE_TO_IR:
        return _TOOL_CHOICE_TO_IR[choice]
    extra["tool_choice"] = choice  # e.g. {"type":"allowed_tools",...}: carried, not modelled
    return None


def _messages_to_ir(messages: list[w.Message]) -> list[ir.Message]:
    out: list[ir.Message] = []
    legacy_call_id: str | None = None
    results: ir.Message | None = None  # the IR message collecting consecutive tool messages
    for i, m in enumerate(messages):
        result: ir.ToolResultPart | None = None
        match m:
            case w.SystemMessage() | w.DeveloperMessage():
                out.append(ir.Message("system", _text_parts(m.content), _message_extra(m)))
            case w.UserMessage():
                out.append(ir.Message("user", _user_content(m.content), _message_extra(m)))
            case w.AssistantMessage():
                msg, legacy_id = _assistant_to_ir(m, i)
                legacy_call_id = legacy_id or legacy_call_id
                out.append(msg)
            case w.ToolMessage():
                result = ir.ToolResultPart(m.tool_call_id, _tool_result_content(m.content))
            case w.FunctionMessage():
                content: list[ir.TextPart | ir.ImagePart | ir.DocumentPart] = (
                    [ir.TextPart(m.content)] if m.content else []
                )
                result = ir.ToolResultPart(legacy_call_id or f"call_legacy_{i}", content)
                legacy_call_id = None
            case _:
                assert_never(m)
        if result is None:
            results = None
        elif results is None:
            results = ir.Message("user", [result])
            out.append(results)
        else:
            results.content.append(result)
    return out


def _message_extra(m: w.SystemMessage | w.DeveloperMessage | w.UserMessage) -> dict[str, Any]:
    extra = dict(m.model_extra or {})
    if m.name is not None:
        extra["name"] = m.name
    return extra


def _text_parts(content: str | list[w.TextContent]) -> list[ir.Part]:
    if isinstance(content, str):
        return [ir.TextPart(content)]
    return [ir.TextPart(p.text, extra=dict(p.model_extra or {})) for p in content]


def _tool_result_content(
    content: str | list[w.TextContent],
) -> list[ir.TextPart | ir.ImagePart | ir.DocumentPart]:
    if isinstance(content, str):
        return [ir.TextPart(content)] if content else []
    return [ir.TextPart(p.text) for p in content]


def _user_content(content: str | list[w.UserContentPart]) -> list[ir.Part]:
    if isinstance(content, str):
        return [ir.TextPart(content)]
    return [_user_part(p) for p in content]


def _user_part(p: w.UserContentPart) -> ir.Part:
    match p:
        case w.TextContent():
            return ir.TextPart(p.text, extra=dict(p.model_extra or {}))
        case w.ImageUrlContent():
            image = (
                p.image_url if isinstance(p.image_url, w.ImageUrl) else w.ImageUrl(url=p.image_url)
            )
            extra = {"detail": image.detail} if image.detail is not None else {}
            media_type, data = _parse_data_url(image.url)
            if data is not None:
                return ir.ImagePart(media_type=media_type, data=data, extra=extra)
            return ir.ImagePart(url=image.url, extra=extra)
        case w.FileContent():
            if p.file.file_data is None:  # a file_id: only OpenAI can resolve it
                return ir.OpaquePart("openai", "file", p.model_dump(exclude_none=True))
            media_type, data = _parse_data_url(p.file.file_data)
            if data is None:  # bare base64 without a data: prefix
                media_type, data = "application/pdf", p.file.file_data
            return ir.DocumentPart(media_type=media_type, data=data, filename=p.file.filename)
        case w.InputAudioContent() | w.OtherContent():
            return ir.OpaquePart("openai", p.type, p.model_dump(exclude_none=True))
        case _:
            assert_never(p)


def _parse_data_url(url: str) -> tuple[str | None, str | None]:
    """``data:<mt>;base64,<data>`` as ``(mt, data)``; ``(None, None)`` for anything else."""
    if not url.startswith("data:"):
        return None, None
    head, sep, data = url[5:].partition(",")
    if not sep or not head.endswith(";base64"):
        return None, None
    return head.removesuffix(";base64") or None, data


def _assistant_to_ir(m: w.AssistantMessage, i: int) -> tuple[ir.Message, str | None]:
    parts: list[ir.Part] = []
    reasoning = m.reasoning_content if m.reasoning_content is not None else m.reasoning
    if reasoning:
        parts.append(ir.ThinkingPart(reasoning))
    if isinstance(m.content, str):
        if m.content:
            parts.append(ir.TextPart(m.content))
    elif m.content is not None:
        for p in m.content:
            text = p.text if isinstance(p, w.TextContent) else p.refusal
            parts.append(ir.TextPart(text))
    if m.refusal:
        parts.append(ir.TextPart(m.refusal))
    for tc in m.tool_calls or []:
        if tc.function is None:  # a custom tool call: only OpenAI knows what to do with it
            parts.append(ir.OpaquePart("openai", tc.type, tc.model_dump(exclude_none=True)))
            continue
        call_id = tc.id or f"call_missing_{i}_{len(parts)}"
        parts.append(ir.ToolCallPart(call_id, tc.function.name, tc.function.arguments))
    legacy_id = None
    if m.function_call is not None:
        legacy_id = f"call_legacy_{i}"
        parts.append(ir.ToolCallPart(legacy_id, m.function_call.name, m.function_call.arguments))
    extra = dict(m.model_extra or {})
    if m.name is not None:
        extra["name"] = m.name
    return ir.Message("assistant", parts, extra), legacy_id
