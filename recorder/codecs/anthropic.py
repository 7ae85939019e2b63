"""The Anthropic Messages codec: requests and responses here; errors in ``anthropic_errors``,
streams in ``anthropic_stream`` / ``anthropic_stream_encoder``, and the block, usage and
stop-reason vocabulary they share in ``anthropic_parts``.

``*_from_ir`` runs when the other side is another dialect: its ``extra`` keys are dropped with a
note. When the IR came from Anthropic itself (``ctx.client``/``ctx.upstream`` is "anthropic", as
in round-trip tests) they are written back verbatim instead.

Choices made when an OpenAI client talks to an Anthropic upstream (``request_from_ir``):

- ``max_tokens`` is required by Anthropic; missing, it becomes :data:`DEFAULT_MAX_TOKENS` (4096),
  or the thinking budget + 4096 when thinking is on.
- Leading system messages become ``system``; a later one becomes a user-turn text block wrapped
  in ``<system-reminder>`` (Claude Code's own convention), so nothing is lost.
- A thinking request with only an effort (OpenAI ``reasoning_effort``) becomes
  ``{"type": "enabled", "budget_tokens": EFFORT_BUDGET[effort]}`` (enabled, not adaptive: every
  thinking model accepts it); ``"none"`` becomes ``{"type": "disabled"}``. Thinking is dropped
  (with a note) when it cannot be legal: a forced tool choice, or max_tokens below 1025.
- Sampling parameters thinking forbids (temperature != 1, top_k, top_p < 0.95) are dropped.
"""

from __future__ import annotations

import json
from typing import Any

from recorder import ir
from recorder.codecs.anthropic_errors import error_body, error_from_ir, error_to_ir
from recorder.codecs.anthropic_parts import (
    block_to_part,
    carry,
    message_id,
    part_to_block,
    stop_reason_from_ir,
    stop_reason_to_ir,
    text_block,
    tool_use_block,
    usage_from_ir,
    usage_to_ir,
)
from recorder.codecs.anthropic_stream import StreamDecoder
from recorder.codecs.anthropic_stream_encoder import StreamEncoder
from recorder.codecs.base import Codec, FunctionCodec
from recorder.context import Context
from recorder.errors import UnsupportedContentError, WireFormatError
from recorder.sse import SseEvent, SseParser
from recorder.wire import anthropic as w

__all__ = [
    "CODEC",
    "DEFAULT_MAX_TOKENS",
    "EFFORT_BUDGET",
    "StreamDecoder",
    "StreamEncoder",
    "error_from_ir",
    "error_to_ir",
    "request_from_ir",
    "request_to_ir",
    "response_from_ir",
    "response_to_ir",
    "session_in_request",
]

JsonObject = dict[str, Any]

DEFAULT_MAX_TOKENS = 4096
MIN_THINKING_BUDGET = 1024  # Anthropic's floor for budget_tokens
EFFORT_BUDGET: dict[str, int] = {
    "minimal": 1024,
    "low": 2048,
    "medium": 8192,
    "high": 16384,
    "xhigh": 32768,
}

# Objects the IR maps only in part: their other keys ride in Request.extra[key] and are merged
# back into the rebuilt object.
_PARTIAL = ("metadata", "output_config", "thinking", "tool_choice")


# --------------------------------------------------------------------------- requests


def request_to_ir(body: Any) -> ir.Request:
    if not isinstance(body, dict):
        raise WireFormatError("Anthropic request body must be a JSON object")
    m = w.validate(w.MessagesRequest, body, "request")
    extra = dict(m.model_extra or {})
    req = ir.Request(
        model=m.model,
        messages=[_message_to_ir(p) for p in m.messages],
        system=_system_to_ir(m.system),
        tools=[
            ir.Tool(
                t.name,
                t.description,
                t.input_schema,
                t.cache_control,
                t.strict,
                dict(t.model_extra or {}),
            )
            for t in m.tools or []
        ],
        max_tokens=m.max_tokens,
        temperature=m.temperature,
        top_p=m.top_p,
        top_k=m.top_k,
        stop_sequences=list(m.stop_sequences or []),
        stream=bool(m.stream),
    )
    leftovers: dict[str, JsonObject] = {}
    if (tc := m.tool_choice) is not None:
        req.tool_choice = ir.ToolChoice(tc.type, tc.name)
        if tc.disable_parallel_tool_use is not None:
            req.parallel_tool_calls = not tc.disable_parallel_tool_use
        leftovers["tool_choice"] = dict(tc.model_extra or {})
    output_config = dict(m.output_config or {})
    fmt = output_config.get("format")
    if (
        isinstance(fmt, dict)
        and fmt.get("type") == "json_schema"
        and fmt.keys() <= {"type", "schema"}
    ):
        schema = fmt.get("schema")
        req.output_format = ir.OutputFormat(
            "json_schema", schema if isinstance(schema, dict) else None
        )
        del output_config["format"]
    if (th := m.thinking) is not None:
        effort = output_config.pop("effort", None)
        req.thinking = ir.ThinkingConfig(th.type, th.budget_tokens, effort)
        leftovers["thinking"] = dict(th.model_extra or {})
    leftovers["output_config"] = output_config
    metadata = dict(m.metadata or {})
    if isinstance(metadata.get("user_id"), str):
        req.user = metadata.pop("user_id")
    leftovers["metadata"] = metadata
    extra.update({k: v for k, v in leftovers.items() if v})
    req.extra = extra
    return req


