"""OpenAI Responses API SSE -> IR stream events (the encoder is in :mod:`responses_stream_encoder`).

The grammar: ``response.created`` (then ``in_progress``); per output item ``output_item.added``,
its content (message: ``content_part.added`` / ``output_text.delta``* / ``output_text.done`` /
``content_part.done``; reasoning: ``reasoning_summary_part.added`` /
``reasoning_summary_text.delta``* ...; function call: ``function_call_arguments.delta``* /
``.done``), ``output_item.done``; one terminal ``response.completed`` / ``response.incomplete`` /
``response.failed``, or an ``error`` event.

Read as plain dicts (the hot path), tolerant of what Responses-compatible servers leave out: a
text delta without its ``content_part.added``, arguments only in ``.done`` (LM Studio), text only
in the ``.done`` events or the finished item. Each output item is one IR part (a message: one per
content part), in output order; reasoning summary parts are joined by a blank line; hosted tool
calls (``web_search_call`` ...) are dropped with a Note. Events of unknown types are ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, assert_never

from recorder import ir
from recorder.codecs.openai_common import error_info_from_obj
from recorder.codecs.responses_common import (
    reasoning_to_ir,
    signature_of_item,
    stop_reason_to_ir,
    usage_to_ir,
)
from recorder.codecs.stream_json import loads, quick_loads
from recorder.context import Context
from recorder.errors import StreamProtocolError
from recorder.sse import SseEvent

JsonObject = dict[str, Any]
_Kind = Literal["text", "thinking", "tool"]
_TEXT_DELTA = "response.output_text.delta"


class _Item:
    """One output item of the upstream's response, by ``output_index``."""

    __slots__ = ("type", "id", "parts", "summaries")

    def __init__(self, type_: str, item_id: str | None) -> None:
        self.type = type_
        self.id = item_id
        self.parts = 0  # IR parts opened for it so far
        self.summaries = 0  # reasoning summary parts started


# Where a StreamDecoder is in the upstream's stream (matched exhaustively):
#   waiting  for the response's first event
#   reading  the response started: its MessageStart went out
#   ended    a terminal event, an error, or the end of input: nothing more is read
Stage = Literal["waiting", "reading", "ended"]


# How far the open part got, or the last part once it is closed (matched exhaustively):
#   empty     opened, no delta yet
#   streamed  a delta came (thinking: in an earlier summary part)
#   segment   thinking: a delta came in the current summary part
Fill = Literal["empty", "streamed", "segment"]


