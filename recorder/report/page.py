"""The report page: one exchange, or a session's exchanges, as one self-contained HTML file.

Everything is inline (CSS, SVG) and a Content-Security-Policy forbids the page any request, so
it reads the same offline, attached to a bug report or opened years later. Every recorded string
is escaped. Pure: exchanges in (settled, as the store loads them), text out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from importlib import resources
from typing import assert_never

from recorder import ir
from recorder.exchange import Exchange
from recorder.observe import messages
from recorder.observe.console import seconds
from recorder.observe.facts import Facts, facts_of
from recorder.observe.reading import Reading, read
from recorder.observe.tracecontext import TraceIds
from recorder.observe.turns import Turns
from recorder.report.prices import PriceList
from recorder.report.timeline import KINDS, Timeline, svg, timeline_of

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
_KIND_LABEL = {"text": "text", "thinking": "thinking", "tool": "tool call", "meta": "other",
               "error": "error", "keepalive": "keep-alive"}  # fmt: skip


@dataclass(slots=True)
class Entry:
    """One exchange as the page shows it."""

    n: int
    ex: Exchange
    reading: Reading
    facts: Facts
    timeline: Timeline
    cost: float | None
    skip: int  # messages a previous turn already showed


def render(
    exchanges: list[Exchange],
    *,
    prices: PriceList | None = None,
    stall: float | None = None,
    generated: datetime | None = None,
) -> str:
    prices = prices or PriceList()
    entries = _entries(exchanges, prices, stall)
    session = len(entries) > 1
    body = [_header(entries, session)]
    if session:
        body.append(_summary(entries))
    body += [_exchange(e, session) for e in entries]
    when = (generated or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    body.append(
        f"<footer>tapegate · <code>recorder report</code> · {escape(when)} · "
        f"prices: {escape(prices.source)}</footer>"
    )
    title = _title(entries, session)
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_css()}</style></head>\n<body>"
        + "\n".join(body)
        + "</body></html>\n"
    )


def _entries(exchanges: list[Exchange], prices: PriceList, stall: float | None) -> list[Entry]:
    turns = Turns()
    out = []
    for n, ex in enumerate(exchanges, 1):
        reading = read(ex)
        facts = facts_of(ex, reading)
        ids = TraceIds.from_extra(ex.extra)
        req = reading.client.request
        skip = turns.seen(facts.session, messages.input_messages(req) if req else [])
        out.append(Entry(
            n, ex, reading, facts, timeline_of(ex, reading, stall, ids.t_sent if ids else None),
            prices.cost(facts.model, facts.usage), skip,
        ))  # fmt: skip
    return out


def _title(entries: list[Entry], session: bool) -> str:
    if not entries:
        return "tapegate report"
    f = entries[0].facts
    if session:
        return f"tapegate · session {f.session or '?'} · {len(entries)} exchanges"
    return f"tapegate · {f.model or '?'} · exchange {f.id}"


def _header(entries: list[Entry], session: bool) -> str:
    if not entries:
        return "<header><h1>tapegate report</h1><p>No exchanges.</p></header>"
    first = entries[0].facts
    kind = "session" if session else "exchange"
    ident = first.session if session else first.id
    return (
        f'<header><div class="brand">tapegate</div><h1>{kind} <code>{escape(ident or "?")}'
        f"</code></h1><p class=sub>{escape(_when(first.started_at))}</p></header>"
    )


def _summary(entries: list[Entry]) -> str:
    facts = [e.facts for e in entries]
    tokens = _sum_usage([f.usage for f in facts])
    costs = [e.cost for e in entries]
    span = (facts[-1].started_at + (facts[-1].duration or 0)) - facts[0].started_at
    errors = sum(1 for f in facts if f.failed)
    cards = [
        ("exchanges", f"{len(entries)}"),
        ("wall time", seconds(span)),
        ("input tokens", _n(tokens.input_tokens)),
        ("output tokens", _n(tokens.output_tokens)),
        ("cache read / write", f"{_n(tokens.cache_read_tokens)} / "
                               f"{_n(tokens.cache_creation_tokens)}"),
        ("cost", _total_cost(costs)),
        ("errors", f"{errors}"),
    ]  # fmt: skip
    out = ['<section class="summary"><div class="cards">']
    for label, value in cards:
        bad = " bad" if label == "errors" and errors else ""
        out.append(f'<div class="card{bad}"><div class="v">{escape(value)}</div>'
                   f'<div class="k">{label}</div></div>')  # fmt: skip
    out.append("</div><table class=exchanges><thead><tr>")
    heads = ["#", "time", "model", "dialects", "status", "", "TTFT", "duration", "in", "out",
             "cache r/w", "cost", "tools", "error"]  # fmt: skip
    out += [f"<th>{h}</th>" for h in heads]
    out.append("</tr></thead><tbody>")
    for e in entries:
        f, u = e.facts, e.facts.usage or ir.Usage()
        cls = ' class="failed"' if f.failed else ""
        cells = [
            f'<a href="#ex-{e.n}">{e.n}</a>', escape(_clock(f.started_at)),
            escape(f.model or "?"), escape(_dialects(f)), _status(f.status) + _retried(f),
            "sse" if f.stream else "json", escape(seconds(f.ttft) if f.stream else "–"),
            escape(seconds(f.duration)), _n(u.input_tokens), _n(u.output_tokens),
            f"{_n(u.cache_read_tokens)} / {_n(u.cache_creation_tokens)}", _money(e.cost),
            escape(", ".join(f.tool_calls)), escape(f.error_kind or ""),
        ]  # fmt: skip
        out.append(f"<tr{cls}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    total = [
        "", "total", "", "", "", "", "", "", _n(tokens.input_tokens), _n(tokens.output_tokens),
        f"{_n(tokens.cache_read_tokens)} / {_n(tokens.cache_creation_tokens)}",
        _total_cost(costs), "", _plural(errors, "error"),
    ]  # fmt: skip
    out.append("</tbody><tfoot><tr>" + "".join(f"<td>{c}</td>" for c in total) + "</tr></tfoot>")
    out.append("</table></section>")
    return "".join(out)


def _exchange(e: Entry, session: bool) -> str:
    f = e.facts
    head = f"#{e.n} · " if session else ""
    out = [
        f'<section class="exchange" id="ex-{e.n}"><h2>{head}{escape(_clock(f.started_at))} '
        f"· {escape(f.model or '?')} <span class=status>{_status(f.status)}</span></h2>",
        _chips(e),
        '<figure class="tl">',
        svg(e.timeline),
        _legend(e.timeline),
        "</figure>",
        _conversation(e),
    ]
    problems = list(e.reading.client.problems)
    if e.reading.upstream is not None:
        problems += e.reading.upstream.problems
    for note in e.ex.notes:
        out.append(f'<p class="note">dropped in translation: <code>{escape(note.path)}</code> '
                   f"— {escape(note.reason)}</p>")  # fmt: skip
    out += [f'<p class="problem">not readable: {escape(p)}</p>' for p in problems]
    out.append("</section>")
    return "\n".join(out)


def _chips(e: Entry) -> str:
    f = e.facts
    chips: list[tuple[str, str, str]] = [("dialects", _dialects(f), "")]
    if f.route:
        chips.append(("route", f.route, ""))
    if f.model_requested and f.model_requested != f.model:
        chips.append(("asked for", f.model_requested, ""))
    chips.append(("mode", "stream" if f.stream else "json", ""))
    if f.ttfb is not None:
        chips.append(("first byte", seconds(f.ttfb), ""))
    if f.ttft is not None:
        chips.append(("first token", seconds(f.ttft), ""))
    chips.append(("duration", seconds(f.duration), ""))
    if f.usage is not None:
        u = f.usage
        chips.append(("tokens", f"{_n(u.input_tokens)} in · {_n(u.output_tokens)} out", ""))
        if u.cache_read_tokens or u.cache_creation_tokens:
            cache = f"{_n(u.cache_read_tokens)} read · {_n(u.cache_creation_tokens)} write"
            chips.append(("cache", cache, ""))
    if e.cost is not None:
        chips.append(("cost", _money(e.cost), ""))
    if f.stop_reason:
        chips.append(("stop", f.stop_reason, ""))
    if f.attempts > 1:
        chips.append(("retries", str(f.attempts - 1), "warn"))
    if e.timeline.stalls:
        longest = max(s.seconds for s in e.timeline.stalls)
        # an upstream stall shows on the client leg too: count the leg that had the most
        n = max(sum(1 for s in e.timeline.stalls if s.leg == leg) for leg in ("client", "upstream"))
        label = "stall" if n == 1 else f"{n} stalls"
        chips.append((label, f"{seconds(longest)}" + (" (longest)" if n > 1 else ""), "warn"))
    if f.error_kind:
        chips.append(("error", f"{f.error_kind}: {f.error or ''}".rstrip(": "), "bad"))
    return (
        '<div class="chips">'
        + "".join(
            f'<span class="chip {cls}"><b>{escape(k)}</b> {escape(v)}</span>' for k, v, cls in chips
        )
        + "</div>"
    )


def _legend(tl: Timeline) -> str:
    kinds = {t.kind for t in tl.ticks}
    items = [f'<span class="key {k}"></span>{_KIND_LABEL[k]}' for k in KINDS if k in kinds]
    if tl.stalls:
        items.append('<span class="key stall"></span>stall')
    hint = "<span class=hint>hover an event for its content</span>" if tl.ticks else ""
    spans = "".join(f"<span>{i}</span>" for i in items)
    return f'<figcaption class="legend">{spans}{hint}</figcaption>'


def _conversation(e: Entry) -> str:
    req = e.reading.client.request
    out = ['<div class="conversation">']
    if req is not None:
        if e.skip:
            out.append(f'<p class="history">… {e.skip} earlier messages, shown above</p>')
        elif req.system:
            text = "\n\n".join(p.text for p in req.system)
            out.append(_collapsed("system", text, "system"))
        if req.tools and not e.skip:
            names = ", ".join(t.name for t in req.tools)
            offered = _plural(len(req.tools), "tool")
            out.append(f'<p class="tools">{offered} offered: {escape(names)}</p>')
        for m in req.messages[e.skip :]:
            out.append(_message(m.role, m.content))
    answer = e.reading.client.response
    if answer is not None:
        stop = f'<span class="stop">stop: {escape(answer.stop_reason)}</span>' if (
            answer.stop_reason) else ""  # fmt: skip
        out.append(_message("assistant", answer.content, stop, reply=True))
    err = e.reading.client.error
    if err is not None:
        out.append(f'<div class="msg error"><div class="role">error</div><div class="parts">'
                   f"<pre>{escape(err.kind)}: {escape(err.message)}</pre></div></div>")  # fmt: skip
    out.append("</div>")
    return "\n".join(out)


def _message(role: str, parts: list[ir.Part], extra: str = "", reply: bool = False) -> str:
    cls = f"msg {role}" + (" reply" if reply else "")
    body = "".join(_part(p) for p in parts) or '<p class="empty">(empty)</p>'
    return (f'<div class="{cls}"><div class="role">{escape(role)}{extra}</div>'
            f'<div class="parts">{body}</div></div>')  # fmt: skip


def _part(p: ir.Part) -> str:
    match p:
        case ir.TextPart(text=text):
            return f'<pre class="text">{escape(text)}</pre>'
        case ir.ThinkingPart(text=text):
            return _collapsed("thinking", text, "thinking")
        case ir.RedactedThinkingPart():
            return '<p class="thinking">[redacted thinking]</p>'
        case ir.ToolCallPart(id=id_, name=name, arguments=args):
            pretty = _pretty(args)
            return (f'<div class="call"><span class="tool">▸ {escape(name)}</span> '
                    f'<code class="id">{escape(id_)}</code><pre class="json">{escape(pretty)}'
                    "</pre></div>")  # fmt: skip
        case ir.ToolResultPart(tool_call_id=id_, content=content, is_error=is_error):
            text = "\n".join(c.text for c in content if isinstance(c, ir.TextPart))
            label = "◂ tool error" if is_error else "◂ tool result"
            cls = "result error" if is_error else "result"
            inner = (f'<span class="tool">{label}</span> <code class="id">{escape(id_)}</code>'
                     f'<pre class="text">{escape(text)}</pre>')  # fmt: skip
            return f'<div class="{cls}">{inner}</div>'
        case (
            ir.ImagePart(media_type=mt, data=data, url=url)
            | ir.DocumentPart(media_type=mt, data=data, url=url)
        ):
            kind = "image" if isinstance(p, ir.ImagePart) else "document"
            what = url or f"{mt or '?'}, {len(data or '') * 3 // 4:,} bytes inline"
            return f'<p class="media">[{kind}: {escape(what)}]</p>'
        case ir.OpaquePart(type=kind, data=data):
            return _collapsed(f"[{kind}]", json.dumps(data, indent=2, ensure_ascii=False), "other")
        case _:
            assert_never(p)


def _collapsed(label: str, text: str, cls: str) -> str:
    first = " ".join(text.split())[:140]
    return (f'<details class="{cls}"><summary><b>{escape(label)}</b> · {len(text):,} chars · '
            f'<span class="preview">{escape(first)}</span></summary>'
            f'<pre class="text">{escape(text)}</pre></details>')  # fmt: skip


def _pretty(args: str) -> str:
    try:
        return json.dumps(json.loads(args), indent=2, ensure_ascii=False)
    except ValueError:
        return args


def _retried(f: Facts) -> str:
    if f.attempts <= 1:
        return ""
    return f' <span class="retried" title="retried {f.attempts - 1}×">↻{f.attempts - 1}</span>'


def _total_cost(costs: list[float | None]) -> str:
    known = [c for c in costs if c is not None]
    if not known:
        return "?"
    return _money(sum(known)) + ("" if len(known) == len(costs) else " + ?")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _sum_usage(usages: list[ir.Usage | None]) -> ir.Usage:
    def total(name: str) -> int | None:
        vals = [getattr(u, name) for u in usages if u is not None and getattr(u, name) is not None]
        return sum(vals) if vals else None

    return ir.Usage(
        total("input_tokens"), total("output_tokens"), total("cache_read_tokens"),
        total("cache_creation_tokens"),
    )  # fmt: skip


def _dialects(f: Facts) -> str:
    if f.upstream_dialect is None:
        return f"{f.client_dialect or '?'} (answered by the gateway)"
    if f.upstream_dialect == f.client_dialect:
        return f.client_dialect or "?"
    return f"{f.client_dialect or '?'} → {f.upstream_dialect}"


def _status(status: int | None) -> str:
    if status is None:
        return '<span class="st bad">no response</span>'
    cls = "ok" if status < 300 else "warn" if status < 500 else "bad"
    return f'<span class="st {cls}">{status}</span>'


def _n(v: int | None) -> str:
    return "–" if v is None else f"{v:,}"


def _money(v: float | None) -> str:
    if v is None:
        return "?"
    return f"${v:,.4f}" if v < 1 else f"${v:,.2f}"


def _when(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _clock(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%H:%M:%S")


def _css() -> str:
    return resources.files("recorder.report").joinpath("report.css").read_text()