def _system_to_ir(system: str | list[w.TextBlock] | None) -> list[ir.TextPart]:
    if system is None:
        return []
    if isinstance(system, str):
        return [ir.TextPart(system)]
    return [ir.TextPart(b.text, b.cache_control, dict(b.model_extra or {})) for b in system]


def _message_to_ir(p: w.MessageParam) -> ir.Message:
    content: list[ir.Part]
    if isinstance(p.content, str):
        content = [ir.TextPart(p.content)]
    else:
        content = [block_to_part(b) for b in p.content]
    return ir.Message(p.role, content, dict(p.model_extra or {}))


def request_from_ir(req: ir.Request, ctx: Context) -> JsonObject:
    same = ctx.client == "anthropic"
    out: JsonObject = {"model": req.model, "max_tokens": req.max_tokens}
    system = [text_block(p, ctx, f"system[{i}]", same) for i, p in enumerate(req.system)]
    messages = list(req.messages)
    if not same:
        while messages and messages[0].role == "system":
            system += _system_blocks(messages.pop(0), ctx, len(req.messages) - len(messages) - 1)
    if system:
        out["system"] = _content(system)
    first = len(req.messages) - len(messages)
    out["messages"] = _messages_from_ir(messages, first, ctx, same)
    if req.tools:
        out["tools"] = [_tool_from_ir(t, i, ctx, same) for i, t in enumerate(req.tools)]
    _sampling_from_ir(req, out)
    _tool_choice_from_ir(req, out, ctx, same)
    _thinking_from_ir(req, out, ctx, same)
    _format_from_ir(req.output_format, out, ctx)
    if req.user is not None:
        out["metadata"] = {"user_id": req.user}
    for key, value in req.extra.items():
        if not same:
            ctx.note(key, "no Anthropic equivalent; dropped")
        elif key in _PARTIAL and isinstance(out.get(key), dict) and isinstance(value, dict):
            out[key] = {**value, **out[key]}
        else:
            out.setdefault(key, value)
    if out["max_tokens"] is None:
        out["max_tokens"] = DEFAULT_MAX_TOKENS
        ctx.note("max_tokens", f"missing; Anthropic requires it, sent {DEFAULT_MAX_TOKENS}")
    return out


def _system_blocks(msg: ir.Message, ctx: Context, index: int) -> list[JsonObject]:
    blocks = []
    for j, part in enumerate(msg.content):
        if not isinstance(part, ir.TextPart):
            raise UnsupportedContentError(
                f"messages[{index}].content[{j}]: a system message can only hold text for Anthropic"
            )
        blocks.append(text_block(part, ctx, f"messages[{index}].content[{j}]", False))
    carry({}, msg.extra, ctx, f"messages[{index}]", False)
    return blocks


def _messages_from_ir(
    msgs: list[ir.Message], first: int, ctx: Context, same: bool
) -> list[JsonObject]:
    out: list[JsonObject] = []
    for i, msg in enumerate(msgs, start=first):
        path = f"messages[{i}]"
        if msg.role == "system" and not same:
            # Anthropic has no system turn mid-conversation (outside a beta); Claude Code's own
            # fallback is a <system-reminder> user block, so the text keeps its meaning.
            ctx.note(
                path,
                "system message after the conversation began sent as <system-reminder> user text",
            )
            text = "\n".join(b["text"] for b in _system_blocks(msg, ctx, i))
            msg = ir.Message(
                "user", [ir.TextPart(f"<system-reminder>\n{text}\n</system-reminder>")]
            )
        blocks: list[JsonObject] = []
        for j, part in enumerate(msg.content):
            block = part_to_block(part, ctx, f"{path}.content[{j}]", same)
            if block is not None and not same and block["type"] == "text" and not block["text"]:
                ctx.note(f"{path}.content[{j}]", "empty text dropped (Anthropic rejects it)")
                block = None
            if block is not None:
                blocks.append(block)
        entry: JsonObject = {"role": msg.role, "content": blocks}
        carry(entry, msg.extra, ctx, path, same)
        if same:
            entry["content"] = _content(blocks)
            out.append(entry)
        elif not blocks:
            ctx.note(path, "message left empty after dropping content; omitted")
        elif out and out[-1]["role"] == msg.role:
            out[-1]["content"] += blocks  # OpenAI's separate tool messages: one Anthropic turn
        else:
            out.append(entry)
    if not same:
        for entry in out:
            if entry["role"] == "user":  # tool_result blocks must open the user turn
                blocks = entry["content"]
                blocks.sort(key=lambda b: b["type"] != "tool_result")  # stable
            entry["content"] = _content(entry["content"])
    return out


