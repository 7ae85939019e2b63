"""Render recorded exchanges as a readable conversation in the terminal (rich). Pure.

Reads what the client saw, through the client dialect's codec
(:func:`recorder.observe.reading.read_leg`): the request and the answer (its body, or its SSE
events added up) as IR. A session shows each turn's new messages only: a stateless client
re-sends the whole history every turn, and reading it N times helps nobody.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import assert_never

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.padding import Padding
from rich.rule import Rule
from rich.text import Text

from recorder import dialects, ir
from recorder.exchange import Exchange
from recorder.observe.reading import LegReading, read_leg
from recorder.summary import error_text

ROLE_STYLE = {"system": "magenta", "user": "green", "assistant": "cyan", "tool": "yellow"}


def render_exchanges(exchanges: Iterable[Exchange], limit: int | None = 1000) -> RenderableType:
    """One exchange, or the exchanges of a session in order (only new messages after the first)."""
    out: list[RenderableType] = []
    previous: list[ir.Message] | None = None
    for ex in exchanges:
        leg = read_leg(ex, "client")
        messages = _request(leg)
        shown = _new_messages(previous, messages)
        out.append(render_exchange(ex, shown, limit, leg))
        previous = messages
    return Group(*out)


def render_exchange(
    ex: Exchange,
    messages: list[ir.Message] | None = None,
    limit: int | None = 1000,
    leg: LegReading | None = None,
) -> RenderableType:
    """The client leg of ``ex`` as its codec reads it (``leg``: that reading, if made)."""
    leg = leg if leg is not None else read_leg(ex, "client")
    messages = _request(leg) if messages is None else messages
    body: list[RenderableType] = [
        Rule(Text(f"exchange {ex.id}", style="bold"), align="left", characters="─"),
        _summary(ex),
    ]
    body += [_message(m, limit) for m in messages]
    answer = leg.response
    if answer is not None and (answer.content or leg.error is None):
        stop = ex.stop_reason or answer.stop_reason
        reply = ir.Message("assistant", answer.content)
        body.append(_message(reply, limit, f"stop: {stop}" if stop else None))
    usage = ex.usage or (answer.usage if answer is not None else None)
    if usage is not None:
        body.append(_line("usage", _usage(usage), "dim"))
    body += _upstream_leg(ex, limit)
    for note in ex.notes:
        body.append(_line("note", f"{note.path}: {note.reason}", "dim"))
    answered = error_text(leg.error) if leg.error is not None else None
    errors = dict.fromkeys(e for e in (ex.error, answered) if e)
    body += [_line("error", e, "bold red") for e in errors]
    return Group(*body)


# An upstream leg in another framing than SSE (Kiro's binary event stream), or one whose events
# say more than the answer (the Claude Code CLI's run), is shown event by event: the client's
# view cannot show what came over the wire, and that is where the answer went wrong when it did
# (a tool call cut off, an exception frame, the CLI's stderr).
UPSTREAM_EVENTS_SHOWN = 200


def _upstream_leg(ex: Exchange, limit: int | None) -> list[RenderableType]:
    found = dialects.named(ex.upstream_dialect) if ex.upstream_dialect else None
    if found is None or (found.framing is dialects.SSE and not found.upstream_events_shown):
        return []
    out: list[RenderableType] = []
    resp, req = ex.upstream_response, ex.upstream_request
    if resp is not None and resp.status >= 400:
        out.append(_line(f"{found.name} answered {resp.status}", _body_text(resp.body), "red"))
        if req is not None and req.body is not None:
            sent = f"{len(req.body):,} bytes, kept in the recording: {_body_text(req.body)}"
            out.append(_line("request sent", _cut(sent, limit), "dim"))
    out += _run(found.name, ex.extra)
    timed: list[tuple[float | None, str | None, str | None]] = [
        (e.t, e.event, e.data) for e in ex.events if e.leg == "upstream"
    ]
    if not timed and resp is not None and resp.body and found.run_events is not None:
        # a run answered in one piece (not streamed, or failed before its answer): its
        # events are in the body, without the times a stream's got
        body = _json_body(resp.body)
        timed = [(None, name, data) for name, data in found.run_events(body) or []]
    events = timed
    if events:
        out.append(Text(f"{found.name} events ({len(events)})", style="bold dim"))
    for t, event, data in events[:UPSTREAM_EVENTS_SHOWN]:
        at = f"{t * 1000:8.1f} ms" if t is not None else f"{'—':>11}"
        line = Text(f"  {at}  ", style="dim")
        line.append(event or "?", style="bold")
        line.append("  " + _cut(_payload(data), limit or 120), style="dim")
        out.append(line)
    if len(events) > UPSTREAM_EVENTS_SHOWN:
        out.append(Text(f"  … {len(events) - UPSTREAM_EVENTS_SHOWN} more", style="dim"))
    return out


def _run(name: str, extra: dict[str, object]) -> list[RenderableType]:
    """What a run-like backend left (``extra``, recorder.summary.read_run): the session it
    left the conversation in (to resume by hand: ``claude --resume ID`` in its folder) and
    what it said the turn cost."""
    bits: list[str] = []
    session = extra.get("backend_session")
    if isinstance(session, dict) and isinstance(session.get("id"), str):
        bits.append(f"session {session['id']}")
        if isinstance(session.get("cwd"), str):
            bits.append(f"in {session['cwd']}")
    cost = extra.get("cost_usd")
    if isinstance(cost, int | float):
        bits.append(f"cost ${cost:.4f}")
    return [_line(name, " · ".join(bits), "dim")] if bits else []


def _json_body(raw: bytes) -> object:
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None


def _payload(data: str | None) -> str:
    """The payload part of a recorded frame's JSON view, compact."""
    try:
        view = json.loads(data) if data else None
    except ValueError:
        view = None
    if isinstance(view, dict) and "payload" in view:
        return json.dumps(view["payload"], ensure_ascii=False, separators=(",", ":"))
    return data or ""


