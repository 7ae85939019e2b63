"""IR stream events -> Anthropic Messages SSE (re-exported by ``recorder.codecs.anthropic``).

The grammar it always obeys is described in ``anthropic_stream`` (the decoder's module) and
checked in tests by ``tests.grammar.check_anthropic_stream``. Delta events are formatted from
templates rather than built as dicts: this is the per-token hot path.
"""

from __future__ import annotations

import json
from json.encoder import encode_basestring
from typing import Any, Literal, assert_never

from recorder import ir
from recorder.codecs.anthropic_errors import error_body
from recorder.codecs.anthropic_parts import (
    carry,
    message_id,
    stop_reason_from_ir,
    tool_input,
    usage_from_ir,
)
from recorder.context import Context
from recorder.errors import StreamProtocolError, UnsupportedContentError
from recorder.sse import SseEvent

JsonObject = dict[str, Any]

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
# _dumps of a str, minus a Python call: the per-token deltas use it
_json_str = encode_basestring


def _event(kind: str, data: str) -> SseEvent:
    return SseEvent(event=kind, data=data)


# Where a StreamEncoder is in the Anthropic stream's grammar (matched exhaustively):
#   fresh    nothing sent yet: a keep-alive is a comment, the next event message_start
#   started  message_start went out: blocks follow
#   closed   message_stop or an error event went out: nothing more is sent
Stage = Literal["fresh", "started", "closed"]


# The kind of the open content block: its deltas must be of that kind ("whole": none).
BlockKind = Literal["text", "thinking", "tool", "whole"]


