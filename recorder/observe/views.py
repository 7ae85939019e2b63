"""Text views of an exchange for mitmweb (and any other plain-text viewer). Pure.

* :func:`conversation` — one leg's request, or its answer (a JSON body or an SSE stream of any
  dialect), as the conversation it carries: text accumulated, thinking, tool calls with their
  parsed arguments, usage and stop reason; for a stream, then every event with its time.
* :func:`pair` — the translation pair: the client leg and the upstream leg side by side, the
  request bodies, or the answers (a stream's events of both legs in the order they passed).

Both read a :class:`~recorder.observe.reading.Reading`, so a dialect the codecs know is shown
without a line of code here.
"""

from __future__ import annotations

import json
import textwrap
from typing import Literal, assert_never

from recorder import ir
from recorder.exchange import Exchange, RecordedEvent
from recorder.observe.console import seconds
from recorder.observe.messages import arguments
from recorder.observe.reading import LegReading, Reading, body_json

Part = Literal["request", "response"]
RULE = "─"


def conversation(leg: LegReading, part: Part, width: int = 78) -> str:
    lines: list[str]
    if part == "request":
        lines = _request(leg, width)
    else:
        lines = _answer(leg, width)
        if leg.events:
            lines += ["", _rule(f"{len(leg.events)} events", width)]
            names = [e.wire.event or "" for e in leg.events]
            name_width = min(40, max(map(len, names), default=0))
            lines += [_event_line(leg, i, name_width) for i in range(len(leg.events))]
    lines += [f"! {p}" for p in leg.problems]
    return "\n".join(lines) + "\n"


def _request(leg: LegReading, width: int) -> list[str]:
    req = leg.request
    if req is None:
        return [f"{leg.dialect or '?'} request: nothing to read as a conversation"]
    head = [f"{leg.dialect} request", f"model {req.model}"]
    head += ["stream"] if req.stream else []
    head += [f"max_tokens {req.max_tokens}"] if req.max_tokens is not None else []
    head += [f"temperature {req.temperature:g}"] if req.temperature is not None else []
    if req.thinking is not None:
        head.append(f"thinking {req.thinking.type}")
    out = [" · ".join(head)]
    if req.tools:
        out.append("tools: " + ", ".join(t.name for t in req.tools))
    if req.system:
        out += ["", _rule("system", width), *(p.text for p in req.system)]
    for m in req.messages:
        out += ["", _rule(m.role, width)]
        out += _parts(m.content)
    return out


def _answer(leg: LegReading, width: int) -> list[str]:
    resp, err = leg.response, leg.error
    kind = "stream" if leg.events else "response"
    out: list[str] = []
    if resp is not None:
        head = [f"{leg.dialect} {kind}", f"model {resp.model or '?'}"]
        head += [f"id {resp.id}"] if resp.id else []
        out.append(" · ".join(head))
        for p in resp.content:
            out += ["", _rule(_part_title(p), width)]
            out += _parts([p], titled=True)
        tail = [f"stop: {resp.stop_reason or '-'}"]
        tail += [f"usage: {_usage(resp.usage)}"] if _usage(resp.usage) else []
        out += ["", _rule(" · ".join(tail), width)]
    if err is not None:
        out += ["", _rule("error", width), f"{err.kind}: {err.message}"]
    if leg.incomplete:
        out += ["", f"! the stream ended early: {leg.incomplete}"]
    if not out:
        out.append(f"{leg.dialect or '?'} {kind}: nothing to read as a conversation")
    return out


def _part_title(p: ir.Part) -> str:
    match p:
        case ir.ToolCallPart(id=id_, name=name):
            return f"tool call {name} ({id_})"
        case ir.ToolResultPart(tool_call_id=id_, is_error=is_error):
            return f"tool {'error' if is_error else 'result'} ({id_})"
        case ir.ThinkingPart():
            return "thinking"
        case _:
            return type(p).__name__.removesuffix("Part").lower()


def _parts(parts: list[ir.Part], titled: bool = False) -> list[str]:
    out: list[str] = []
    for p in parts:
        if not titled and not isinstance(p, ir.TextPart):
            out.append(f"[{_part_title(p)}]")
        match p:
            case ir.TextPart(text=text):
                out.append(text)
            case ir.ThinkingPart(text=text, signature=sig):
                out.append(text)
                if sig:
                    out.append(f"(signature: {len(sig)} chars)")
            case ir.RedactedThinkingPart():
                out.append("(redacted)")
            case ir.ToolCallPart(arguments=args):
                value = arguments(args)
                out.append(
                    json.dumps(value, indent=2, ensure_ascii=False) if value != args else args
                )
            case ir.ToolResultPart(content=content):
                for c in content:
                    out += [c.text] if isinstance(c, ir.TextPart) else _parts([c])
            case ir.ImagePart(media_type=mt, url=url) | ir.DocumentPart(media_type=mt, url=url):
                out.append(url or f"(inline {mt or 'data'})")
            case ir.OpaquePart(data=data):
                out.append(json.dumps(data, indent=2, ensure_ascii=False))
            case _:
                assert_never(p)
    return out


