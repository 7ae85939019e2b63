"""What the fake upstream answers: a *mode* (see :class:`Mode`) and the request body become a
dialect-neutral :class:`Plan` (blocks, stop, usage), rendered as an Anthropic or OpenAI JSON body
or SSE event list. Pure and deterministic: fixed ids (``msg_fake01``, ``toolu_fake01``,
``call_fake01``...), fixed ``created``, no clock, so recordings made against the fake (the
project's cassettes) are the same on every run.

Modes beyond the basic ones (``text``, ``tool``, ``thinking``, the failure modes):

- ``parallel-tools``: two tool calls (the request's first and second tools, Paris and Tokyo);
- ``echo``: a text describing the last user turn (its text, images with media type and size,
  tool results with their ids), for image and tool round-trip scenarios;
- ``max-tokens``: the answer is cut: ``max_tokens`` / ``length``;
- ``cache``: usage with prompt-cache numbers (Anthropic cache read/creation, OpenAI
  ``prompt_tokens_details.cached_tokens``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

CREATED = 1700000000
CITIES = ("Paris", "Tokyo")


@dataclass(slots=True)
class Mode:
    name: str = "text"
    status: int = 200
    events: int = 3
    slow_ms: float = 0.0
    gap_ms: float = 0.0
    linger_ms: float = 0.0  # after the last SSE event, before the body's end
    retry_after: str | None = None
    stall_after: int | None = None  # "stall:K:MS": one pause of stall_ms after event K
    stall_ms: float = 0.0
    hold_ms: float = 0.0  # "hold:MS": a JSON answer's head, then MS of silence before its body
    trickle_ms: float = 0.0  # "trickle:MS": the body one byte at a time, MS apart

    @classmethod
    def parse(cls, spec: str) -> Mode:
        mode = cls()
        for item in filter(None, (s.strip() for s in spec.split("+"))):
            name, _, arg = item.partition(":")
            if name == "error":
                mode.name, mode.status = "error", int(arg or 500)
            elif name == "slow":
                mode.slow_ms = float(arg)
            elif name == "events":
                mode.events = int(arg)
            elif name == "gap":
                mode.gap_ms = float(arg)
            elif name == "linger":
                mode.linger_ms = float(arg)
            elif name == "retry-after":
                mode.retry_after = arg
            elif name == "hold":
                mode.hold_ms = float(arg)
            elif name == "trickle":
                mode.trickle_ms = float(arg)
            elif name == "stall":
                after, _, ms = arg.partition(":")
                mode.stall_after, mode.stall_ms = int(after), float(ms or 1000)
            else:
                mode.name = name
        return mode


# ---------------------------------------------------------------------------- the plan


@dataclass(frozen=True, slots=True)
class Thinking:
    text: str
    signature: str


@dataclass(frozen=True, slots=True)
class Text:
    deltas: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ToolCall:
    n: int  # 1-based: ids toolu_fake0N / call_fake0N
    name: str
    city: str
    patch: str | None = None  # a free-form tool (``{"input": text}``): this patch instead

    @property
    def pieces(self) -> tuple[str, str]:  # the arguments, streamed in two deltas
        if self.patch is not None:
            text = self.arguments
            return text[: len(text) // 2], text[len(text) // 2 :]
        return '{"city":', f' "{self.city}"}}'

    @property
    def arguments(self) -> str:
        if self.patch is not None:
            return json.dumps({"input": self.patch})
        return f'{{"city": "{self.city}"}}'


Block = Thinking | Text | ToolCall
Stop = Literal["end", "tool", "length"]
ANTHROPIC_STOP: dict[Stop, str] = {"end": "end_turn", "tool": "tool_use", "length": "max_tokens"}
OPENAI_FINISH: dict[Stop, str] = {"end": "stop", "tool": "tool_calls", "length": "length"}


@dataclass(frozen=True, slots=True)
class Usage:
    input: int = 10  # uncached prompt tokens (Anthropic's input_tokens)
    output: int = 3
    cache_read: int | None = None
    cache_write: int | None = None


@dataclass(slots=True)
class Plan:
    blocks: list[Block] = field(default_factory=list)
    stop: Stop = "end"
    usage: Usage = field(default_factory=Usage)


def _texts(mode: Mode) -> tuple[str, ...]:
    if mode.name == "max-tokens":
        return ("Once", " upon", " a")
    if mode.events == 3:
        return ("Hello", " world", "!")
    return tuple(f"t{i} " for i in range(mode.events))


def tool_names(body: dict[str, Any]) -> list[str]:
    """Names of the request's tools (either dialect), else ``get_weather``."""
    names = []
    for t in body.get("tools") or []:
        if isinstance(t, dict):
            name = t.get("name") or (t.get("function") or {}).get("name")
            if isinstance(name, str):
                names.append(name)
    return names or ["get_weather"]


