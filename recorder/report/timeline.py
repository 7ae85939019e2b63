"""An exchange's timeline: every event of both legs on one time axis, with the moments that
matter (upstream's first byte, first token, end) and what went wrong (stalls, retries, errors).
:func:`timeline_of` reads it from a settled exchange and its reading; :func:`svg` draws it.
Pure.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from html import escape
from typing import Literal

from recorder import ir
from recorder.exchange import Exchange, Leg
from recorder.observe.console import seconds
from recorder.observe.reading import Reading, TimedEvent
from recorder.observe.views import describe

Kind = Literal["text", "thinking", "tool", "meta", "error", "keepalive"]
KINDS: tuple[Kind, ...] = ("text", "thinking", "tool", "meta", "error", "keepalive")
LEGS: tuple[Leg, ...] = ("upstream", "client")
MIN_STALL = 1.0  # seconds: a gap shorter than this is never a stall
STALL_FACTOR = 10  # ... and a stall is this many times the leg's median gap


@dataclass(slots=True, frozen=True)
class Tick:
    t: float
    leg: Leg
    kind: Kind
    label: str


@dataclass(slots=True, frozen=True)
class Moment:
    t: float
    label: str
    css: str  # "sent" | "first-byte" | "first-token" | "end" | "error"


@dataclass(slots=True, frozen=True)
class Bar:
    """A stretch of time on one lane: waiting for the upstream, a JSON body arriving."""

    leg: Leg
    start: float
    end: float
    css: str  # "wait" | "body"
    label: str


@dataclass(slots=True, frozen=True)
class Stall:
    leg: Leg
    start: float
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start


@dataclass(slots=True)
class Timeline:
    duration: float
    legs: dict[Leg, str]  # lane label per leg that has one ("client · anthropic")
    ticks: list[Tick] = field(default_factory=list)
    moments: list[Moment] = field(default_factory=list)
    stalls: list[Stall] = field(default_factory=list)
    bars: list[Bar] = field(default_factory=list)
    retries: int = 0
    error: str | None = None


def timeline_of(
    ex: Exchange, reading: Reading, stall: float | None = None, t_sent: float | None = None
) -> Timeline:
    """``stall``: the gap (seconds) that counts as a stall; None: at least MIN_STALL and
    STALL_FACTOR times the leg's median gap."""
    ends = [e.t for e in ex.events] + [ex.t_end or 0.0]
    tl = Timeline(duration=max([*ends, 1e-3]), legs={})
    legs = [reading.client] if reading.upstream is None else [reading.upstream, reading.client]
    for leg_reading in legs:
        leg = leg_reading.leg
        tl.legs[leg] = f"{leg} · {leg_reading.dialect or '?'}"
        events = leg_reading.events
        tl.ticks += [Tick(e.wire.t, leg, kind_of(e), label_of(e)) for e in events]
        tl.stalls += _stalls(leg, [e.wire.t for e in events if e.wire.comment is None], stall)
    if t_sent is not None:
        tl.moments.append(Moment(t_sent, "sent upstream", "sent"))
    first_byte = ex.t_upstream_first_byte
    if first_byte is not None:
        tl.moments.append(Moment(first_byte, "first byte", "first-byte"))
    tl.bars += _bars(ex, reading, t_sent or 0.0)
    if ex.t_first_token is not None:
        tl.moments.append(Moment(ex.t_first_token, "first token", "first-token"))
    tl.retries = max(0, int(ex.extra.get("attempts", 1) or 1) - 1)
    errors = [t for t in tl.ticks if t.kind == "error"]
    tl.error = ex.error or (reading.client.error.message if reading.client.error else None)
    if errors:
        tl.moments.append(Moment(errors[0].t, "error", "error"))
    elif tl.error and ex.t_end is not None:
        tl.moments.append(Moment(ex.t_end, "error", "error"))
    if ex.t_end is not None and not any(m.t == ex.t_end for m in tl.moments):
        tl.moments.append(Moment(ex.t_end, "end", "end"))
    return tl


def _bars(ex: Exchange, reading: Reading, t_sent: float) -> list[Bar]:
    out = []
    first_byte, end = ex.t_upstream_first_byte, ex.t_end
    if reading.upstream is not None and first_byte is not None and first_byte > t_sent:
        out.append(Bar("upstream", t_sent, first_byte, "wait", "waiting for the upstream"))
    if not ex.stream and end is not None:
        if reading.upstream is not None and first_byte is not None:
            out.append(Bar("upstream", first_byte, end, "body", "response body"))
        out.append(Bar("client", end, end, "body", "response sent"))
    return out


def kind_of(e: TimedEvent) -> Kind:
    kinds = {_kind(iev) for iev in e.ir}
    if e.wire.comment is not None:
        return "keepalive"
    order: tuple[Kind, ...] = ("error", "tool", "thinking", "text")
    for k in order:
        if k in kinds:
            return k
    return "meta"


def _kind(ev: ir.StreamEvent) -> Kind:
    match ev:
        case ir.StreamError():
            return "error"
        case ir.ToolArgsDelta() | ir.PartStart(part=ir.ToolCallPart()):
            return "tool"
        case ir.ThinkingDelta() | ir.SignatureDelta() | ir.PartStart(part=ir.ThinkingPart()):
            return "thinking"
        case ir.TextDelta():
            return "text"
        case ir.KeepAlive():
            return "keepalive"
        case _:
            return "meta"


def label_of(e: TimedEvent) -> str:
    w = e.wire
    head = f"#{w.seq} +{seconds(w.t)}"
    if w.comment is not None:
        return f"{head} : {w.comment.strip()[:60]}"
    name = w.event or ""
    what = "; ".join(describe(iev) for iev in e.ir) or (w.data or "")[:60]
    return f"{head} {name} {what}".replace("  ", " ")