class StreamEncoder:
    """IR stream events -> an Anthropic SSE stream that always obeys the grammar.

    Our own block counter gives the indices; ``message_delta`` and ``message_stop`` wait for
    :meth:`finish` because OpenAI's usage chunk arrives after its finish_reason. A keep-alive
    before ``message_start`` becomes an SSE comment (a ping may not open the stream). A stream
    that ends without a Finish ends with ``event: error``, never with a clean close.
    """

    __slots__ = (
        "_ctx",
        "_same",
        "_stage",
        "_next",
        "_open",
        "_open_ir",
        "_args",
        "_delta_head",
        "_tool",
        "_usage",
        "_finish",
    )

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._same = ctx.upstream == "anthropic"
        self._stage: Stage = "fresh"
        self._next = 0
        self._open: BlockKind | None = None  # kind of the open block
        self._open_ir = -1  # IR index of the open block
        self._args: list[str] = []  # the open tool call's argument fragments
        self._delta_head = ""  # a content_block_delta's JSON up to its delta, for the open block
        self._tool = ""
        self._usage = ir.Usage()
        self._finish: ir.Finish | None = None

    def push(self, ev: ir.StreamEvent) -> list[SseEvent]:
        match self._stage:
            case "started" | "fresh":
                pass
            case "closed":
                return []
            case _:
                assert_never(self._stage)
        out: list[SseEvent] = []
        match ev:
            case ir.TextDelta(index=i, text=text):
                self._expect(i, "text", "TextDelta")
                if text:
                    out.append(self._delta(f'{{"type":"text_delta","text":{_json_str(text)}}}'))
            case ir.ToolArgsDelta(index=i, json=js):
                self._expect(i, "tool", "ToolArgsDelta")
                if js:
                    self._args.append(js)
                    out.append(
                        self._delta(f'{{"type":"input_json_delta","partial_json":{_json_str(js)}}}')
                    )
            case ir.ThinkingDelta(index=i, text=text):
                self._expect(i, "thinking", "ThinkingDelta")
                if text:
                    out.append(
                        self._delta(f'{{"type":"thinking_delta","thinking":{_json_str(text)}}}')
                    )
            case ir.SignatureDelta(index=i, signature=sig):
                self._expect(i, "thinking", "SignatureDelta")
                out.append(self._delta(f'{{"type":"signature_delta","signature":{_dumps(sig)}}}'))
            case ir.PartStart():
                self._start(out)
                self._close_block(out)
                self._part_start(ev.index, ev.part, out)
            case ir.PartStop(index=i):
                if i == self._open_ir:
                    self._close_block(out)
            case ir.OpaqueDelta():
                if ev.index != self._open_ir or self._open is None:
                    raise StreamProtocolError(f"OpaqueDelta for part {ev.index}, which is not open")
                if ev.dialect == "anthropic":
                    out.append(self._delta(_dumps(ev.data)))
                else:
                    self._ctx.note(
                        f"content[{self._next - 1}]",
                        f"{ev.dialect} delta dropped: {ev.data.get('type')!r}",
                    )
            case ir.MessageStart():
                if self._stage == "fresh":  # not a second one
                    self._usage = ir.merge_usage(self._usage, ev.usage)
                    self._start(out, ev.id, ev.model)
            case ir.UsageUpdate(usage=usage):
                self._usage = ir.merge_usage(self._usage, usage)
            case ir.Finish():
                self._finish = ev
            case ir.KeepAlive():
                # a ping event may not open the stream: before message_start, a comment
                out.append(
                    _event("ping", '{"type":"ping"}')
                    if self._stage == "started"
                    else SseEvent(comment="ping")
                )
            case ir.StreamError(error=err):
                self._stage = "closed"
                out.append(_event("error", _dumps(error_body(err))))
            case _:
                assert_never(ev)
        return out

    def text_delta(self, index: int, text: str) -> SseEvent | None:
        """The one event ``push(TextDelta(index, text))`` returns for text into the open text
        block, without the dispatch (the translator's fast path; such a delta changes no
        state). None when that push would do anything else: the caller pushes then.
        """
        match self._stage:
            case "started":
                if index != self._open_ir or self._open != "text" or not text:
                    return None
                return SseEvent(
                    "content_block_delta",
                    f'{self._delta_head}{{"type":"text_delta","text":{_json_str(text)}}}}}',
                )
            case "fresh" | "closed":  # no block is open / an error left one open
                return None
            case _:
                assert_never(self._stage)

    def finish(self) -> list[SseEvent]:
        match self._stage:
            case "started":
                fresh = False
            case "fresh":
                fresh = True
            case "closed":
                return []
            case _:
                assert_never(self._stage)
        self._stage = "closed"
        if self._finish is None:
            err = ir.ErrorInfo(kind="api_error", message="upstream stream ended before it finished")
            return [_event("error", _dumps(error_body(err)))]
        out: list[SseEvent] = []
        if fresh:  # an answer with no content still opens with its message
            self._message_start(out)
        self._close_block(out)
        ctx = self._ctx
        delta = {
            "stop_reason": stop_reason_from_ir(self._finish.stop_reason, ctx, "stop_reason"),
            "stop_sequence": self._finish.stop_sequence,
        }
        usage = usage_from_ir(self._usage, ctx, "usage", self._same)
        out.append(
            _event(
                "message_delta", _dumps({"type": "message_delta", "delta": delta, "usage": usage})
            )
        )
        out.append(_event("message_stop", '{"type":"message_stop"}'))
        return out

    # ----------------------------------------------------------------- helpers

    def _expect(self, index: int, kind: str, what: str) -> None:
        if index != self._open_ir or self._open != kind:
            raise StreamProtocolError(
                f"{what} for part {index}, but the open part is {self._open_ir} ({self._open})"
            )

    def _delta(self, delta_json: str) -> SseEvent:
        return SseEvent("content_block_delta", f"{self._delta_head}{delta_json}}}")

    def _start(self, out: list[SseEvent], upstream_id: str = "", model: str = "") -> None:
        """message_start, unless it went out already."""
        match self._stage:
            case "fresh":
                self._stage = "started"
                self._message_start(out, upstream_id, model)
            case "started" | "closed":
                pass
            case _:
                assert_never(self._stage)

    def _message_start(self, out: list[SseEvent], upstream_id: str = "", model: str = "") -> None:
        ctx = self._ctx
        message: JsonObject = {
            "id": message_id(upstream_id, ctx),
            "type": "message",
            "role": "assistant",
            "model": model or ctx.requested_model or "",
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage_from_ir(self._usage, ctx, "usage", self._same),
        }
        out.append(_event("message_start", _dumps({"type": "message_start", "message": message})))

    def _part_start(self, ir_index: int, part: ir.Part, out: list[SseEvent]) -> None:
        path = f"content[{self._next}]"
        kind: BlockKind
        block: JsonObject
        follow: list[str] = []  # deltas for a part that arrives with content
        match part:
            case ir.TextPart():
                kind, block = "text", {"type": "text", "text": ""}
                if part.text:
                    follow.append(f'{{"type":"text_delta","text":{_dumps(part.text)}}}')
                carry(block, part.extra, self._ctx, path, self._same)
            case ir.ThinkingPart():
                kind, block = "thinking", {"type": "thinking", "thinking": "", "signature": ""}
                if part.text:
                    follow.append(f'{{"type":"thinking_delta","thinking":{_dumps(part.text)}}}')
                if part.signature:
                    follow.append(
                        f'{{"type":"signature_delta","signature":{_dumps(part.signature)}}}'
                    )
                carry(block, part.extra, self._ctx, path, self._same)
            case ir.ToolCallPart():
                kind = "tool"
                block = {
                    "type": "tool_use",
                    "id": part.id or self._ctx.ids.make("toolu_"),
                    "name": part.name,
                    "input": {},
                }
                carry(block, part.extra, self._ctx, path, self._same)
                self._tool, self._args = part.name, []
                if part.arguments:
                    self._args.append(part.arguments)
                    follow.append(
                        f'{{"type":"input_json_delta","partial_json":{_dumps(part.arguments)}}}'
                    )
            case ir.RedactedThinkingPart():
                kind, block = "whole", {"type": "redacted_thinking", "data": part.data}
            case ir.OpaquePart(dialect="anthropic"):
                kind, block = "whole", dict(part.data)
            case ir.OpaquePart() | ir.ImagePart() | ir.DocumentPart() | ir.ToolResultPart():
                raise UnsupportedContentError(
                    f"{path}: an Anthropic response cannot hold {type(part).__name__}"
                )
        index = self._next
        self._next += 1
        self._open, self._open_ir = kind, ir_index
        self._delta_head = f'{{"type":"content_block_delta","index":{index},"delta":'
        out.append(
            _event(
                "content_block_start",
                _dumps({"type": "content_block_start", "index": index, "content_block": block}),
            )
        )
        out.extend(self._delta(js) for js in follow)

    def _close_block(self, out: list[SseEvent]) -> None:
        if self._open is None:
            return
        if self._open == "tool":
            # a client parses the arguments at the end; broken JSON is a clear error here
            tool_input("".join(self._args), f"tool call {self._tool!r}")
        self._open = None
        out.append(
            _event(
                "content_block_stop", f'{{"type":"content_block_stop","index":{self._next - 1}}}'
            )
        )
