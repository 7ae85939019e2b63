"""Anthropic Messages SSE -> IR stream events (re-exported by ``recorder.codecs.anthropic``;
the other direction is ``anthropic_stream_encoder``).

The grammar (gateways.md §2.1): one ``message_start``; then content blocks, each
``content_block_start`` / ``content_block_delta``* / ``content_block_stop``, never interleaved,
``index`` = position in the final ``content``; ``ping`` anywhere; one ``message_delta`` (stop
reason + cumulative usage); ``message_stop``. ``event: error`` may end the stream instead.

This is the hot path, so events are read with ``stream_json.loads`` (``json.loads``, faster) and
dispatched on ``type`` rather than validated with the wire models; a shape that doesn't fit
raises StreamProtocolError.
Data JSON carries random whitespace padding in real traffic: it is parsed, never compared.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, assert_never

from recorder import ir
from recorder.codecs.anthropic_errors import detail_to_ir
from recorder.codecs.anthropic_parts import dump_args, stop_reason_to_ir, usage_to_ir
from recorder.codecs.stream_json import loads, quick_loads
from recorder.context import Context
from recorder.errors import StreamProtocolError
from recorder.sse import SseEvent

JsonObject = dict[str, Any]


# Where a stream is, as its decoder reads it (matched exhaustively):
#   waiting  for its message_start
#   reading  its message came
#   ended    message_stop, an error, or the end of input: nothing more is read
Stage = Literal["waiting", "reading", "ended"]


class StreamDecoder:
    """Anthropic SSE events -> IR stream events.

    Policy: unknown event types are ignored (Anthropic's versioning policy says new ones may be
    added); unknown block types become OpaquePart and their deltas OpaqueDelta. Anything after
    ``message_stop`` or ``error`` is ignored. Upstream indices are renumbered in arrival order,
    so the IR index is always the part's final position.
    """

    __slots__ = (
        "_ctx",
        "_stage",
        "_next",
        "_open",
        "_open_ir",
        "_open_kind",
        "_usage",
        "_seen",
    )

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._stage: Stage = "waiting"
        self._next = 0
        self._open: int | None = None  # wire index of the open block
        self._open_ir = 0
        self._open_kind = ""  # text | thinking | tool | whole
        self._usage: JsonObject = {}  # cumulative Anthropic usage, merged field by field
        self._seen: set[int] = set()

    def push(self, ev: SseEvent) -> list[ir.StreamEvent]:
        if ev.comment is not None:
            return [ir.KeepAlive()]
        match self._stage:
            case "reading" | "waiting":
                pass
            case "ended":
                return []
            case _:
                assert_never(self._stage)
        if not ev.data:
            return []
        try:
            d = loads(ev.data)
        except ValueError as e:
            raise StreamProtocolError(
                f"Anthropic stream event is not JSON: {ev.data[:200]!r}"
            ) from e
        if not isinstance(d, dict):
            raise StreamProtocolError(f"Anthropic stream event is not an object: {ev.data[:200]!r}")
        kind = d.get("type", ev.event)
        if not isinstance(kind, str):
            raise StreamProtocolError(f"Anthropic stream event type is not a string: {kind!r}")
        handler = _HANDLERS.get(kind)
        if handler is None:
            return []
        try:
            return handler(self, d)
        except (KeyError, TypeError, AttributeError, ValueError) as e:
            raise StreamProtocolError(
                f"malformed Anthropic {kind} event ({e!r}): {ev.data[:200]!r}"
            ) from e

    def text_delta(self, ev: SseEvent) -> tuple[int, str] | None:
        """``(part, text)`` when ``push(ev)`` would return just ``[TextDelta(part, text)]``: a
        ``text_delta`` into the open text block (most events of an answer). None for anything
        else. It only reads: such an event changes no state, so a caller may use it instead of
        ``push`` (the translator's fast path) and falls back to ``push`` on None.
        """
        match self._stage:
            case "reading":
                pass
            case "waiting" | "ended":  # no block is open / nothing more is read
                return None
            case _:
                assert_never(self._stage)
        data = ev.data
        if self._open_kind != "text" or self._open is None or not data:
            return None
        if ev.comment is not None:
            return None
        try:
            d = quick_loads(data)
        except (ValueError, TypeError):
            return None  # push decides, and raises if the text is not JSON
        if type(d) is not dict or d.get("type", ev.event) != "content_block_delta":
            return None
        delta = d.get("delta")
        if type(delta) is not dict or delta.get("type") != "text_delta":
            return None
        text = delta.get("text")
        if type(text) is not str or not text or d.get("index") != self._open:
            return None
        return self._open_ir, text

    @property
    def ended(self) -> bool:
        """The stream's terminal event (``message_stop`` or ``error``) was read: nothing after
        it is part of the stream."""
        return self._stage == "ended"

    def finish(self) -> list[ir.StreamEvent]:
        match self._stage:
            case "reading" | "waiting":
                pass
            case "ended":
                return []
            case _:
                assert_never(self._stage)
        self._stage = "ended"
        err = ir.ErrorInfo(kind="api_error", message="upstream stream ended before message_stop")
        return [ir.StreamError(err)]

    # ----------------------------------------------------------------- handlers

    def _message_start(self, d: JsonObject) -> list[ir.StreamEvent]:
        match self._stage:
            case "waiting":
                pass
            case "reading" | "ended":
                raise StreamProtocolError("Anthropic stream sent a second message_start")
            case _:
                assert_never(self._stage)
        self._stage = "reading"
        msg = d["message"]
        self._usage = dict(msg.get("usage") or {})
        return [ir.MessageStart(_str(msg["id"]), _str(msg["model"]), usage_to_ir(self._usage))]

    def _block_start(self, d: JsonObject) -> list[ir.StreamEvent]:
        index, block = d["index"], d["content_block"]
        if self._open is not None:
            raise StreamProtocolError(f"block {index} started while block {self._open} is open")
        if index in self._seen:
            raise StreamProtocolError(f"block {index} started twice")
        self._seen.add(index)
        i = self._next
        self._next += 1
        self._open, self._open_ir = index, i
        btype = block["type"]
        rest = {k: v for k, v in block.items() if k not in _START_KEYS.get(btype, ())}
        out: list[ir.StreamEvent]
        if btype == "text":
            self._open_kind = "text"
            out = [ir.PartStart(i, ir.TextPart("", extra=rest))]
            if block.get("text"):
                out.append(ir.TextDelta(i, _str(block["text"])))
        elif btype == "thinking":
            self._open_kind = "thinking"
            out = [ir.PartStart(i, ir.ThinkingPart("", None, rest))]
            if block.get("thinking"):
                out.append(ir.ThinkingDelta(i, _str(block["thinking"])))
            if block.get("signature"):
                out.append(ir.SignatureDelta(i, _str(block["signature"])))
        elif btype == "tool_use":
            self._open_kind = "tool"
            part = ir.ToolCallPart(_str(block["id"]), _str(block["name"]), "", extra=rest)
            out = [ir.PartStart(i, part)]
            if block.get("input"):
                out.append(ir.ToolArgsDelta(i, dump_args(block["input"])))
        elif btype == "redacted_thinking" and not rest:
            self._open_kind = "whole"
            out = [ir.PartStart(i, ir.RedactedThinkingPart(_str(block["data"])))]
        else:
            self._open_kind = "whole"
            out = [ir.PartStart(i, ir.OpaquePart("anthropic", _str(btype), block))]
        return out

    def _block_delta(self, d: JsonObject) -> list[ir.StreamEvent]:
        index, delta = d["index"], d["delta"]
        if index != self._open:
            raise StreamProtocolError(f"delta for block {index}, which is not open")
        i, kind, dtype = self._open_ir, self._open_kind, delta["type"]
        if dtype == "text_delta" and kind == "text":
            text = _str(delta["text"])
            return [ir.TextDelta(i, text)] if text else []
        if dtype == "input_json_delta" and kind == "tool":
            js = _str(delta["partial_json"])
            return [ir.ToolArgsDelta(i, js)] if js else []
        if dtype == "thinking_delta" and kind == "thinking":
            text = _str(delta["thinking"])
            return [ir.ThinkingDelta(i, text)] if text else []
        if dtype == "signature_delta" and kind == "thinking":
            return [ir.SignatureDelta(i, _str(delta["signature"]))]
        if dtype in _TYPED_DELTAS and kind != "whole":
            raise StreamProtocolError(f"{dtype} inside a {kind} block {index}")
        return [ir.OpaqueDelta(i, "anthropic", delta)]  # citations_delta, compaction_delta, ...

    def _block_stop(self, d: JsonObject) -> list[ir.StreamEvent]:
        if d["index"] != self._open:
            raise StreamProtocolError(f"stop for block {d['index']}, which is not open")
        self._open = None
        return [ir.PartStop(self._open_ir)]

    def _message_delta(self, d: JsonObject) -> list[ir.StreamEvent]:
        usage = d.get("usage")
        if isinstance(usage, dict):
            self._usage.update(usage)
        out: list[ir.StreamEvent] = [ir.UsageUpdate(usage_to_ir(self._usage))]
        delta = d.get("delta") or {}
        for key, value in delta.items():
            if key not in ("stop_reason", "stop_sequence") and value is not None:
                self._ctx.note(f"message_delta.delta.{key}", "no IR equivalent; dropped")
        if delta.get("stop_reason") is not None:
            sr = stop_reason_to_ir(
                _str(delta["stop_reason"]), self._ctx, "message_delta.delta.stop_reason"
            )
            out.append(ir.Finish(sr, delta.get("stop_sequence")))
        return out

    def _message_stop(self, d: JsonObject) -> list[ir.StreamEvent]:
        self._stage = "ended"
        return []

    def _ping(self, d: JsonObject) -> list[ir.StreamEvent]:
        return [ir.KeepAlive()]

    def _error(self, d: JsonObject) -> list[ir.StreamEvent]:
        self._stage = "ended"
        err = d.get("error")
        return [ir.StreamError(detail_to_ir(err if isinstance(err, dict) else {}, None))]


_Handler = Callable[[StreamDecoder, JsonObject], list[ir.StreamEvent]]
_HANDLERS: dict[str, _Handler] = {
    "message_start": StreamDecoder._message_start,
    "content_block_start": StreamDecoder._block_start,
    "content_block_delta": StreamDecoder._block_delta,
    "content_block_stop": StreamDecoder._block_stop,
    "message_delta": StreamDecoder._message_delta,
    "message_stop": StreamDecoder._message_stop,
    "ping": StreamDecoder._ping,
    "error": StreamDecoder._error,
}

# keys of a content_block_start the IR part holds; the rest rides in the part's extra
_START_KEYS: dict[str, tuple[str, ...]] = {
    "text": ("type", "text"),
    "thinking": ("type", "thinking", "signature"),
    "tool_use": ("type", "id", "name", "input"),
    "redacted_thinking": ("type", "data"),
}
_TYPED_DELTAS = frozenset({"text_delta", "input_json_delta", "thinking_delta", "signature_delta"})


def _str(v: Any) -> str:
    if not isinstance(v, str):
        raise TypeError(f"expected a string, got {type(v).__name__}")
    return v
