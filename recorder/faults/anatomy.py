"""What each event of a recorded stream means, asked of the dialect's own codec.

The fault injector never compares dialect names: it reads the stream with the dialect's
stream decoder only (:class:`EventReader`) to learn what each event carries (message start, a
block opening, tool argument fragments, usage, the stop reason), and asks the codec what ends a
stream (``is_terminal``: the end marker drop-done leaves out) and what its mid-stream error looks
like (``error_event``). So a new dialect gets realistic faults from its codec alone.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from recorder import ir
from recorder.context import Context
from recorder.dialects import codec
from recorder.errors import TranslationError
from recorder.faults.units import split_blocks
from recorder.sse import SseEvent, SseParser, encode_text

__all__ = [
    "EventInfo",
    "EventReader",
    "FaultPoint",
    "describe",
    "end_markers",
    "error_event",
    "fault_points",
]


class EventReader:
    """Reads one stream of ``dialect`` block by block through its codec's stream decoder (no
    encoder: nothing is written, and a recording the encoder would refuse is still read)."""

    def __init__(self, dialect: ir.Dialect) -> None:
        self.dialect = dialect
        self._codec = codec(dialect)
        self._parser = SseParser()
        self._decoder = self._codec.stream_decoder(Context(dialect, dialect))
        self.broken = False  # the recording itself breaks the dialect's grammar from here on

    def push(self, block: bytes) -> tuple[list[SseEvent], list[ir.StreamEvent]]:
        """The wire events of one block and what they mean."""
        try:
            wire = self._parser.feed(block)
        except TranslationError:
            self.broken = True
            return [], []
        if self.broken:
            return wire, []
        meaning: list[ir.StreamEvent] = []
        try:
            for ev in wire:
                meaning += self._decoder.push(ev)
        except (TranslationError, RecursionError):
            self.broken = True
        return wire, meaning

    def is_terminal(self, ev: SseEvent) -> bool:
        return self._codec.is_terminal(ev)


def error_event(dialect: ir.Dialect, err: ir.ErrorInfo) -> bytes:
    """The bytes ``dialect`` sends when a stream under way fails with ``err`` (its codec says)."""
    return encode_text(codec(dialect).error_event(err)).encode()


# --------------------------------------------------------------------------- one stream, described


@dataclass(slots=True)
class EventInfo:
    number: int  # 1-based: "@K" is after event K
    end: int  # byte offset where the event ends in the stream
    label: str  # what the wire calls it: the event name, the data's "type", or the data itself
    meaning: list[ir.StreamEvent] = field(default_factory=list)
    terminal: bool = False  # the dialect's codec says it ends the stream (data: [DONE], ...)


def describe(data: bytes, dialect: ir.Dialect) -> list[EventInfo]:
    """Every event of a whole recorded stream with its meaning in the IR."""
    reader = EventReader(dialect)
    out: list[EventInfo] = []
    start = 0
    for n, end in enumerate(split_blocks(data), 1):
        wire, meaning = reader.push(data[start:end])
        terminal = bool(wire) and all(reader.is_terminal(ev) for ev in wire)
        out.append(EventInfo(n, end, _label(wire), meaning, terminal))
        start = end
    return out


def _label(wire: list[SseEvent]) -> str:
    for ev in wire:
        if ev.comment is not None:
            return f": {ev.comment}" if ev.comment else ": (keep-alive)"
        if ev.event:
            return ev.event
        data = (ev.data or "").strip()
        try:
            obj = json.loads(data)
        except ValueError:
            return data[:40] or "data"
        if isinstance(obj, dict):  # a typed event without an event line, or an OpenAI chunk
            for key in ("type", "object"):
                if isinstance(obj.get(key), str):
                    return str(obj[key])
        return "data"
    return "(blank)"


def end_markers(events: list[EventInfo]) -> set[int]:
    """Numbers of the events that end the stream, as the dialect's codec tells (OpenAI's
    ``data: [DONE]``, Anthropic's ``message_stop``, Responses' ``response.completed``): the
    last events, if they are such. Empty when the stream ends without one."""
    out: set[int] = set()
    for ev in reversed(events):
        if not ev.terminal:
            break
        out.add(ev.number)
    return out


def _has(meaning: Iterable[ir.StreamEvent], kind: type) -> bool:
    return any(isinstance(e, kind) for e in meaning)


# --------------------------------------------------------------------------- where to break it


@dataclass(frozen=True, slots=True)
class FaultPoint:
    at: int  # the "@K" of a fault there
    why: str


def fault_points(events: list[EventInfo]) -> list[FaultPoint]:
    """The places worth breaking a stream at: before anything, after the message start, at block
    boundaries, inside tool arguments and text, before the usage, the stop reason and the end
    marker. One line per place (reasons at the same place joined)."""
    total = len(events)
    found: dict[int, list[str]] = {0: ["before the first event"]} if total else {}

    def add(at: int, why: str) -> None:
        if 0 <= at <= total:
            found.setdefault(at, []).append(why)

    parts: dict[int, ir.Part] = {}
    fragments: dict[int, list[int]] = {}  # part -> numbers of the events carrying its deltas
    for ev in events:
        for m in ev.meaning:
            match m:
                case ir.MessageStart():
                    add(ev.number, "after the message start, before any content")
                case ir.PartStart(index=i, part=part):
                    parts[i] = part
                    filled = any(_delta_of(d) == i for d in ev.meaning)
                    how = "opened with its first content" if filled else "opened, nothing in it yet"
                    add(ev.number, f"{_part_name(i, part)} {how}")
                case ir.TextDelta(index=i) | ir.ThinkingDelta(index=i) | ir.ToolArgsDelta(index=i):
                    fragments.setdefault(i, [])
                    if ev.number not in fragments[i]:
                        fragments[i].append(ev.number)
                case ir.PartStop(index=i):
                    if _later_part(events, ev.number):
                        add(ev.number, f"between blocks: {_part_name(i, parts.get(i))} closed")
                case _:
                    pass
    for i, numbers in fragments.items():
        if len(numbers) < 2:
            continue
        owner = parts.get(i)
        mid = numbers[(len(numbers) - 1) // 2]
        what = "arguments" if isinstance(owner, ir.ToolCallPart) else "content"
        nth = f"{numbers.index(mid) + 1} of {len(numbers)}"
        add(mid, f"inside {_part_name(i, owner)} {what} ({nth})")
    usage = [ev.number for ev in events if _has(ev.meaning, ir.UsageUpdate)]
    finish = [ev.number for ev in events if _has(ev.meaning, ir.Finish)]
    if usage:
        add(usage[-1] - 1, "before the usage event")
    if finish:
        add(finish[0] - 1, "before the stop reason")
    markers = end_markers(events)
    if markers:
        add(min(markers) - 1, "before the end marker (drop-done leaves it out)")
    return [FaultPoint(at, "; ".join(whys)) for at, whys in sorted(found.items())]


def _delta_of(ev: ir.StreamEvent) -> int | None:
    match ev:
        case ir.TextDelta(index=i) | ir.ThinkingDelta(index=i) | ir.ToolArgsDelta(index=i):
            return i
        case _:
            return None


def _later_part(events: list[EventInfo], after: int) -> bool:
    return any(_has(ev.meaning, ir.PartStart) for ev in events[after:])


def _part_name(index: int, part: ir.Part | None) -> str:
    match part:
        case ir.ToolCallPart(name=name):
            return f"tool call {name!r} (block {index})"
        case None:
            return f"block {index}"
        case _:
            kind = type(part).__name__.removesuffix("Part").lower()
            return f"{kind} block {index}"
