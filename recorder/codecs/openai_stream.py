"""OpenAI Chat Completions stream chunks -> IR stream events (the encoder is in
:mod:`openai_stream_encoder`).

The decoder reads each chunk with ``stream_json.loads`` (``json.loads``, faster) and plain dict
access (no pydantic models per chunk: the stream path is benchmarked) and is deliberately
tolerant of the provider quirks seen in real traffic, each handled at one named place:

* Azure's first chunk (``choices: []``, empty id/model), vLLM's ``choices: null``;
* ``reasoning_content`` (DeepSeek, vLLM) / ``reasoning`` (OpenRouter, Groq) / inline ``<think>``;
* one chunk mixing reasoning, text, tool calls and ``finish_reason`` (split in that order);
* tool calls by ``index`` whose name (and id) may arrive after their first argument fragments,
  whole calls without ``index`` (Mistral: a new ``id`` is a new call), a fragment for a call
  that was already closed (an explicit StreamProtocolError, never a silent merge);
* usage after ``finish_reason`` (``choices: []``), usage on every chunk (the last wins), Groq's
  ``x_groq.usage``; ``finish_reason`` repeated (OpenRouter: only the first counts);
* SSE comments (``: OPENROUTER PROCESSING``) -> KeepAlive; an ``error`` chunk inside a 200
  stream (OpenRouter) or ``event: error`` (Groq) -> StreamError.
"""

from __future__ import annotations

from typing import Any, Literal, assert_never

from recorder import ir
from recorder.codecs.openai_common import (
    compact,
    error_info_from_obj,
    finish_reason_to_ir,
    usage_to_ir,
)
from recorder.codecs.stream_json import loads, quick_loads
from recorder.codecs.think_tags import ThinkTagSplitter
from recorder.context import Context
from recorder.errors import StreamProtocolError
from recorder.sse import SseEvent

_DONE = "[DONE]"


class _Call:
    """One streamed tool call: buffered until its name is known, then an open IR part."""

    __slots__ = ("id", "name", "pending", "part", "stopped", "label")

    def __init__(self, call_id: str | None, label: str) -> None:
        self.id = call_id
        self.name: str | None = None
        self.pending = ""  # argument fragments that arrived before the name
        self.part: int | None = None  # IR part index once started
        self.stopped = False
        self.label = label  # for error messages: "index 1" / "id call_x"


# Where a stream is, as its decoder reads it (matched exhaustively):
#   waiting   nothing started the message yet (no id, content or usage came): content may come
#   reading   its MessageStart went out: its content comes
#   finished  its finish_reason came: usage and [DONE] may follow, no content
#   finished_unstarted  its finish_reason came first, before anything started the message (a
#             chunk with an id, or usage, still starts it)
#   ended     [DONE], an error, or the end of input: nothing more is read
Stage = Literal["waiting", "reading", "finished", "finished_unstarted", "ended"]


