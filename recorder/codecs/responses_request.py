"""OpenAI Responses API requests to the IR (the reverse is :mod:`responses_request_from_ir`).

Choices (why):

* ``input`` as a string is one user message; ``instructions`` is the system prompt; ``system``
  and ``developer`` messages stay IR system messages at their position (as in the Chat codec;
  the Anthropic encoder hoists the leading ones, Codex sends its prompt as ``developer``).
* Items of one turn are regrouped into IR messages: consecutive assistant-side items (reasoning,
  assistant messages, function and custom tool calls) make one assistant message, consecutive
  tool outputs one user message of tool results. Item ids are bookkeeping of the Responses API
  and are not carried into another dialect.
* Reasoning items become thinking (summary texts, or reasoning texts, joined by a blank line);
  their ``encrypted_content`` travels in the signature (see :mod:`responses_common`).
* ``custom`` tools (Codex's ``apply_patch``) are IR tools of kind ``custom``; hosted tools
  (``web_search``, ``tool_search``, ``file_search``, ``mcp``, ``namespace`` ...) are of kind
  ``hosted`` with their definition in ``extra``. :func:`adapt_request` fits both to an upstream
  of another dialect.
* Items the IR does not model (``item_reference``, hosted tool calls, ``compaction`` ...) become
  OpaqueParts: the other dialects' encoders render or refuse them, never drop them silently.
"""

from __future__ import annotations

import json
from typing import Any, Final, assert_never

from pydantic import TypeAdapter, ValidationError

from recorder import ir
from recorder.codecs.responses_common import RESPONSES_TAG, reasoning_to_ir
from recorder.context import Context
from recorder.errors import UnsupportedContentError, WireFormatError
from recorder.wire import responses as w

# Request fields the IR models; every other top-level field rides in Request.extra verbatim.
_IR_FIELDS: Final = frozenset(
    {
        "model",
        "input",
        "instructions",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "max_output_tokens",
        "temperature",
        "top_p",
        "stream",
        "reasoning",
        "user",
    }
)

_TOOL_CHOICE_TO_IR: Final[dict[str, ir.ToolChoice]] = {
    "auto": ir.ToolChoice("auto"),
    "none": ir.ToolChoice("none"),
    "required": ir.ToolChoice("any"),
}

# Fields that need this gateway's recording (or OpenAI's storage) to mean anything.
_STATEFUL: Final[dict[str, str]] = {
    "previous_response_id": "continues a stored response",
    "conversation": "continues a stored conversation",
    "prompt": "names a stored prompt template",
}

# The argument schema a custom tool gets towards a dialect without custom tools.
CUSTOM_INPUT: Final = "input"


# =========================================================================== to IR


def request_to_ir(body: Any) -> ir.Request:
    req = w.validate(w.ResponsesRequest, body, "request")
    raw: dict[str, Any] = body
    extra = {k: v for k, v in raw.items() if k not in _IR_FIELDS}
    messages: list[ir.Message] = []
    tools = [_tool_to_ir(t) for t in req.tools or []]
    if isinstance(req.input, str):
        messages.append(ir.Message("user", [ir.TextPart(req.input)]))
    elif req.input is not None:
        messages = _items_to_ir(req.input, tools)
    thinking = None
    if req.reasoning is not None:
        rest = {k: v for k, v in raw["reasoning"].items() if k != "effort" and v is not None}
        if req.reasoning.effort == "none":
            thinking = ir.ThinkingConfig(type="disabled")
        elif req.reasoning.effort is not None:
            thinking = ir.ThinkingConfig(type="enabled", effort=req.reasoning.effort)
        if rest:
            extra["reasoning"] = rest
    output_format = None
    if req.text is not None and req.text.format is not None:
        output_format = _format_to_ir(req.text.format)
        if output_format is not None or req.text.format.get("type") == "text":
            rest = {k: v for k, v in raw["text"].items() if k != "format"}
            if rest:
                extra["text"] = rest
            else:
                del extra["text"]
    return ir.Request(
        model=req.model,
        messages=messages,
        system=[ir.TextPart(req.instructions)] if req.instructions else [],
        tools=tools,
        tool_choice=_tool_choice_to_ir(req.tool_choice, extra),
        parallel_tool_calls=req.parallel_tool_calls,
        max_tokens=req.max_output_tokens,
        temperature=req.temperature,
        top_p=req.top_p,
        stream=bool(req.stream),
        thinking=thinking,
        user=req.user,
        extra=extra,
        output_format=output_format,
    )