# What the fake writes for a tool that takes raw text (a custom tool sent as a function taking
# {"input": text}, e.g. Codex's apply_patch): a patch adding a file.
PATCH = "*** Begin Patch\n*** Add File: hello.txt\n+Hello world!\n*** End Patch\n"


def _takes_raw_text(body: dict[str, Any], name: str) -> bool:
    for t in body.get("tools") or []:
        if not isinstance(t, dict):
            continue
        fn = t.get("function") if isinstance(t.get("function"), dict) else t
        if fn.get("name") == name:
            schema = fn.get("parameters") or fn.get("input_schema") or {}
            props = schema.get("properties") if isinstance(schema, dict) else None
            return isinstance(props, dict) and list(props) == ["input"]
    return False


def _tool_call(n: int, body: dict[str, Any], name: str, city: str) -> ToolCall:
    return ToolCall(n, name, city, PATCH if _takes_raw_text(body, name) else None)


def plan(mode: Mode, body: dict[str, Any]) -> Plan:
    p = Plan()
    if mode.name == "thinking":
        p.blocks.append(Thinking("Let me think.", "sig-fake"))
    if mode.name == "parallel-tools":
        names = tool_names(body)
        p.blocks.append(Text(("I'll check", " both.")))
        for i, city in enumerate(CITIES):
            p.blocks.append(_tool_call(i + 1, body, names[min(i, len(names) - 1)], city))
        p.stop = "tool"
        return p
    text = describe_last_turn(body) if mode.name == "echo" else None
    p.blocks.append(Text(_split(text) if text is not None else _texts(mode)))
    if mode.name == "tool":
        p.blocks.append(_tool_call(1, body, tool_names(body)[0], "Paris"))
        p.stop = "tool"
    if mode.name == "max-tokens":
        p.stop = "length"
    if mode.name == "cache":
        p.usage = Usage(cache_read=1800, cache_write=200)
    return p