def _body_text(body: bytes | None) -> str:
    return (body or b"").decode("utf-8", "replace")


def _request(leg: LegReading) -> list[ir.Message]:
    """The conversation a request carries; its system prompt first, as role ``system``."""
    req = leg.request
    if req is None:
        return []
    system = [ir.Message("system", list(req.system))] if req.system else []
    return system + req.messages


def _new_messages(
    previous: list[ir.Message] | None, messages: list[ir.Message]
) -> list[ir.Message]:
    """The messages after the previous turn's history and its reply, if this turn extends it."""
    if previous is None or len(messages) <= len(previous):
        return messages
    if [m.role for m in messages[: len(previous)]] != [m.role for m in previous]:
        return messages
    return messages[len(previous) + 1 :]


def _summary(ex: Exchange) -> _Fields:
    when = datetime.fromtimestamp(ex.started_at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    route = " → ".join(d for d in (ex.client_dialect, ex.upstream_dialect) if d)
    models = " → ".join(dict.fromkeys(m for m in (ex.model_requested, ex.model_answered) if m))
    status = str(ex.client_response.status) if ex.client_response else "no response"
    bits = [when, route, models, status]
    bits += ["stream"] if ex.stream else []
    bits += [f"{ex.t_end * 1000:.0f} ms"] if ex.t_end is not None else []
    return _Fields([b for b in bits if b], style="dim")


class _Fields:
    """Fields two spaces apart, a line broken between fields only where the terminal is too
    narrow for all of them: as one Text, an 80-column terminal broke "53 ms" and the time of
    day across lines. A field wider than the terminal is wrapped as any text."""

    def __init__(self, fields: list[str], style: str) -> None:
        self.fields = fields
        self.style = style

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        line = ""
        for field in self.fields:
            if line and cell_len(f"{line}  {field}") > options.max_width:
                yield Text(line, style=self.style)
                line = field
            else:
                line = f"{line}  {field}" if line else field
        if line:
            yield Text(line, style=self.style)


def _message(m: ir.Message, limit: int | None, suffix: str | None = None) -> RenderableType:
    head = Text(m.role, style=f"bold {ROLE_STYLE.get(m.role, 'white')}")
    if suffix:
        head.append(f"  ({suffix})", style="dim")
    return Group(head, *(Padding(_part(p, limit), (0, 0, 0, 2)) for p in m.content))


def _part(p: ir.Part, limit: int | None) -> Text:
    match p:
        case ir.TextPart():
            return Text(_cut(p.text, limit))
        case ir.ThinkingPart():
            return Text("thinking: " + _cut(p.text, limit), style="dim italic")
        case ir.RedactedThinkingPart():
            return Text("thinking: [redacted thinking]", style="dim italic")
        case ir.ToolCallPart():
            t = Text("▸ tool call ", style="yellow")
            t.append(f"{p.name} ({p.id})", style="bold yellow")
            t.append(" " + _cut(p.arguments, limit))
            return t
        case ir.ToolResultPart():
            label = "◂ tool error " if p.is_error else "◂ tool result "
            t = Text(label, style="red" if p.is_error else "yellow")
            t.append(f"({p.tool_call_id}) ", style="bold")
            t.append(_cut("\n".join(_plain(c) for c in p.content), limit))
            return t
        case ir.ImagePart():
            return Text("[image]", style="dim")
        case ir.DocumentPart():
            return Text("[document]", style="dim")
        case ir.OpaquePart():
            data = json.dumps(p.data, ensure_ascii=False)
            return Text(f"[other: {p.type}] " + _cut(data, limit), style="dim")
        case _:
            assert_never(p)


def _plain(p: ir.TextPart | ir.ImagePart | ir.DocumentPart) -> str:
    """A tool result's content as text (images and documents by name)."""
    match p:
        case ir.TextPart():
            return p.text
        case ir.ImagePart():
            return "[image]"
        case ir.DocumentPart():
            return "[document]"
        case _:
            assert_never(p)


def _cut(text: str, limit: int | None) -> str:
    if limit is None or len(text) <= limit:
        return text
    return text[:limit] + f"… ({len(text) - limit} more chars)"


def _usage(u: ir.Usage) -> str:
    fields = [
        ("input", u.input_tokens),
        ("output", u.output_tokens),
        ("cache read", u.cache_read_tokens),
        ("cache creation", u.cache_creation_tokens),
        ("reasoning", u.reasoning_tokens),
    ]
    return " · ".join(f"{name} {n}" for name, n in fields if n is not None)


def _line(label: str, text: str, style: str) -> Text:
    t = Text(f"{label}  ", style="bold " + style)
    t.append(text, style=style)
    return t