class StreamDecoder:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._stage: Stage = "waiting"
        self._next = 0  # index of the next IR part
        self._open: _Kind | None = None
        self._open_key: tuple[int, int] = (-1, -1)  # (output_index, content_index) of the part
        self._fill: Fill = "empty"
        self._items: dict[int, _Item] = {}
        self._called_tool = False
        self._refused = False

    # ------------------------------------------------------------------ public

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
        data = ev.data
        if not data:
            return []
        try:
            d = loads(data)
        except ValueError as e:
            raise StreamProtocolError(f"Responses stream event is not JSON: {data[:120]!r}") from e
        if not isinstance(d, dict):
            raise StreamProtocolError(f"Responses stream event is not an object: {data[:120]!r}")
        kind = d.get("type", ev.event)
        handler = _HANDLERS.get(kind) if isinstance(kind, str) else None
        if handler is None:
            return []
        try:
            return handler(self, d)
        except (KeyError, TypeError, AttributeError) as e:
            raise StreamProtocolError(
                f"malformed Responses {kind} event ({e!r}): {data[:200]!r}"
            ) from e

    def text_delta(self, ev: SseEvent) -> tuple[int, str] | None:
        """``(part, text)`` when ``push(ev)`` would return just ``[TextDelta(part, text)]``: an
        ``output_text.delta`` into the open text part after its first delta (most events of an
        answer). It only reads; None for anything else (the caller pushes then)."""
        match self._stage:
            case "reading":
                pass
            case "waiting" | "ended":
                return None
            case _:
                assert_never(self._stage)
        data = ev.data
        if self._open != "text" or self._fill == "empty" or not data:
            return None
        if ev.comment is not None or data[0] != "{":
            return None
        try:
            d = quick_loads(data)
        except (ValueError, TypeError):
            return None
        if type(d) is not dict or d.get("type", ev.event) != _TEXT_DELTA:
            return None
        text = d.get("delta")
        if type(text) is not str or not text:
            return None
        if (d.get("output_index"), d.get("content_index", 0)) != self._open_key:
            return None
        return self._next - 1, text

    @property
    def ended(self) -> bool:
        """A terminal event (``response.completed`` / ``incomplete`` / ``failed``) or an error
        was read: nothing after it is part of the stream."""
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
        err = ir.ErrorInfo(
            kind="api_error", message="upstream stream ended before response.completed"
        )
        return [ir.StreamError(err)]

    # ------------------------------------------------------------------ parts

    def _start(self, out: list[ir.StreamEvent], resp: Any = None) -> None:
        match self._stage:
            case "waiting":
                pass
            case "reading" | "ended":
                return
            case _:
                assert_never(self._stage)
        self._stage = "reading"
        resp = resp if isinstance(resp, dict) else {}
        resp_id = resp.get("id")
        model = resp.get("model")
        out.append(
            ir.MessageStart(
                resp_id if isinstance(resp_id, str) and resp_id else self._ctx.ids.make("resp_"),
                model if isinstance(model, str) and model else self._ctx.requested_model or "",
            )
        )

    def _open_part(
        self, kind: _Kind, part: ir.Part, key: tuple[int, int], out: list[ir.StreamEvent]
    ) -> int:
        self._close(out)
        self._start(out)
        index = self._next
        self._next += 1
        self._open, self._open_key, self._fill = kind, key, "empty"
        out.append(ir.PartStart(index, part))
        item = self._items.get(key[0])
        if item is not None:
            item.parts += 1
        return index

    def _close(self, out: list[ir.StreamEvent]) -> None:
        if self._open is not None:
            out.append(ir.PartStop(self._next - 1))
            self._open = None

    def _item(self, d: JsonObject) -> _Item:
        index = d["output_index"]
        item = self._items.get(index)
        if item is None:  # an event for an item never announced: the server skipped .added
            item = self._items[index] = _Item("message", d.get("item_id"))
        return item

    def _text(self, d: JsonObject, text: str, out: list[ir.StreamEvent]) -> None:
        """Text for the content part ``d`` points at, opening it if the server did not."""
        key = (d["output_index"], d.get("content_index", 0))
        if self._open != "text" or self._open_key != key:
            self._item(d)
            self._open_part("text", ir.TextPart(""), key, out)
        if text:
            self._fill = "streamed"
            out.append(ir.TextDelta(self._next - 1, text))

    def _thinking(self, d: JsonObject, text: str, out: list[ir.StreamEvent]) -> None:
        key = (d["output_index"], 0)
        if self._open != "thinking" or self._open_key != key:
            self._item(d).type = "reasoning"
            self._open_part("thinking", ir.ThinkingPart(""), key, out)
        if text:
            self._fill = "segment"
            out.append(ir.ThinkingDelta(self._next - 1, text))

    def _args(self, d: JsonObject, js: str, out: list[ir.StreamEvent]) -> None:
        if self._open != "tool" or self._open_key[0] != d["output_index"]:
            raise StreamProtocolError(f"arguments for output {d['output_index']}, not an open call")
        if js:
            self._fill = "streamed"
            out.append(ir.ToolArgsDelta(self._next - 1, js))

    # ------------------------------------------------------------------ handlers

    def _lifecycle(self, d: JsonObject) -> list[ir.StreamEvent]:
        out: list[ir.StreamEvent] = []
        self._start(out, d.get("response"))
        return out

    def _item_added(self, d: JsonObject) -> list[ir.StreamEvent]:
        index, raw = d["output_index"], d["item"]
        itype = _str(raw["type"])
        item = self._items[index] = _Item(itype, raw.get("id"))
        out: list[ir.StreamEvent] = []
        self._start(out)
        if itype == "reasoning":
            self._thinking(d, "", out)
        elif itype in ("function_call", "custom_tool_call"):
            self._called_tool = True
            kind: Literal["function", "custom"] = (
                "custom" if itype == "custom_tool_call" else "function"
            )
            call = ir.ToolCallPart(_str(raw["call_id"]), _str(raw["name"]), "", kind=kind)
            self._open_part("tool", call, (index, 0), out)
            initial = raw.get("input" if kind == "custom" else "arguments")
            if isinstance(initial, str) and initial:
                self._args(d, initial, out)
        elif itype == "message":
            self._close(out)
        else:
            self._close(out)
            item.type = "hosted"
        return out

    def _part_added(self, d: JsonObject) -> list[ir.StreamEvent]:
        ptype = d["part"]["type"]
        out: list[ir.StreamEvent] = []
        if ptype in ("output_text", "refusal"):
            self._refused |= ptype == "refusal"
            self._text(d, "", out)
        return out

    def _text_delta(self, d: JsonObject) -> list[ir.StreamEvent]:
        out: list[ir.StreamEvent] = []
        self._text(d, _str(d["delta"]), out)
        return out

    def _refusal_delta(self, d: JsonObject) -> list[ir.StreamEvent]:
        self._refused = True
        return self._text_delta(d)

    def _text_done(self, d: JsonObject) -> list[ir.StreamEvent]:
        out: list[ir.StreamEvent] = []
        key = (d["output_index"], d.get("content_index", 0))
        if not (self._open == "text" and self._open_key == key and self._fill != "empty"):
            self._text(d, _str(d.get("text", d.get("refusal", ""))), out)  # only here
        return out

    def _part_done(self, d: JsonObject) -> list[ir.StreamEvent]:
        out: list[ir.StreamEvent] = []
        key = (d["output_index"], d.get("content_index", 0))
        part = d.get("part") or {}
        if part.get("type") in ("output_text", "refusal"):
            if not (self._open == "text" and self._open_key == key):
                text = part.get("text", part.get("refusal", ""))
                self._text(d, _str(text), out)  # a server that sent the text only here
            self._close(out)
        return out

    def _annotation(self, d: JsonObject) -> list[ir.StreamEvent]:
        if self._open != "text":
            return []
        return [ir.OpaqueDelta(self._next - 1, "responses", d)]

    def _summary_part(self, d: JsonObject) -> list[ir.StreamEvent]:
        out: list[ir.StreamEvent] = []
        item = self._item(d)
        item.summaries += 1
        self._thinking(d, "", out)
        match self._fill:  # a new summary part: its segment has no delta yet
            case "segment" | "streamed":
                if item.summaries > 1:
                    # summaries are joined by a blank line into the one thinking part
                    out.append(ir.ThinkingDelta(self._next - 1, "\n\n"))
                self._fill = "streamed"
            case "empty":
                pass
            case _:
                assert_never(self._fill)
        return out

    def _thinking_delta(self, d: JsonObject) -> list[ir.StreamEvent]:
        out: list[ir.StreamEvent] = []
        self._thinking(d, _str(d["delta"]), out)
        return out

    def _thinking_done(self, d: JsonObject) -> list[ir.StreamEvent]:
        out: list[ir.StreamEvent] = []
        key = (d["output_index"], 0)
        if not (self._open == "thinking" and self._open_key == key and self._fill == "segment"):
            self._thinking(d, _str(d.get("text", "")), out)
        return out

    def _args_delta(self, d: JsonObject) -> list[ir.StreamEvent]:
        out: list[ir.StreamEvent] = []
        self._args(d, _str(d["delta"]), out)
        return out

    def _args_done(self, d: JsonObject) -> list[ir.StreamEvent]:
        out: list[ir.StreamEvent] = []
        if self._fill == "empty":  # arguments only in .done (LM Studio, some vLLM versions)
            key = (
                "input" if d.get("type") == "response.custom_tool_call_input.done" else "arguments"
            )
            self._args(d, _str(d.get(key, "")), out)
        return out

    def _item_done(self, d: JsonObject) -> list[ir.StreamEvent]:
        index, raw = d["output_index"], d["item"]
        itype = _str(raw["type"])
        item = self._items.get(index)
        out: list[ir.StreamEvent] = []
        self._start(out)
        if itype == "message":
            self._message_done(index, raw, item, out)
        elif itype == "reasoning":
            self._reasoning_done(d, raw, out)
        elif itype in ("function_call", "custom_tool_call"):
            if item is None or item.parts == 0:  # no .added: the whole call arrives here
                out += self._item_added(d)
            if self._fill == "empty":
                field = "input" if itype == "custom_tool_call" else "arguments"
                args = raw.get(field)
                if isinstance(args, str):
                    self._args(d, args, out)
            self._close(out)
        else:
            self._close(out)
            self._ctx.note(f"output[{index}]", f"{itype} item (run by OpenAI) dropped")
        return out

    def _message_done(
        self, index: int, raw: JsonObject, item: _Item | None, out: list[ir.StreamEvent]
    ) -> None:
        if self._open == "text" and self._open_key[0] == index:
            self._close(out)
        if item is not None and item.parts:
            return
        for k, part in enumerate(raw.get("content") or []):  # a message sent only whole
            if isinstance(part, dict) and part.get("type") in ("output_text", "refusal"):
                self._refused |= part["type"] == "refusal"
                text = part.get("text", part.get("refusal", ""))
                self._text({"output_index": index, "content_index": k}, _str(text), out)
                self._close(out)

    def _reasoning_done(self, d: JsonObject, raw: JsonObject, out: list[ir.StreamEvent]) -> None:
        index = d["output_index"]
        if not (self._open == "thinking" and self._open_key[0] == index):
            self._thinking(d, "", out)
        if self._fill == "empty":  # summaries or reasoning text sent only in the finished item
            texts = [c.get("text", "") for c in raw.get("content") or [] if isinstance(c, dict)]
            texts = texts or [
                s.get("text", "") for s in raw.get("summary") or [] if isinstance(s, dict)
            ]
            self._thinking(d, "\n\n".join(_str(t) for t in texts), out)
        encrypted = raw.get("encrypted_content")
        whole = reasoning_to_ir(
            raw.get("id"), "", encrypted if isinstance(encrypted, str) else None
        )
        if isinstance(whole, ir.RedactedThinkingPart):
            # Anthropic redacted thinking that went through a Responses client and back
            self._ctx.note(f"output[{index}]", "redacted thinking inside a reasoning item dropped")
        else:
            signature = signature_of_item(
                raw.get("id"), encrypted if isinstance(encrypted, str) else None
            )
            if signature:
                out.append(ir.SignatureDelta(self._next - 1, signature))
        self._close(out)

    def _terminal(self, d: JsonObject) -> list[ir.StreamEvent]:
        resp = d.get("response") or {}
        out: list[ir.StreamEvent] = []
        self._start(out, resp)  # a response whose terminal event is its first
        self._stage = "ended"
        self._close(out)
        usage = resp.get("usage")
        if isinstance(usage, dict):
            out.append(ir.UsageUpdate(usage_to_ir(usage)))
        status = resp.get("status") or d["type"].removeprefix("response.")
        reason = stop_reason_to_ir(
            status,
            resp.get("incomplete_details"),
            called_tool=self._called_tool,
            refused=self._refused,
            ctx=self._ctx,
            path="response",
        )
        out.append(ir.Finish(reason))
        return out

    def _failed(self, d: JsonObject) -> list[ir.StreamEvent]:
        self._stage = "ended"
        resp = d.get("response") or {}
        err = resp.get("error")
        info = error_info_from_obj(err if isinstance(err, dict) else {}, None)
        if not isinstance(err, dict):
            info.message = "upstream response failed"
        return [ir.StreamError(info)]

    def _error(self, d: JsonObject) -> list[ir.StreamEvent]:
        self._stage = "ended"
        err = d.get("error")
        info = error_info_from_obj(err if isinstance(err, dict) else d, None)
        return [ir.StreamError(info)]