def _format_to_ir(fmt: dict[str, Any]) -> ir.OutputFormat | None:
    """``text.format``: the schema fields sit beside ``type`` (not nested as in Chat)."""
    kind = fmt.get("type")
    if kind == "json_object":
        return ir.OutputFormat("json_object")
    if kind != "json_schema":
        return None
    schema, name, strict, desc = (fmt.get(k) for k in ("schema", "name", "strict", "description"))
    return ir.OutputFormat(
        "json_schema",
        schema if isinstance(schema, dict) else None,
        name if isinstance(name, str) else None,
        strict if isinstance(strict, bool) else None,
        desc if isinstance(desc, str) else None,
    )


def _tool_to_ir(t: w.ToolDef) -> ir.Tool:
    match t:
        case w.FunctionTool():
            return ir.Tool(
                t.name,
                t.description,
                t.parameters,
                strict=t.strict,
                extra=dict(t.model_extra or {}),
            )
        case w.CustomTool():
            return ir.Tool(
                t.name,
                t.description,
                kind="custom",
                format=t.format,
                extra=dict(t.model_extra or {}),
            )
        case w.OtherTool():
            raw = t.model_dump(exclude_none=True)
            return ir.Tool(str(raw.get("name") or t.type), kind="hosted", extra=raw)
        case _:
            assert_never(t)


def _tool_choice_to_ir(
    choice: str | dict[str, Any] | None, extra: dict[str, Any]
) -> ir.ToolChoice | None:
    if choice is None:
        return None
    if isinstance(choice, str):
        if choice in _TOOL_CHOICE_TO_IR:
            return _TOOL_CHOICE_TO_IR[choice]
        extra["tool_choice"] = choice
        return None
    kind, name = choice.get("type"), choice.get("name")
    if kind in ("function", "custom") and isinstance(name, str):
        return ir.ToolChoice("tool", name)
    if kind == "allowed_tools":
        # the mode maps; the list of allowed tools has no IR form and rides along
        extra["allowed_tools"] = choice.get("tools")
        return ir.ToolChoice("any") if choice.get("mode") == "required" else ir.ToolChoice("auto")
    extra["tool_choice"] = choice  # a hosted tool forced: dropped with the hosted tools
    return None


_TOOL_ADAPTER: TypeAdapter[w.ToolDef] = TypeAdapter(w.ToolDef)