def _content(blocks: list[JsonObject]) -> str | list[JsonObject]:
    """One plain text block is written as a string, as clients write it."""
    if len(blocks) == 1 and blocks[0]["type"] == "text" and blocks[0].keys() == {"type", "text"}:
        return str(blocks[0]["text"])
    return blocks


def _tool_from_ir(t: ir.Tool, i: int, ctx: Context, same: bool) -> JsonObject:
    out: JsonObject = {"name": t.name}
    if t.description is not None:
        out["description"] = t.description
    if t.parameters is not None:
        out["input_schema"] = t.parameters
    elif not (same and "type" in t.extra):  # server tools have a type and no schema
        out["input_schema"] = {"type": "object", "properties": {}}
    if t.cache_control is not None:
        out["cache_control"] = t.cache_control
    if t.strict is not None:
        out["strict"] = t.strict
    carry(out, t.extra, ctx, f"tools[{i}]", same)
    return out


def _sampling_from_ir(req: ir.Request, out: JsonObject) -> None:
    fields = (("temperature", req.temperature), ("top_p", req.top_p), ("top_k", req.top_k))
    for key, value in fields:
        if value is not None:
            out[key] = value
    if req.stop_sequences:
        out["stop_sequences"] = list(req.stop_sequences)
    if req.stream:
        out["stream"] = True


def _tool_choice_from_ir(req: ir.Request, out: JsonObject, ctx: Context, same: bool) -> None:
    tc: JsonObject | None = None
    if req.tool_choice is not None:
        tc = {"type": req.tool_choice.mode}
        if req.tool_choice.mode == "tool":
            tc["name"] = req.tool_choice.name
    if req.parallel_tool_calls is not None and (tc is None or tc["type"] != "none"):
        if req.parallel_tool_calls is False or (same and tc is not None):
            tc = tc or {"type": "auto"}
            tc["disable_parallel_tool_use"] = not req.parallel_tool_calls
    if tc is not None and not req.tools and not same:
        ctx.note(
            "tool_choice", "no tools in the request; Anthropic refuses a tool_choice without them"
        )
        return
    if tc is not None:
        out["tool_choice"] = tc


def _format_from_ir(fmt: ir.OutputFormat | None, out: JsonObject, ctx: Context) -> None:
    """Structured output as ``output_config.format`` (beside a thinking effort, if any)."""
    if fmt is None:
        return
    if fmt.type == "json_object":
        ctx.note("response_format", "Anthropic has no schema-less JSON mode; dropped")
        return
    for key, value in (
        ("name", fmt.name),
        ("strict", fmt.strict),
        ("description", fmt.description),
    ):
        if value is not None:
            ctx.note(f"response_format.{key}", "no Anthropic equivalent; dropped")
    schema = fmt.schema if fmt.schema is not None else {"type": "object"}
    out["output_config"] = {
        **out.get("output_config", {}),
        "format": {"type": "json_schema", "schema": schema},
    }


def _thinking_from_ir(req: ir.Request, out: JsonObject, ctx: Context, same: bool) -> None:
    th = req.thinking
    if th is None:
        return
    if same:
        out["thinking"] = {"type": th.type}
        if th.budget_tokens is not None:
            out["thinking"]["budget_tokens"] = th.budget_tokens
        if th.effort is not None:
            out["output_config"] = {"effort": th.effort}
        return
    if th.type == "disabled" or th.effort == "none":
        out["thinking"] = {"type": "disabled"}
        return
    if out.get("tool_choice", {}).get("type") in ("any", "tool"):
        ctx.note("thinking", "dropped: Anthropic refuses thinking with a forced tool choice")
        return
    for key, ok in (
        ("temperature", lambda v: v == 1),
        ("top_k", lambda v: False),
        ("top_p", lambda v: v >= 0.95),
    ):
        if key in out and not ok(out[key]):
            ctx.note(key, "dropped: Anthropic refuses it together with thinking")
            del out[key]
    if th.type == "adaptive":
        out["thinking"] = {"type": "adaptive"}
        if th.effort is not None:
            out["output_config"] = {"effort": th.effort}
        return
    budget = th.budget_tokens
    if budget is None:
        budget = EFFORT_BUDGET.get(th.effort or "medium", EFFORT_BUDGET["medium"])
        ctx.note("thinking", f"reasoning effort {th.effort!r} sent as budget_tokens {budget}")
    budget = max(budget, MIN_THINKING_BUDGET)
    if out["max_tokens"] is None:
        out["max_tokens"] = budget + DEFAULT_MAX_TOKENS
        ctx.note(
            "max_tokens", f"missing; Anthropic requires it, sent budget + {DEFAULT_MAX_TOKENS}"
        )
    elif budget >= out["max_tokens"]:
        if out["max_tokens"] <= MIN_THINKING_BUDGET:
            ctx.note("thinking", "dropped: max_tokens leaves no room for a thinking budget")
            return
        budget = out["max_tokens"] - 1
        ctx.note("thinking.budget_tokens", "lowered below max_tokens, as Anthropic requires")
    out["thinking"] = {"type": "enabled", "budget_tokens": budget}