_Handler = Callable[[StreamDecoder, JsonObject], list[ir.StreamEvent]]
_HANDLERS: dict[str, _Handler] = {
    "response.created": StreamDecoder._lifecycle,
    "response.in_progress": StreamDecoder._lifecycle,
    "response.queued": StreamDecoder._lifecycle,
    "response.output_item.added": StreamDecoder._item_added,
    "response.content_part.added": StreamDecoder._part_added,
    "response.output_text.delta": StreamDecoder._text_delta,
    "response.refusal.delta": StreamDecoder._refusal_delta,
    "response.output_text.done": StreamDecoder._text_done,
    "response.refusal.done": StreamDecoder._text_done,
    "response.content_part.done": StreamDecoder._part_done,
    "response.output_text.annotation.added": StreamDecoder._annotation,
    "response.reasoning_summary_part.added": StreamDecoder._summary_part,
    "response.reasoning_summary_text.delta": StreamDecoder._thinking_delta,
    "response.reasoning_text.delta": StreamDecoder._thinking_delta,
    "response.reasoning_summary_text.done": StreamDecoder._thinking_done,
    "response.reasoning_text.done": StreamDecoder._thinking_done,
    "response.function_call_arguments.delta": StreamDecoder._args_delta,
    "response.custom_tool_call_input.delta": StreamDecoder._args_delta,
    "response.function_call_arguments.done": StreamDecoder._args_done,
    "response.custom_tool_call_input.done": StreamDecoder._args_done,
    "response.output_item.done": StreamDecoder._item_done,
    "response.completed": StreamDecoder._terminal,
    "response.incomplete": StreamDecoder._terminal,
    "response.failed": StreamDecoder._failed,
    "error": StreamDecoder._error,
}


def _str(v: Any) -> str:
    if not isinstance(v, str):
        raise TypeError(f"expected a string, got {type(v).__name__}")
    return v