def _items_to_ir(items: list[w.Item], tools: list[ir.Tool]) -> list[ir.Message]:
    out: list[ir.Message] = []
    grouped: ir.Message | None = None  # the last IR message, when items may still join it

    def turn(role: ir.Role) -> ir.Message:
        # assistant items of one turn, and consecutive tool outputs, share one IR message
        nonlocal grouped
        if grouped is None or grouped.role != role:
            grouped = ir.Message(role, [])
            out.append(grouped)
        return grouped

    for i, item in enumerate(items):
        match item:
            case w.MessageItem():
                if item.role == "assistant":
                    turn("assistant").content += _assistant_content(item.content)
                    continue
                role: ir.Role = "user" if item.role == "user" else "system"
                out.append(ir.Message(role, _content_to_ir(item.content)))
                grouped = None
            case w.FunctionCallItem():
                part = ir.ToolCallPart(item.call_id, item.name, item.arguments)
                turn("assistant").content.append(part)
            case w.CustomToolCallItem():
                part = ir.ToolCallPart(item.call_id, item.name, item.input, kind="custom")
                turn("assistant").content.append(part)
            case w.FunctionCallOutputItem() | w.CustomToolCallOutputItem():
                content = _result_content(item.output, f"input[{i}].output")
                turn("user").content.append(ir.ToolResultPart(item.call_id, content))
            case w.ReasoningItem():
                texts = [s.text for s in item.content or []] or [s.text for s in item.summary]
                turn("assistant").content.append(
                    reasoning_to_ir(item.id, "\n\n".join(texts), item.encrypted_content)
                )
            case w.OtherItem() if item.type == "additional_tools":
                # tools the client adds mid-conversation: the other dialects declare them all
                # up front, so they join the request's tools
                extra = item.model_extra or {}
                for k, t in enumerate(extra.get("tools") or []):
                    try:
                        tools.append(_tool_to_ir(_TOOL_ADAPTER.validate_python(t)))
                    except ValidationError as e:
                        raise WireFormatError(f"invalid tool at input[{i}].tools[{k}]: {e}") from e
            case w.OtherItem():
                data = item.model_dump(exclude_none=True)
                opaque = ir.OpaquePart("responses", item.type, data)
                # a hosted tool's result belongs to the user side, its call to the assistant's
                turn("user" if item.type.endswith("_output") else "assistant").content.append(
                    opaque
                )
            case _:
                assert_never(item)
    return out


def _assistant_content(content: str | list[w.ContentPart]) -> list[ir.Part]:
    if isinstance(content, str):
        return [ir.TextPart(content)] if content else []
    parts: list[ir.Part] = []
    for p in content:
        match p:
            case w.OutputText() | w.InputText():
                extra = dict(p.model_extra or {})
                if isinstance(p, w.OutputText) and p.annotations:
                    extra["annotations"] = p.annotations
                parts.append(ir.TextPart(p.text, extra=_drop_bookkeeping(extra)))
            case w.Refusal():
                parts.append(ir.TextPart(p.refusal))
            case _:
                parts.append(ir.OpaquePart("responses", p.type, p.model_dump(exclude_none=True)))
    return parts


def _drop_bookkeeping(extra: dict[str, Any]) -> dict[str, Any]:
    # logprobs of an earlier answer echoed back mean nothing to another model
    extra.pop("logprobs", None)
    return extra


def _content_to_ir(content: str | list[w.ContentPart]) -> list[ir.Part]:
    if isinstance(content, str):
        return [ir.TextPart(content)]
    return [_part_to_ir(p) for p in content]


def _part_to_ir(p: w.ContentPart) -> ir.Part:
    match p:
        case w.InputText() | w.OutputText():
            return ir.TextPart(p.text, extra=_drop_bookkeeping(dict(p.model_extra or {})))
        case w.Refusal():
            return ir.TextPart(p.refusal)
        case w.InputImage():
            extra = {"detail": p.detail} if p.detail is not None else {}
            if p.image_url is None:  # a file_id: only OpenAI can resolve it
                return ir.OpaquePart("responses", p.type, p.model_dump(exclude_none=True))
            media_type, data = parse_data_url(p.image_url)
            if data is not None:
                return ir.ImagePart(media_type=media_type, data=data, extra=extra)
            return ir.ImagePart(url=p.image_url, extra=extra)
        case w.InputFile():
            if p.file_data is not None:
                media_type, data = parse_data_url(p.file_data)
                if data is None:  # bare base64 without a data: prefix
                    media_type, data = "application/pdf", p.file_data
                return ir.DocumentPart(media_type=media_type, data=data, filename=p.filename)
            if p.file_url is not None:
                return ir.DocumentPart(url=p.file_url, filename=p.filename)
            return ir.OpaquePart("responses", p.type, p.model_dump(exclude_none=True))
        case w.OtherContent():
            return ir.OpaquePart("responses", p.type, p.model_dump(exclude_none=True))
        case _:
            assert_never(p)