class StreamDecoder:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._id: str | None = None
        self._model: str | None = None
        self._next = 0  # index of the next IR part
        self._open: Literal["text", "thinking", "tool"] | None = None
        self._open_call: _Call | None = None
        self._think = ThinkTagSplitter()
        self._calls: list[_Call] = []
        self._by_index: dict[int, _Call] = {}
        self._by_id: dict[str, _Call] = {}
        self._refused = False
        self._stage: Stage = "waiting"
        self._noted_choices: set[int] = set()

    # ------------------------------------------------------------------ public

    def push(self, ev: SseEvent) -> list[ir.StreamEvent]:
        if ev.comment is not None:
            return [ir.KeepAlive()]
        match self._stage:
            case "reading" | "waiting" | "finished" | "finished_unstarted":
                pass
            case "ended":
                return []  # OpenRouter sends [DONE] after its error chunk: ignored
            case _:
                assert_never(self._stage)
        data = ev.data
        if not data:
            return []
        # "{...}" is a chunk: only other text needs the (stripping) [DONE] test
        if data[0] != "{" and (data == _DONE or data.strip() == _DONE):
            return self._done()
        try:
            chunk = loads(data)
        except ValueError as e:
            raise StreamProtocolError(f"OpenAI stream chunk is not JSON: {data[:120]!r}") from e
        if not isinstance(chunk, dict):
            raise StreamProtocolError(f"OpenAI stream chunk is not an object: {data[:120]!r}")
        if ev.event == "error" or chunk.get("error") is not None:
            return self._error(chunk)
        return self._chunk(chunk)

    def text_delta(self, ev: SseEvent) -> tuple[int, str] | None:
        """``(part, text)`` when ``push(ev)`` would return just ``[TextDelta(part, text)]``: a
        chunk holding one choice whose delta is nothing but text for the open text part, past
        any ``<think>`` prefix (most chunks of an answer). None for anything else. It only
        reads: such a chunk changes no state, so a caller may use it instead of ``push`` (the
        translator's fast path) and falls back to ``push`` on None.
        """
        match self._stage:
            case "reading" | "waiting" | "finished" | "finished_unstarted":
                pass
            case "ended":
                return None
            case _:
                assert_never(self._stage)
        data = ev.data
        if self._open != "text" or not self._think.in_text or not data:
            return None
        if data[0] != "{" or ev.event == "error" or ev.comment is not None:
            return None
        try:
            chunk = quick_loads(data)
        except (ValueError, TypeError):
            return None  # push decides, and raises if the text is not JSON
        if type(chunk) is not dict or chunk.get("error") is not None:
            return None
        # usage (or Groq's x_groq.usage) next to the text adds a UsageUpdate: push takes it
        if chunk.get("usage") is not None or "x_groq" in chunk:
            return None
        choices = chunk.get("choices")
        if type(choices) is not list or len(choices) != 1:
            return None
        choice = choices[0]
        if (
            type(choice) is not dict
            or choice.get("index")
            or choice.get("finish_reason") is not None
        ):
            return None
        delta = choice.get("delta")
        if type(delta) is not dict or len(delta) != 1:
            return None
        text = delta.get("content")
        if type(text) is not str or not text:
            return None
        return self._next - 1, text

    @property
    def ended(self) -> bool:
        """``[DONE]`` or an error chunk was read: nothing after it is part of the stream."""
        return self._stage == "ended"

    def finish(self) -> list[ir.StreamEvent]:
        match self._stage:
            case "reading" | "waiting":
                pass
            case "finished" | "finished_unstarted":
                return []  # a finish_reason without [DONE] is a complete answer
            case "ended":
                return []
            case _:
                assert_never(self._stage)
        self._stage = "ended"
        err = ir.ErrorInfo(kind="api_error", message="upstream stream ended before [DONE]")
        return [ir.StreamError(err)]

    # ------------------------------------------------------------------ chunks

    def _chunk(self, chunk: dict[str, Any]) -> list[ir.StreamEvent]:
        out: list[ir.StreamEvent] = []
        match self._stage:
            case "reading" | "finished" | "ended":
                pass
            case "waiting" | "finished_unstarted":  # the message takes the first id and model
                cid, model = chunk.get("id"), chunk.get("model")
                if isinstance(model, str) and model:
                    self._model = model
                if isinstance(cid, str) and cid:
                    self._id = cid
                    self._start(out)
            case _:
                assert_never(self._stage)
        finish_reason: str | None = None
        choices = chunk.get("choices")
        if choices:
            if not isinstance(choices, list):
                raise StreamProtocolError(f"choices is not a list: {compact(choices)[:120]}")
            for choice in choices:
                if not isinstance(choice, dict):
                    raise StreamProtocolError(f"a choice is not an object: {compact(choice)[:120]}")
                n = choice.get("index") or 0
                if not isinstance(n, int):
                    raise StreamProtocolError(f"a choice index is not an integer: {n!r}")
                if n != 0:
                    if n not in self._noted_choices:
                        self._noted_choices.add(n)
                        self._ctx.note(f"choices[{n}]", "only the first choice is translated")
                    continue
                delta = choice.get("delta")
                if delta:
                    if not isinstance(delta, dict):
                        raise StreamProtocolError(f"delta is not an object: {compact(delta)[:120]}")
                    self._delta(delta, out)
                fr = choice.get("finish_reason")
                if fr is not None and self._content_may_come():  # OpenRouter repeats it
                    if not isinstance(fr, str):
                        raise StreamProtocolError(f"finish_reason is not a string: {fr!r}")
                    finish_reason = fr
        if finish_reason is not None:
            self._end_parts(out)
        usage = chunk.get("usage")
        if not isinstance(usage, dict):
            x_groq = chunk.get("x_groq")
            usage = x_groq.get("usage") if isinstance(x_groq, dict) else None
        if isinstance(usage, dict):
            self._start(out)
            out.append(ir.UsageUpdate(usage_to_ir(usage)))
        if finish_reason is not None:
            reason = finish_reason_to_ir(finish_reason, self._ctx, "choices[0].finish_reason")
            if reason == "end_turn" and self._refused:
                reason = "refusal"
            self._stage = "finished_unstarted" if self._stage == "waiting" else "finished"
            out.append(ir.Finish(reason))
        return out

    def _delta(self, delta: dict[str, Any], out: list[ir.StreamEvent]) -> None:
        content = delta.get("content")
        # Fast path for most chunks of an answer: text alone, into the open text part, past
        # any <think> prefix. The same result as the general path below, with less work.
        text_only = len(delta) == 1 and type(content) is str
        if text_only and self._open == "text" and self._think.in_text:
            if content:
                out.append(ir.TextDelta(self._next - 1, content))
            return
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if reasoning and isinstance(reasoning, str):
            self._flush_think(out)
            self._append("thinking", reasoning, out)
        if content and isinstance(content, str):
            think = self._think
            if think.in_text:
                self._append("text", content, out)
            else:
                for kind, text in think.push(content):
                    self._append(kind, text, out)
        refusal = delta.get("refusal")
        if refusal and isinstance(refusal, str):
            self._refused = True
            self._flush_think(out)
            self._append("text", refusal, out)
        calls = delta.get("tool_calls")
        if calls:
            if not isinstance(calls, list):
                raise StreamProtocolError(f"tool_calls is not a list: {compact(calls)[:120]}")
            self._flush_think(out)
            for frag in calls:
                self._tool(frag, out)
        legacy = delta.get("function_call")
        if legacy:
            self._flush_think(out)
            self._tool({"index": -1, "function": legacy}, out)

    # ------------------------------------------------------------------ parts

    def _start(self, out: list[ir.StreamEvent]) -> None:
        """The MessageStart, unless it went out already."""
        match self._stage:
            case "reading" | "finished" | "ended":
                return
            case "waiting":
                self._stage = "reading"
            case "finished_unstarted":
                self._stage = "finished"
            case _:
                assert_never(self._stage)
        msg_id = self._id or self._ctx.ids.make("chatcmpl-")
        model = self._model or self._ctx.requested_model or ""
        out.append(ir.MessageStart(msg_id, model))

    def _content_may_come(self) -> bool:
        """No finish_reason (nor the end) came yet."""
        match self._stage:
            case "reading" | "waiting":
                return True
            case "finished" | "finished_unstarted" | "ended":
                return False
            case _:
                assert_never(self._stage)

    def _open_part(self, part: ir.Part, out: list[ir.StreamEvent]) -> int:
        if not self._content_may_come():
            raise StreamProtocolError("OpenAI stream sent content after its finish_reason")
        self._close(out)
        self._start(out)
        index = self._next
        self._next += 1
        out.append(ir.PartStart(index, part))
        return index

    def _append(
        self, kind: Literal["text", "thinking"], text: str, out: list[ir.StreamEvent]
    ) -> None:
        if self._open != kind:
            self._open_part(ir.TextPart("") if kind == "text" else ir.ThinkingPart(""), out)
            self._open = kind
        index = self._next - 1
        out.append(ir.TextDelta(index, text) if kind == "text" else ir.ThinkingDelta(index, text))

    def _close(self, out: list[ir.StreamEvent]) -> None:
        if self._open is None:
            return
        out.append(ir.PartStop(self._next - 1))
        if self._open_call is not None:
            self._open_call.stopped = True
            self._open_call = None
        self._open = None

    def _flush_think(self, out: list[ir.StreamEvent]) -> None:
        if not self._think.in_text:
            for kind, text in self._think.flush():
                self._append(kind, text, out)

    def _end_parts(self, out: list[ir.StreamEvent]) -> None:
        self._flush_think(out)
        for call in self._calls:
            if call.part is None:
                raise StreamProtocolError(f"tool call ({call.label}) never received a name")
        self._close(out)

    def _tool(self, frag: Any, out: list[ir.StreamEvent]) -> None:
        if not isinstance(frag, dict):
            raise StreamProtocolError(f"a tool call fragment is not an object: {frag!r}")
        fn = frag.get("function") or {}
        if not isinstance(fn, dict):
            raise StreamProtocolError(f"tool call function is not an object: {compact(fn)[:120]}")
        args = fn.get("arguments")
        if args is None:
            args = ""
        elif not isinstance(args, str):  # a few servers send an object; the IR wants text
            args = compact(args)
        name = fn.get("name") or None
        call = self._resolve(frag.get("index"), frag.get("id") or None)
        if call.stopped:
            if args or (name is not None and name != call.name):
                raise StreamProtocolError(
                    f"tool call ({call.label}) received a fragment after it was closed"
                )
            return
        if call.part is None:
            call.pending += args
            if name is None:
                return  # name-less early fragment: buffered until the name arrives
            call.name = name
            call_id = call.id or self._ctx.ids.make("call_")
            call.part = self._open_part(ir.ToolCallPart(call_id, name, ""), out)
            self._open, self._open_call = "tool", call
            args, call.pending = call.pending, ""
        if args:
            out.append(ir.ToolArgsDelta(call.part, args))

    def _resolve(self, index: Any, call_id: Any) -> _Call:
        if index is not None and not isinstance(index, int):
            raise StreamProtocolError(f"tool call index is not an integer: {index!r}")
        if call_id is not None and not isinstance(call_id, str):
            raise StreamProtocolError(f"tool call id is not a string: {call_id!r}")
        if call_id is not None and call_id in self._by_id:
            return self._by_id[call_id]
        if index is not None:
            known = self._by_index.get(index)
            # Same index, no id or the same id: a continuation. A new id: a new call that reuses
            # the index (servers that send every call whole with index 0).
            if known is not None and (call_id is None or known.id is None or known.id == call_id):
                if known.id is None and call_id is not None:
                    known.id = call_id
                    self._by_id[call_id] = known
                return known
        elif call_id is None:
            if self._calls:
                return self._calls[-1]  # no index, no id: continues the latest call
        label = f"id {call_id}" if call_id is not None else f"index {index}"
        call = _Call(call_id, label)
        self._calls.append(call)
        if index is not None:
            self._by_index[index] = call
        if call_id is not None:
            self._by_id[call_id] = call
        return call

    # ------------------------------------------------------------------ terminals

    def _done(self) -> list[ir.StreamEvent]:
        match self._stage:
            case "reading" | "waiting":
                pass
            case "finished" | "finished_unstarted" | "ended":  # its Finish went out already
                self._stage = "ended"
                return []
            case _:
                assert_never(self._stage)
        out: list[ir.StreamEvent] = []
        try:
            self._end_parts(out)  # before the end: held-back text may still open a part
            self._start(out)
        finally:
            self._stage = "ended"
        reason: ir.StopReason = "tool_use" if self._calls else "end_turn"
        self._ctx.note("choices[0].finish_reason", f"[DONE] without finish_reason; sent {reason}")
        out.append(ir.Finish(reason))
        return out

    def _error(self, chunk: dict[str, Any]) -> list[ir.StreamEvent]:
        self._stage = "ended"
        err = chunk.get("error")
        if isinstance(err, dict):
            info = error_info_from_obj(err, None)
        elif isinstance(err, str) and err:
            info = ir.ErrorInfo(kind="api_error", message=err)
        else:
            info = error_info_from_obj(chunk, None)
        return [ir.StreamError(info)]
