"""IR stream events -> the IR response they add up to. Pure.

A stream decoder (any dialect's) turns wire events into IR events; this folds them back into
one :class:`recorder.ir.Response`, the same value a non-streamed answer reads as. Deltas extend
the part their ``PartStart`` opened (a copy: the event's own part is left untouched).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any, assert_never

from recorder import ir
from recorder.codecs.base import StreamDecoder
from recorder.errors import TranslationError

# What a decoder raises on a frame it cannot read (RecursionError: absurdly deep JSON).
UNREADABLE = (TranslationError, ValueError, TypeError, KeyError, RecursionError)


class Accumulator:
    """``push`` every IR event of one stream, then read :meth:`response` and :attr:`error`."""

    __slots__ = ("id", "model", "parts", "stop_reason", "stop_sequence", "usage", "error")

    def __init__(self) -> None:
        self.id: str | None = None
        self.model: str | None = None
        self.parts: dict[int, ir.Part] = {}
        self.stop_reason: ir.StopReason | None = None
        self.stop_sequence: str | None = None
        self.usage: ir.Usage | None = None
        self.error: ir.ErrorInfo | None = None

    def push(self, ev: ir.StreamEvent) -> None:
        match ev:
            case ir.MessageStart(id=id_, model=model, usage=usage):
                self.id, self.model = id_ or self.id, model or self.model
                self._usage(usage)
            case ir.PartStart(index=i, part=part):
                self.parts[i] = replace(part)
            case ir.TextDelta(index=i, text=text):
                text_part = self.parts.setdefault(i, ir.TextPart(""))
                if isinstance(text_part, ir.TextPart):
                    text_part.text += text
            case ir.ThinkingDelta(index=i, text=text):
                thinking = self.parts.setdefault(i, ir.ThinkingPart(""))
                if isinstance(thinking, ir.ThinkingPart):
                    thinking.text += text
            case ir.SignatureDelta(index=i, signature=sig):
                signed = self.parts.get(i)
                if isinstance(signed, ir.ThinkingPart):
                    signed.signature = (signed.signature or "") + sig
            case ir.ToolArgsDelta(index=i, json=fragment):
                call = self.parts.get(i)
                if isinstance(call, ir.ToolCallPart):
                    call.arguments += fragment
            case ir.OpaqueDelta(index=i, data=data):
                other = self.parts.get(i)
                if other is not None and not isinstance(
                    other, ir.OpaquePart | ir.RedactedThinkingPart
                ):
                    other.extra.setdefault("deltas", []).append(data)
            case ir.UsageUpdate(usage=usage):
                self._usage(usage)
            case ir.Finish(stop_reason=stop, stop_sequence=seq):
                self.stop_reason, self.stop_sequence = stop, seq
            case ir.StreamError(error=err):
                self.error = err
            case ir.PartStop() | ir.KeepAlive():
                pass
            case _:
                assert_never(ev)

    def _usage(self, usage: ir.Usage) -> None:
        self.usage = usage if self.usage is None else ir.merge_usage(self.usage, usage)

    def response(self) -> ir.Response | None:
        """The answer so far; None when the stream carried nothing of one."""
        if self.id is None and self.model is None and not self.parts:
            return None
        return ir.Response(
            id=self.id or "",
            model=self.model or "",
            content=[self.parts[i] for i in sorted(self.parts)],
            stop_reason=self.stop_reason,
            stop_sequence=self.stop_sequence,
            usage=self.usage or ir.Usage(),
        )


@dataclass(slots=True)
class Folded:
    """A recorded stream read through its codec's decoder and added up."""

    response: ir.Response | None
    acc: Accumulator
    error: ir.ErrorInfo | None = None  # the stream's own error event
    incomplete: str | None = None  # the decoder's verdict on a stream without its end
    problems: list[tuple[int | None, Exception]] = field(default_factory=list)  # frame, why


def fold(
    decoder: StreamDecoder[Any],
    frames: Iterable[Any],
    seen: Callable[[int, list[ir.StreamEvent]], None] | None = None,
) -> Folded:
    """``frames`` (one response's stream) through ``decoder``, added up; ``seen(i, events)``
    hears what each frame decoded to. A frame the decoder refuses is a problem, skipped: a
    recording is read as far as it can be, never refused."""
    # The codec's recogniser of a plain text delta (the bulk of an answer): it reads the frame
    # without the decoder's state machine, as the gateway's fast path does.
    text_delta = decoder.text_delta
    acc = Accumulator()
    problems: list[tuple[int | None, Exception]] = []
    for i, frame in enumerate(frames):
        delta = text_delta(frame)
        evs: list[ir.StreamEvent]
        if delta is not None:
            evs = [ir.TextDelta(*delta)]
        else:
            try:
                evs = decoder.push(frame)
            except UNREADABLE as e:
                problems.append((i, e))
                evs = []
        for ev in evs:
            acc.push(ev)
        if seen is not None:
            seen(i, evs)
    out = Folded(None, acc, acc.error, problems=problems)
    try:
        tail = decoder.finish()
    except UNREADABLE as e:
        problems.append((None, e))
        tail = []
    for ev in tail:
        if isinstance(ev, ir.StreamError):
            out.incomplete = out.incomplete or ev.error.message
        else:
            acc.push(ev)
    out.response = acc.response()
    return out
