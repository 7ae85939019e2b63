"""IR stream events gathered into one IR response, for a client that did not ask to stream."""

from __future__ import annotations

from dataclasses import replace

from recorder import ir


class Collector:
    """Feed it the events of one answer; :meth:`response` once it finished, :attr:`error` if
    it failed."""

    def __init__(self) -> None:
        self.id = ""
        self.model = ""
        self.content: list[ir.Part] = []
        self.usage = ir.Usage()
        self.stop_reason: ir.StopReason | None = None
        self.stop_sequence: str | None = None
        self.finished = False
        self.error: ir.ErrorInfo | None = None

    def push(self, ev: ir.StreamEvent) -> None:
        match ev:
            case ir.MessageStart(id=mid, model=model, usage=usage):
                self.id, self.model = mid, model
                self.usage = ir.merge_usage(self.usage, usage)
            case ir.PartStart(part=part):
                self.content.append(replace(part))
            case ir.TextDelta(index=i, text=text):
                part = self.content[i]
                assert isinstance(part, ir.TextPart)
                part.text += text
            case ir.ThinkingDelta(index=i, text=text):
                part = self.content[i]
                assert isinstance(part, ir.ThinkingPart)
                part.text += text
            case ir.SignatureDelta(index=i, signature=sig):
                part = self.content[i]
                assert isinstance(part, ir.ThinkingPart)
                part.signature = (part.signature or "") + sig
            case ir.ToolArgsDelta(index=i, json=js):
                part = self.content[i]
                assert isinstance(part, ir.ToolCallPart)
                part.arguments += js
            case ir.UsageUpdate(usage=usage):
                self.usage = ir.merge_usage(self.usage, usage)
            case ir.Finish(stop_reason=stop, stop_sequence=seq):
                self.stop_reason, self.stop_sequence = stop, seq
                self.finished = True
            case ir.StreamError(error=err):
                self.error = err
            case ir.OpaqueDelta(index=i, data=data):
                _opaque_delta(self.content[i], data)
            case ir.PartStop() | ir.KeepAlive():
                pass

    def response(self) -> ir.Response:
        return ir.Response(
            self.id, self.model, self.content, self.stop_reason, self.stop_sequence, self.usage
        )


def _opaque_delta(part: ir.Part, data: dict[str, object]) -> None:
    """Deltas the IR does not model: Anthropic citations on a text block, or kept in order on
    the block they belong to, so a non-streaming answer holds what a stream would have."""
    if isinstance(part, ir.TextPart) and data.get("type") == "citations_delta":
        part.extra.setdefault("citations", []).append(data.get("citation"))
    elif isinstance(part, ir.OpaquePart):
        part.data.setdefault("deltas", []).append(data)
    elif isinstance(part, ir.TextPart | ir.ThinkingPart | ir.ToolCallPart):
        part.extra.setdefault("deltas", []).append(data)