def _split(text: str) -> tuple[str, ...]:
    """A text as (up to) three deltas cut at spaces, so streams have several events."""
    words = text.split(" ")
    third = max(1, -(-len(words) // 3))
    groups = [" ".join(words[i : i + third]) for i in range(0, len(words), third)]
    return tuple(g if i == 0 else " " + g for i, g in enumerate(groups))


# ---------------------------------------------------------------------------- echo


def describe_last_turn(body: dict[str, Any]) -> str:
    """``Echo: text "..."; image image/png 92 b64 chars; tool_result toolu_x: "..."``."""
    if "input" in body:
        return _describe_responses_input(body["input"])
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    parts: list[str] = []
    tail: list[
        dict[str, Any]
    ] = []  # OpenAI: the trailing tool messages answer the last assistant turn
    for m in reversed(messages):
        if m.get("role") != "tool":
            break
        tail.insert(0, m)
    for m in tail:
        parts.append(f"tool_result {m.get('tool_call_id')}: {_quote(_flat(m.get('content')))}")
    if not tail and messages:
        content = messages[-1].get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        for b in blocks or []:
            parts.append(_describe_block(b))
    return "Echo: " + "; ".join(parts or ["nothing"])


def _describe_responses_input(items: Any) -> str:
    """The Responses API's last turn: trailing tool outputs, else the last message."""
    if isinstance(items, str):
        return f"Echo: text {_quote(items)}"
    items = [i for i in items or [] if isinstance(i, dict)]
    parts: list[str] = []
    for item in reversed(items):
        if not str(item.get("type", "")).endswith("_output"):
            break
        parts.insert(0, f"tool_result {item.get('call_id')}: {_quote(_flat(item.get('output')))}")
    if not parts and items:
        content = items[-1].get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        for b in blocks or []:
            if isinstance(b, dict) and b.get("type") in ("input_text", "output_text"):
                b = {"type": "text", "text": b.get("text")}
            elif isinstance(b, dict) and b.get("type") == "input_image":
                b = {"type": "image_url", "image_url": {"url": b.get("image_url")}}
            parts.append(_describe_block(b))
    return "Echo: " + "; ".join(parts or ["nothing"])


def _describe_block(b: Any) -> str:
    kind = b.get("type") if isinstance(b, dict) else None
    if kind == "text":
        return f"text {_quote(b.get('text'))}"
    if kind == "image":  # Anthropic: source.media_type + base64 data
        src = b.get("source") or {}
        return f"image {src.get('media_type')} {len(src.get('data') or '')} b64 chars"
    if kind == "image_url":  # OpenAI: a data: URL
        url = str((b.get("image_url") or {}).get("url") or "")
        head, _, data = url.partition(",")
        media = head.removeprefix("data:").split(";")[0] or "url"
        return f"image {media} {len(data)} b64 chars"
    if kind == "tool_result":
        return f"tool_result {b.get('tool_use_id')}: {_quote(_flat(b.get('content')))}"
    return f"{kind} block"


def _flat(content: Any) -> str:
    if isinstance(content, list):
        return "".join(str(c.get("text", "")) for c in content if isinstance(c, dict))
    return str(content or "")


def _quote(text: Any) -> str:
    return json.dumps(str(text or ""), ensure_ascii=False)


# ---------------------------------------------------------------------------- Anthropic


def _anthropic_usage(u: Usage, output: int) -> dict[str, Any]:
    out: dict[str, Any] = {"input_tokens": u.input}
    if u.cache_write is not None:
        out["cache_creation_input_tokens"] = u.cache_write
    if u.cache_read is not None:
        out["cache_read_input_tokens"] = u.cache_read
    out["output_tokens"] = output
    return out


def anthropic_json(p: Plan, model: str) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    for b in p.blocks:
        match b:
            case Thinking():
                content.append({"type": "thinking", "thinking": b.text, "signature": b.signature})
            case Text():
                content.append({"type": "text", "text": "".join(b.deltas)})
            case ToolCall():
                content.append(
                    {
                        "type": "tool_use",
                        "id": f"toolu_fake0{b.n}",
                        "name": b.name,
                        "input": json.loads(b.arguments),
                    }
                )
    return {
        "id": "msg_fake01",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": ANTHROPIC_STOP[p.stop],
        "stop_sequence": None,
        "usage": _anthropic_usage(p.usage, p.usage.output),
    }


def ev(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()


def anthropic_events(mode: Mode, p: Plan, model: str) -> list[bytes]:
    msg = anthropic_json(p, model) | {"content": [], "stop_reason": None}
    msg["usage"] = _anthropic_usage(p.usage, 1)
    out = [ev("message_start", {"type": "message_start", "message": msg})]
    pinged = False
    for idx, b in enumerate(p.blocks):
        if not isinstance(b, Thinking) and not pinged:
            out.append(ev("ping", {"type": "ping"}))
            pinged = True
        start: dict[str, Any]
        deltas: list[dict[str, Any]]
        match b:
            case Thinking():
                start = {"type": "thinking", "thinking": "", "signature": ""}
                deltas = [
                    {"type": "thinking_delta", "thinking": b.text},
                    {"type": "signature_delta", "signature": b.signature},
                ]
            case Text():
                start = {"type": "text", "text": ""}
                deltas = [{"type": "text_delta", "text": t} for t in b.deltas]
            case ToolCall():
                start = {"type": "tool_use", "id": f"toolu_fake0{b.n}", "name": b.name, "input": {}}
                deltas = [{"type": "input_json_delta", "partial_json": s} for s in b.pieces]
        block_start = {"type": "content_block_start", "index": idx, "content_block": start}
        out.append(ev("content_block_start", block_start))
        for d in deltas:
            delta = {"type": "content_block_delta", "index": idx, "delta": d}
            out.append(ev("content_block_delta", delta))
        out.append(ev("content_block_stop", {"type": "content_block_stop", "index": idx}))
    if mode.name == "midstream-error":
        err = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
        return out[:4] + [ev("error", err)]
    if mode.name == "bad-json":
        return out[:3] + [b"event: content_block_delta\ndata: {not json\n\n"]
    delta = {"stop_reason": ANTHROPIC_STOP[p.stop], "stop_sequence": None}
    usage = {"output_tokens": p.usage.output}
    out.append(ev("message_delta", {"type": "message_delta", "delta": delta, "usage": usage}))
    out.append(ev("message_stop", {"type": "message_stop"}))
    return out


# ---------------------------------------------------------------------------- OpenAI


def _openai_usage(u: Usage) -> dict[str, Any]:
    prompt = u.input + (u.cache_read or 0) + (u.cache_write or 0)
    out: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": u.output,
        "total_tokens": prompt + u.output,
    }
    if u.cache_read is not None:
        out["prompt_tokens_details"] = {"cached_tokens": u.cache_read}
    return out


def _call(b: ToolCall) -> dict[str, Any]:
    return {"id": f"call_fake0{b.n}", "type": "function"}


def openai_json(p: Plan, model: str) -> dict[str, Any]:
    msg: dict[str, Any] = {"role": "assistant", "content": ""}
    calls = []
    for b in p.blocks:
        match b:
            case Thinking():
                msg["reasoning_content"] = b.text
            case Text():
                msg["content"] += "".join(b.deltas)
            case ToolCall():
                calls.append(_call(b) | {"function": {"name": b.name, "arguments": b.arguments}})
    if calls:
        msg["tool_calls"] = calls
    return {
        "id": "chatcmpl-fake01",
        "object": "chat.completion",
        "created": CREATED,
        "model": model,
        "choices": [{"index": 0, "message": msg, "finish_reason": OPENAI_FINISH[p.stop]}],
        "usage": _openai_usage(p.usage),
    }


def openai_events(mode: Mode, p: Plan, model: str, usage: bool) -> list[bytes]:
    base = {
        "id": "chatcmpl-fake01",
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": model,
    }

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        c = base | {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        return f"data: {json.dumps(c)}\n\n".encode()

    out = [chunk({"role": "assistant", "content": ""})]
    call_index = 0
    for b in p.blocks:
        match b:
            case Thinking():
                out.append(chunk({"reasoning_content": b.text}))
            case Text():
                out += [chunk({"content": t}) for t in b.deltas]
            case ToolCall():
                fn = {"function": {"name": b.name, "arguments": ""}}
                first = {"index": call_index} | _call(b) | fn
                out.append(chunk({"tool_calls": [first]}))
                for s in b.pieces:
                    piece = {"index": call_index, "function": {"arguments": s}}
                    out.append(chunk({"tool_calls": [piece]}))
                call_index += 1
    if mode.name == "midstream-error":
        err = {"error": {"message": "Overloaded", "type": "server_error", "code": None}}
        return out[:3] + [f"data: {json.dumps(err)}\n\n".encode()]
    if mode.name == "bad-json":
        return out[:2] + [b"data: {not json\n\n"]
    out.append(chunk({}, OPENAI_FINISH[p.stop]))
    if usage:
        last = base | {"choices": [], "usage": _openai_usage(p.usage)}
        out.append(f"data: {json.dumps(last)}\n\n".encode())
    out.append(b"data: [DONE]\n\n")
    return out


# ---------------------------------------------------------------------------- OpenAI Responses

RESPONSES_STATUS: dict[Stop, tuple[str, str | None]] = {
    "end": ("completed", None),
    "tool": ("completed", None),
    "length": ("incomplete", "max_output_tokens"),
}


def _responses_usage(u: Usage) -> dict[str, Any]:
    prompt = u.input + (u.cache_read or 0) + (u.cache_write or 0)
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": u.cache_read or 0},
        "output_tokens": u.output,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": prompt + u.output,
    }


def _responses_items(p: Plan) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for b in p.blocks:
        match b:
            case Thinking():
                items.append(
                    {
                        "id": "rs_fake01",
                        "type": "reasoning",
                        "summary": [{"type": "summary_text", "text": b.text}],
                        "encrypted_content": b.signature,
                    }
                )
            case Text():
                part = {"type": "output_text", "annotations": [], "text": "".join(b.deltas)}
                items.append(
                    {
                        "id": "msg_fake01",
                        "type": "message",
                        "status": "completed",
                        "role": "assistant",
                        "content": [part],
                    }
                )
            case ToolCall():
                items.append(
                    {
                        "id": f"fc_fake0{b.n}",
                        "type": "function_call",
                        "status": "completed",
                        "call_id": f"call_fake0{b.n}",
                        "name": b.name,
                        "arguments": b.arguments,
                    }
                )
    return items


def responses_json(p: Plan, model: str) -> dict[str, Any]:
    status, reason = RESPONSES_STATUS[p.stop]
    return {
        "id": "resp_fake01",
        "object": "response",
        "created_at": CREATED,
        "status": status,
        "error": None,
        "incomplete_details": None if reason is None else {"reason": reason},
        "model": model,
        "output": _responses_items(p),
        "usage": _responses_usage(p.usage),
    }


def responses_events(mode: Mode, p: Plan, model: str) -> list[bytes]:
    """The Responses event grammar, numbered from 0, every item streamed in deltas."""
    seq = 0
    out: list[bytes] = []

    def emit(kind: str, **fields: Any) -> None:
        nonlocal seq
        out.append(ev(kind, {"type": kind, "sequence_number": seq, **fields}))
        seq += 1

    final = responses_json(p, model)
    start = final | {"status": "in_progress", "output": [], "usage": None}
    start["incomplete_details"] = None
    emit("response.created", response=start)
    emit("response.in_progress", response=start)
    for i, (b, item) in enumerate(zip(p.blocks, final["output"], strict=True)):
        where = {"item_id": item["id"], "output_index": i}
        match b:
            case Thinking():
                emit("response.output_item.added", output_index=i, item=item | {"summary": []})
                part = {"type": "summary_text", "text": ""}
                emit("response.reasoning_summary_part.added", **where, summary_index=0, part=part)
                emit(
                    "response.reasoning_summary_text.delta", **where, summary_index=0, delta=b.text
                )
                emit("response.reasoning_summary_text.done", **where, summary_index=0, text=b.text)
                part = {"type": "summary_text", "text": b.text}
                emit("response.reasoning_summary_part.done", **where, summary_index=0, part=part)
            case Text():
                added = item | {"status": "in_progress", "content": []}
                emit("response.output_item.added", output_index=i, item=added)
                at = where | {"content_index": 0}
                empty = {"type": "output_text", "annotations": [], "text": ""}
                emit("response.content_part.added", **at, part=empty)
                for t in b.deltas:
                    emit("response.output_text.delta", **at, delta=t, logprobs=[])
                text = "".join(b.deltas)
                emit("response.output_text.done", **at, text=text, logprobs=[])
                emit("response.content_part.done", **at, part=empty | {"text": text})
            case ToolCall():
                added = item | {"status": "in_progress", "arguments": ""}
                emit("response.output_item.added", output_index=i, item=added)
                for s in b.pieces:
                    emit("response.function_call_arguments.delta", **where, delta=s)
                emit("response.function_call_arguments.done", **where, arguments=b.arguments)
        emit("response.output_item.done", output_index=i, item=item)
    if mode.name == "midstream-error":
        failed = start | {"status": "failed"}
        failed["error"] = {"code": "server_error", "message": "Overloaded"}
        return out[:4] + [
            ev(
                "response.failed",
                {"type": "response.failed", "sequence_number": 4, "response": failed},
            )
        ]
    if mode.name == "bad-json":
        return out[:3] + [b"event: response.output_text.delta\ndata: {not json\n\n"]
    emit(f"response.{final['status']}", response=final)
    return out
