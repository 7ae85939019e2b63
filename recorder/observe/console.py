"""The live console's words: one aligned, coloured line per finished exchange, and on request
the messages and tool arguments under it. Pure (rich ``Text`` values; printing is the sink's).

A line::

    14:02:11 3f2a9c anthropic→openai qwen3:32b        200 sse ttft 412ms  1.84s  1,204 in  ▸ Read

Fixed-width columns up to the durations, so that lines align; then what the exchange had
(tokens, cache, route, retries, tool calls, what went wrong).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import assert_never

from rich.text import Text

from recorder import ir
from recorder.observe.console_options import Detail
from recorder.observe.facts import Facts
from recorder.observe.reading import Reading

DEFAULT_ROUTE = "default"  # the route gateway_upstream makes: not worth a word on every line


def line(f: Facts) -> Text:
    t = Text()
    t.append(datetime.fromtimestamp(f.started_at).strftime("%H:%M:%S"), "dim")
    t.append(" ")
    t.append(_cell(short_session(f.session), 6), "cyan")
    t.append(" ")
    # 17: "anthropic (local)" and "responses (local)" whole (the gateway answered them itself);
    # the model's 19 keep the line's fixed part to 80 columns.
    t.append(_cell(_dialects(f), 17), "magenta" if f.translated else "dim")
    t.append(" ")
    if f.model:
        t.append(_cell(f.model, 19), "bold")
    else:  # not a model call (a health check, the model list): what was asked instead
        t.append(_cell(f"{f.method or '?'} {f.path or ''}".strip(), 19), "dim")
    t.append(" ")
    t.append(_status(f.status))
    t.append(" sse " if f.stream else " json", "dim")
    t.append(" ttft " if f.stream else "      ", "dim")
    t.append(_cell(seconds(f.ttft) if f.stream else "", 5, right=True))
    t.append(" ")
    t.append(_cell(seconds(f.duration), 6, right=True))
    for text, style in _usage(f.usage):
        t.append("  ")
        t.append(text, style)
    if f.route and f.route != DEFAULT_ROUTE:
        t.append(f"  @{f.route}", "dim")
    if f.attempts > 1:
        t.append(f"  ↻{f.attempts - 1}", "yellow")
    if f.tool_calls:
        t.append("  ▸ " + ", ".join(f.tool_calls), "yellow")
    if f.error_kind is not None:
        t.append(f"  ✗ {f.error_kind}", "bold red")
        if f.error:
            t.append(f": {f.error}", "red")
    return t


def details(reading: Reading, detail: Detail, skip: int = 0, width: int = 100) -> list[Text]:
    """What ``detail`` shows under the line: the client's messages from ``skip`` on (those a
    previous turn of the session did not already show) and the reply, indented."""
    limit = None if detail is Detail.full else max(40, width - 16)  # indent and role fit
    out: list[Text] = []
    match detail:
        case Detail.none:
            return out
        case Detail.tools:
            answer = reading.client.response
            for part in answer.content if answer is not None else []:
                if isinstance(part, ir.ToolCallPart):
                    out.append(_indent(_tool_call(part, limit)))
        case Detail.messages | Detail.full:
            req = reading.client.request
            if req is not None:
                if skip == 0 and req.system:
                    system = "\n".join(p.text for p in req.system)
                    out.append(_indent(_role("system", _cut(system, limit))))
                for msg in req.messages[skip:]:
                    out += _message(msg.role, msg.content, limit)
            answer = reading.client.response
            if answer is not None:
                out += _message("assistant", answer.content, limit, answer.stop_reason)
        case _:
            assert_never(detail)
    return out


def short_session(session: str | None) -> str:
    if not session:
        return "-"
    return session.removeprefix("h:")[:6]


def seconds(s: float | None) -> str:
    if s is None:
        return "-"
    if s < 1:
        return f"{s * 1000:.0f}ms"
    if s < 10:
        return f"{s:.2f}s"
    if s < 100:
        return f"{s:.1f}s"
    return f"{s:.0f}s"


def _cell(text: str, width: int, right: bool = False) -> str:
    if len(text) > width:
        text = text[: width - 1] + "…"
    return text.rjust(width) if right else text.ljust(width)


def _dialects(f: Facts) -> str:
    client = f.client_dialect or "?"
    if f.upstream_dialect is None:
        return f"{client} (local)"
    if f.upstream_dialect == f.client_dialect:
        return client
    return f"{client}→{f.upstream_dialect}"


def _status(status: int | None) -> Text:
    if status is None:
        return Text("---", "bold red")
    style = "green" if status < 300 else "yellow" if status < 500 else "bold red"
    return Text(str(status), style)


def _usage(u: ir.Usage | None) -> list[tuple[str, str]]:
    if u is None:
        return []
    out = []
    if u.input_tokens is not None:
        out.append((f"{u.input_tokens:,} in", ""))
    if u.output_tokens is not None:
        out.append((f"{u.output_tokens:,} out", ""))
    if u.cache_read_tokens:
        out.append((f"{u.cache_read_tokens:,} cache read", "dim"))
    if u.cache_creation_tokens:
        out.append((f"{u.cache_creation_tokens:,} cache write", "dim"))
    return out


_ROLE_STYLE = {"system": "magenta", "user": "green", "assistant": "cyan", "tool": "yellow"}


def _message(
    role: str, parts: list[ir.Part], limit: int | None, stop: str | None = None
) -> list[Text]:
    out: list[Text] = []
    for part in parts:
        match part:
            case ir.TextPart(text=text):
                out.append(_indent(_role(role, _cut(text, limit))))
            case ir.ThinkingPart(text=text):
                out.append(_indent(_role(role, "thinking: " + _cut(text, limit), "dim italic")))
            case ir.RedactedThinkingPart():
                out.append(_indent(_role(role, "[redacted thinking]", "dim")))
            case ir.ToolCallPart():
                out.append(_indent(_tool_call(part, limit)))
            case ir.ToolResultPart(tool_call_id=call_id, content=content, is_error=is_error):
                text = " ".join(c.text for c in content if isinstance(c, ir.TextPart))
                label = "◂ error " if is_error else "◂ "
                t = Text(label + f"({call_id}) ", "red" if is_error else "yellow")
                t.append(_cut(text, limit))
                out.append(_indent(t))
            case ir.ImagePart() | ir.DocumentPart():
                out.append(_indent(_role(role, f"[{type(part).__name__.removesuffix('Part')}]")))
            case ir.OpaquePart(type=kind):
                out.append(_indent(_role(role, f"[{kind}]", "dim")))
            case _:
                assert_never(part)
    if stop:
        out.append(_indent(Text(f"stop: {stop}", "dim")))
    return out


def _role(role: str, text: str, style: str = "") -> Text:
    t = Text(f"{role}: ", f"bold {_ROLE_STYLE.get(role, 'white')}")
    t.append(text, style)
    return t


def _tool_call(part: ir.ToolCallPart, limit: int | None) -> Text:
    t = Text("▸ ", "yellow")
    t.append(part.name, "bold yellow")
    t.append(" " + _cut(_compact_json(part.arguments), limit))
    return t


def _compact_json(text: str) -> str:
    try:
        return json.dumps(json.loads(text), ensure_ascii=False, separators=(",", ":"))
    except ValueError:
        return text


def _cut(text: str, limit: int | None) -> str:
    text = " ".join(text.split()) if limit is not None else text
    if limit is None or len(text) <= limit:
        return text
    return text[: limit - 1] + "…"


def _indent(t: Text) -> Text:
    out = Text("    ", no_wrap=t.no_wrap)
    out.append_text(t)
    return out