def _event_line(leg: LegReading, i: int, name_width: int) -> str:
    e = leg.events[i]
    w = e.wire
    t = f"+{seconds(w.t)}" if leg.timed else ""
    name = w.event or ("(comment)" if w.comment is not None else "")
    what = "; ".join(describe(x) for x in e.ir) or (w.comment or w.data or "").strip()[:80]
    return f"  {t:>9} #{w.seq:<4} {name:<{name_width}} {what}".rstrip()


def describe(ev: ir.StreamEvent) -> str:
    """One IR stream event in a few words."""
    match ev:
        case ir.MessageStart(id=id_, model=model):
            return f"start {id_} {model}"
        case ir.PartStart(part=part):
            return f"open {_part_title(part)}"
        case ir.TextDelta(text=text):
            return f"text {text!r}"
        case ir.ThinkingDelta(text=text):
            return f"thinking {text!r}"
        case ir.SignatureDelta():
            return "signature"
        case ir.ToolArgsDelta(json=fragment):
            return f"args {fragment!r}"
        case ir.OpaqueDelta(data=data):
            return f"delta {json.dumps(data)[:60]}"
        case ir.PartStop(index=i):
            return f"close part {i}"
        case ir.UsageUpdate(usage=u):
            return f"usage {_usage(u)}"
        case ir.Finish(stop_reason=stop):
            return f"finish {stop}"
        case ir.StreamError(error=err):
            return f"error {err.kind}: {err.message}"
        case ir.KeepAlive():
            return "keep-alive"
        case _:
            assert_never(ev)


def _usage(u: ir.Usage) -> str:
    fields = [
        ("in", u.input_tokens), ("out", u.output_tokens), ("cache read", u.cache_read_tokens),
        ("cache write", u.cache_creation_tokens), ("reasoning", u.reasoning_tokens),
    ]  # fmt: skip
    return " · ".join(f"{v:,} {k}" for k, v in fields if v is not None)


def _rule(title: str, width: int) -> str:
    head = f"{RULE * 2} {title} "
    return head + RULE * max(0, width - len(head))


# ------------------------------------------------------------------------------ the pair


def pair(ex: Exchange, reading: Reading, part: Part, width: int = 160) -> str:
    """The client leg (left) and the upstream leg (right) of ``part``, side by side."""
    col = (width - 13) // 2
    if reading.upstream is None:
        return "answered by the gateway itself: there is no upstream leg\n"
    left, right = reading.client, reading.upstream
    title = (
        f"{'client · ' + (left.dialect or '?'):<{col}}   {'upstream · ' + (right.dialect or '?')}"
    )
    out = [" " * 10 + title, " " * 10 + RULE * col + "   " + RULE * col]
    if part == "request":
        bodies = (_pretty(ex.client_request.body if ex.client_request else None),
                  _pretty(ex.upstream_request.body if ex.upstream_request else None))  # fmt: skip
        out += _columns(*bodies, col=col)
    elif ex.events:
        out += _stream_rows(ex.events, col)
    else:
        bodies = (_pretty(ex.client_response.body if ex.client_response else None),
                  _pretty(ex.upstream_response.body if ex.upstream_response else None))  # fmt: skip
        out += _columns(*bodies, col=col)
    for note in ex.notes:
        out.append(f"note: {note.path}: {note.reason}")
    return "\n".join(out) + "\n"


def _pretty(raw: bytes | None) -> list[str]:
    if raw is None:
        return ["(no body)"]
    value = body_json(raw)
    if value is None:
        return raw.decode("utf-8", "replace").splitlines() or ["(empty)"]
    return json.dumps(value, indent=2, ensure_ascii=False).splitlines()


def _columns(left: list[str], right: list[str], col: int) -> list[str]:
    a = [w for line in left for w in _wrap(line, col)]
    b = [w for line in right for w in _wrap(line, col)]
    n = max(len(a), len(b))
    a += [""] * (n - len(a))
    b += [""] * (n - len(b))
    return [f"{'':10}{x:<{col}} │ {y}".rstrip() for x, y in zip(a, b, strict=True)]


def _stream_rows(events: list[RecordedEvent], col: int) -> list[str]:
    order = sorted(events, key=lambda e: (e.t, e.leg == "client", e.seq))
    out: list[str] = []
    for e in order:
        text = e.data if e.data is not None else f": {e.comment or ''}"
        if e.event:
            text = f"{e.event}: {text}"
        cells = _wrap(text, col)
        t = f"+{seconds(e.t)}"
        for i, cell in enumerate(cells):
            left, right = (cell, "") if e.leg == "client" else ("", cell)
            stamp = t if i == 0 else ""
            out.append(f"{stamp:>9} {left:<{col}} │ {right}".rstrip())
    return out


def _wrap(text: str, width: int) -> list[str]:
    indent = len(text) - len(text.lstrip(" "))
    return textwrap.wrap(
        text, width, subsequent_indent=" " * min(indent + 2, width // 2), replace_whitespace=False,
        drop_whitespace=False, break_on_hyphens=False,
    ) or [""]  # fmt: skip