def _result_content(
    output: str | list[w.ContentPart], path: str
) -> list[ir.TextPart | ir.ImagePart | ir.DocumentPart]:
    if isinstance(output, str):
        return [ir.TextPart(output)] if output else []
    out: list[ir.TextPart | ir.ImagePart | ir.DocumentPart] = []
    for j, p in enumerate(output):
        part = _part_to_ir(p)
        if not isinstance(part, ir.TextPart | ir.ImagePart | ir.DocumentPart):
            raise UnsupportedContentError(
                f"{path}[{j}]: a tool output part of type {p.type!r} has no IR form"
            )
        out.append(part)
    return out


def parse_data_url(url: str) -> tuple[str | None, str | None]:
    """``data:<mt>;base64,<data>`` as ``(mt, data)``; ``(None, None)`` for anything else."""
    if not url.startswith("data:"):
        return None, None
    head, sep, data = url[5:].partition(",")
    if not sep or not head.endswith(";base64"):
        return None, None
    return head.removesuffix(";base64") or None, data


# =========================================================================== fitting


def adapt_request(req: ir.Request, ctx: Context) -> None:
    """Fit a Responses client's IR request to an upstream of another dialect, in place.

    * a field that needs stored state (``previous_response_id`` ...) is refused: the gateway
      rebuilds the conversation before translating, and nothing else can;
    * custom tools become function tools taking ``{"input": <text>}`` (their grammar or format
      appended to the description), their calls in the history likewise; their names go to
      ``ctx.custom_tools`` so that the answer's calls are turned back into custom tool calls;
    * hosted tools and a tool choice forcing one are dropped with a note: only OpenAI runs them;
    * reasoning that only a Responses upstream can read loses its encrypted content (a note).
    """
    for key, why in _STATEFUL.items():
        if req.extra.get(key) is not None:
            raise UnsupportedContentError(
                f"{key}: the request {why}, which only the OpenAI Responses API holds; "
                "send the full conversation in input"
            )
    tools: list[ir.Tool] = []
    for i, t in enumerate(req.tools):
        match t.kind:
            case "function":
                tools.append(t)
            case "custom":
                ctx.custom_tools.add(t.name)
                tools.append(_custom_as_function(t))
            case "hosted":
                ctx.note(f"tools[{i}]", f"hosted tool {t.name!r} runs only at OpenAI; dropped")
            case _:
                assert_never(t.kind)
    req.tools = tools
    if "tool_choice" in req.extra:
        ctx.note("tool_choice", "forces a hosted tool, which was dropped; dropped")
        del req.extra["tool_choice"]
    for i, msg in enumerate(req.messages):
        for j, part in enumerate(msg.content):
            path = f"input[{i}].content[{j}]"
            if isinstance(part, ir.ToolCallPart) and part.kind == "custom":
                ctx.custom_tools.add(part.name)
                args = json.dumps({CUSTOM_INPUT: part.arguments}, ensure_ascii=False)
                msg.content[j] = ir.ToolCallPart(part.id, part.name, args, extra=part.extra)
            elif isinstance(part, ir.ThinkingPart) and part.signature:
                if part.signature.startswith(RESPONSES_TAG):
                    ctx.note(path, "encrypted reasoning is readable by OpenAI only; dropped")
                    part.signature = None


def _custom_as_function(t: ir.Tool) -> ir.Tool:
    description = t.description or ""
    fmt = t.format or {}
    if fmt.get("type") == "grammar":
        syntax = fmt.get("syntax", "lark")
        description += (
            f"\n\nThe {CUSTOM_INPUT!r} argument is raw text (not JSON) that must match this "
            f"{syntax} grammar:\n```{syntax}\n{fmt.get('definition', '')}\n```"
        )
    else:
        description += f"\n\nThe {CUSTOM_INPUT!r} argument is raw free-form text."
    schema = {
        "type": "object",
        "properties": {CUSTOM_INPUT: {"type": "string", "description": "the raw input"}},
        "required": [CUSTOM_INPUT],
        "additionalProperties": False,
    }
    return ir.Tool(t.name, description.strip(), schema, t.cache_control, extra=t.extra)