def _stalls(leg: Leg, times: list[float], threshold: float | None) -> list[Stall]:
    if len(times) < 2:
        return []
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    limit = threshold
    if limit is None:
        limit = max(MIN_STALL, STALL_FACTOR * statistics.median(gaps))
    return [Stall(leg, a, b) for a, b in zip(times, times[1:], strict=False) if b - a >= limit]


# ---------------------------------------------------------------------------- the picture

WIDTH, LEFT, RIGHT = 960, 84, 16
LANE_H, TOP, AXIS_H = 34, 26, 22


def svg(tl: Timeline) -> str:
    """The timeline as an inline SVG (styled by the page's CSS classes)."""
    lanes = [leg for leg in LEGS if leg in tl.legs]
    height = TOP + LANE_H * len(lanes) + AXIS_H
    span = _nice_span(tl.duration)
    plot = WIDTH - LEFT - RIGHT

    def x(t: float) -> float:
        return LEFT + plot * min(max(t, 0.0), span) / span

    out = [
        f'<svg class="timeline" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-label="timeline of both legs">'
    ]
    for i, leg in enumerate(lanes):
        y = TOP + i * LANE_H
        out.append(f'<rect class="lane" x="{LEFT}" y="{y}" width="{plot}" height="{LANE_H - 6}"/>')
        name, _, dialect = tl.legs[leg].partition(" · ")
        out.append(
            f'<text class="lane-label" x="{LEFT - 8}" y="{y + 11}">{escape(name)}'
            f'<tspan class="dialect" x="{LEFT - 8}" dy="12">{escape(dialect)}</tspan></text>'
        )
        for b in (b for b in tl.bars if b.leg == leg):
            w = max(x(b.end) - x(b.start), 3.0)
            out.append(
                f'<rect class="bar {b.css}" x="{x(b.start):.1f}" y="{y + 6}" width="{w:.1f}" '
                f'height="{LANE_H - 18}"><title>{escape(b.label)}: {seconds(b.end - b.start)}'
                "</title></rect>"
            )
        for s in (s for s in tl.stalls if s.leg == leg):
            w = max(x(s.end) - x(s.start), 2.0)
            out.append(
                f'<rect class="stall" x="{x(s.start):.1f}" y="{y}" width="{w:.1f}" '
                f'height="{LANE_H - 6}"><title>stall: {seconds(s.seconds)} without an event'
                f"</title></rect>"
            )
            out.append(
                f'<text class="stall-label" x="{x(s.start) + w / 2:.1f}" y="{y + 11}">'
                f"stall {seconds(s.seconds)}</text>"
            )
        for tick in (t for t in tl.ticks if t.leg == leg):
            out.append(
                f'<line class="ev {tick.kind}" x1="{x(tick.t):.1f}" x2="{x(tick.t):.1f}" '
                f'y1="{y + 4}" y2="{y + LANE_H - 10}"><title>{escape(tick.label)}</title></line>'
            )
    bottom = TOP + LANE_H * len(lanes) - 6
    for m in tl.moments:
        out.append(
            f'<line class="moment {m.css}" x1="{x(m.t):.1f}" x2="{x(m.t):.1f}" '
            f'y1="{TOP - 6}" y2="{bottom}"><title>{escape(m.label)} +{seconds(m.t)}</title></line>'
        )
    out += _moment_labels(tl.moments, x)
    if tl.retries:
        out.append(
            f'<text class="retry-label" x="{LEFT + 2}" y="{TOP - 12}">↻ {tl.retries} '
            f"{'retry' if tl.retries == 1 else 'retries'} before this answer</text>"
        )
    out += _axis(span, x, bottom + 4)
    out.append("</svg>")
    return "".join(out)


def _moment_labels(moments: list[Moment], x: Callable[[float], float]) -> list[str]:
    """Labels above the lanes, nudged right when they would overlap."""
    out: list[str] = []
    last_end = -1e9
    for m in sorted(moments, key=lambda m: m.t):
        text = f"{m.label} {seconds(m.t)}"
        width = 6.4 * len(text)
        px = max(x(m.t), last_end + 6)
        anchor = ""
        if px + width > WIDTH - RIGHT:  # at the right edge: the label ends at its line
            px, anchor = max(x(m.t), last_end + 6 + width), ' text-anchor="end"'
        out.append(f'<text class="moment-label {m.css}" x="{px:.1f}" y="{TOP - 10}"{anchor}>'
                   f"{escape(text)}</text>")  # fmt: skip
        last_end = px if anchor else px + width
    return out


def _axis(span: float, x: Callable[[float], float], y: float) -> list[str]:
    step = _step(span)
    out = [f'<line class="axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y}" y2="{y}"/>']
    n = int(round(span / step))
    for i in range(n + 1):
        t = i * step
        px = x(t)
        cls = "axis-label end" if i == n else "axis-label"  # the last one ends at the edge
        out.append(f'<line class="axis" x1="{px:.1f}" x2="{px:.1f}" y1="{y}" y2="{y + 4}"/>')
        out.append(f'<text class="{cls}" x="{px:.1f}" y="{y + 15}">{_tick(t, step)}</text>')
    return out


def _step(span: float) -> float:
    raw = span / 8
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1.0, 2.0, 5.0, 10.0):
        if raw <= m * mag:
            return float(m * mag)
    return float(10 * mag)


def _nice_span(duration: float) -> float:
    step = _step(duration)
    return max(step, math.ceil(duration / step - 1e-9) * step)


def _tick(t: float, step: float) -> str:
    if step < 1:
        return f"{t * 1000:.0f} ms"
    return f"{t:g} s"
