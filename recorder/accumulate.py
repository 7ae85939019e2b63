"""IR stream events -> the IR response they add up to. Pure.

A stream decoder (any dialect's) turns wire events into IR events; this folds them back into
one :class:`recorder.ir.Response`, the same value a non-streamed answer reads as. Deltas extend
the part their ``PartStart`` opened (a copy: the event's own part is left untouched).
"""

from __future__ import annotations

from dataclasses import replace
from typing import assert_never

from recorder import ir


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