# --------------------------------------------------------------------------- responses


def response_to_ir(body: Any, ctx: Context) -> ir.Response:
    if not isinstance(body, dict):
        raise WireFormatError("Anthropic response body must be a JSON object")
    m = w.validate(w.Message, body, "response")
    return ir.Response(
        id=m.id or ctx.ids.make("msg_"),
        model=m.model,
        content=[block_to_part(b) for b in m.content],
        stop_reason=stop_reason_to_ir(m.stop_reason, ctx, "stop_reason"),
        stop_sequence=m.stop_sequence,
        usage=usage_to_ir(m.usage.model_dump(exclude_unset=True)),
        extra=dict(m.model_extra or {}),
    )


def response_from_ir(resp: ir.Response, ctx: Context) -> JsonObject:
    same = ctx.upstream == "anthropic"
    content: list[JsonObject] = []
    for i, part in enumerate(resp.content):
        block = _response_block(part, ctx, f"content[{i}]", same)
        if block is not None:
            content.append(block)
    out: JsonObject = {
        "id": message_id(resp.id, ctx),
        "type": "message",
        "role": "assistant",
        "model": resp.model or ctx.requested_model or "",
        "content": content,
        "stop_reason": stop_reason_from_ir(resp.stop_reason, ctx, "stop_reason"),
        "stop_sequence": resp.stop_sequence,
        "usage": usage_from_ir(resp.usage, ctx, "usage", same),
    }
    carry(out, resp.extra, ctx, "", same)
    return out


def _response_block(part: ir.Part, ctx: Context, path: str, same: bool) -> JsonObject | None:
    match part:
        case ir.TextPart(text=""):
            ctx.note(path, "empty text block omitted")
            return None
        case ir.ThinkingPart():
            # unsigned reasoning (OpenAI reasoning_content) gets "" and is never given a signature
            out = {"type": "thinking", "thinking": part.text, "signature": part.signature or ""}
            carry(out, part.extra, ctx, path, same)
            return out
        case ir.ToolCallPart():
            return tool_use_block(part, part.id or ctx.ids.make("toolu_"), ctx, path, same)
        case ir.ImagePart() | ir.DocumentPart() | ir.ToolResultPart():
            raise UnsupportedContentError(
                f"{path}: an Anthropic response cannot hold {type(part).__name__}"
            )
        case _:
            return part_to_block(part, ctx, path, same)


# --------------------------------------------------------------------------- the stream's shape


def error_event(err: ir.ErrorInfo) -> SseEvent:
    """``event: error`` with the error body, as the API sends it mid-stream."""
    return SseEvent(event="error", data=json.dumps(error_body(err)))


def is_terminal(ev: SseEvent) -> bool:
    """``message_stop`` ends a stream, and so does an ``error`` event."""
    return ev.event == "message_stop" or ev.event == "error"


def is_token(ev: SseEvent) -> bool:
    """A ``content_block_delta`` (text, thinking or tool input) is model output."""
    return ev.event == "content_block_delta" and ev.data is not None


def session_in_request(body: JsonObject) -> str | None:
    """The session a client named in its request body: Claude Code sends ``metadata.user_id``
    as a JSON *string* holding its ``session_id``. Lenient: anything else is None."""
    metadata = body.get("metadata")
    user_id = metadata.get("user_id") if isinstance(metadata, dict) else None
    if not isinstance(user_id, str) or not user_id.startswith("{"):
        return None
    try:
        inner = json.loads(user_id)
    except (ValueError, RecursionError):
        return None
    sid = inner.get("session_id") if isinstance(inner, dict) else None
    return sid if isinstance(sid, str) and sid else None


def models_body(names: list[str], created: int) -> JsonObject:
    """``GET /v1/models``: the models API's page (``created_at`` is not known, so the epoch)."""
    data = [
        {"type": "model", "id": n, "display_name": n, "created_at": "1970-01-01T00:00:00Z"}
        for n in names
    ]
    return {
        "data": data,
        "has_more": False,
        "first_id": names[0] if names else None,
        "last_id": names[-1] if names else None,
    }


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
