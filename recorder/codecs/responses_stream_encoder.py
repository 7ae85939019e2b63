"""IR stream events -> OpenAI Responses API SSE, for a Responses client (Codex, the openai SDK).

What it writes (the grammar ``tests.grammar.check_responses_stream`` checks):

* ``response.created`` and ``response.in_progress`` first; ``sequence_number`` counts every
  event from 0, one by one;
* text parts in a row are the content parts of one ``message`` item (``content_part.added`` /
  ``output_text.delta``* / ``output_text.done`` / ``content_part.done``), which ends
  (``output_item.done``) when another kind of part starts or the answer ends;
* thinking is a ``reasoning`` item with one summary part (``reasoning_summary_part.added`` /
  ``reasoning_summary_text.delta``* / ``.done`` / ``reasoning_summary_part.done``), its signature
  in ``encrypted_content`` (see :mod:`responses_common`); redacted thinking a reasoning item
  with only ``encrypted_content``;
* a tool call is a ``function_call`` item (``function_call_arguments.delta``* / ``.done``); the
  call of a tool the client declared as custom is a ``custom_tool_call`` item whose input is
  decoded, as it streams, from the ``{"input": <text>}`` the upstream model was asked to write;
* exactly one terminal event: ``response.completed``, ``response.incomplete`` (stop reasons a
  client may continue: ``incomplete_details.reason`` ``max_output_tokens`` / ``content_filter``)
  or ``response.failed`` when the upstream failed or ended early.
  The ``response`` in it holds every item exactly as its ``output_item.done`` had it, and usage.

Content the format cannot carry (another dialect's server-tool blocks, their deltas) is dropped
with a Note, once per part. Text deltas are formatted from templates: this runs per token.
"""

from __future__ import annotations

import json
from json.encoder import encode_basestring
from typing import Any, Final, Literal, assert_never

from pydantic_core import from_json

from recorder import ir
from recorder.codecs.responses_common import (
    REDACTED_TAG,
    encrypted_for_client,
    failure_from_ir,
    response_id,
    status_from_ir,
    usage_from_ir,
)
from recorder.codecs.responses_items import (
    custom_input,
    message_item,
    output_text,
    reasoning_item,
    response_object,
)
from recorder.codecs.responses_request import CUSTOM_INPUT
from recorder.context import Context
from recorder.errors import StreamProtocolError
from recorder.sse import SseEvent

JsonObject = dict[str, Any]
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_json_str = encode_basestring


# Where a StreamEncoder is in the Responses stream's grammar (matched exhaustively):
#   fresh    nothing sent yet
#   started  response.created and response.in_progress went out: items follow
#   closed   the one terminal event went out: nothing more is sent
Stage = Literal["fresh", "started", "closed"]


# The kind of the open IR part, as the item it is written to:
# text       a content part of the open message item
# reasoning  a reasoning item, its summary part not opened yet (no thinking text so far)
# summary    a reasoning item whose summary part is open
# call       a function_call item
# custom     a custom_tool_call item of a custom call (its input streams as it comes)
# lowered    a custom_tool_call item of a function call to a tool the client declared custom:
#            its arguments are {"input": text}, decoded as they stream
# whole      an item written whole; dropped: a part with no Responses form
_Kind = Literal["text", "reasoning", "summary", "call", "custom", "lowered", "whole", "dropped"]
_THINKING: Final = ("reasoning", "summary")
_CALLS: Final = ("call", "custom", "lowered")


class StreamEncoder:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._seq = 0
        self._stage: Stage = "fresh"
        self._resp_id = ""
        self._model = ""
        self._output: list[JsonObject] = []  # finished items, by output_index
        self._open: _Kind | None = None  # kind of the open IR part
        self._open_ir = -1  # its IR index
        # the open message item (text parts in a row share it)
        self._msg: JsonObject | None = None
        self._msg_index = -1
        self._text: list[str] = []  # the open output_text part's text so far
        self._delta_head = ""  # an output_text.delta's JSON up to its delta
        # the open reasoning / call item
        self._item: JsonObject = {}
        self._item_index = -1
        self._chunks: list[str] = []  # summary text, arguments or custom input so far
        self._signature: list[str] = []
        self._sent = ""  # the custom input sent so far (custom and lowered calls)
        self._usage = ir.Usage()
        self._finish: ir.Finish | None = None
        self._dropped: set[int] = set()

    # ------------------------------------------------------------------ public

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
                self._expect(i, ("text",), "TextDelta")
                if text:
                    out.append(self._text_delta(text))
            case ir.ThinkingDelta(index=i, text=text):
                self._expect(i, _THINKING, "ThinkingDelta")
                if text:
                    self._summary_delta(text, out)
            case ir.SignatureDelta(index=i, signature=sig):
                self._expect(i, _THINKING, "SignatureDelta")
                self._signature.append(sig)
            case ir.ToolArgsDelta(index=i, json=js):
                if i != self._open_ir or self._open not in _CALLS:
                    raise StreamProtocolError(f"tool arguments for part {i}, not an open call")
                if js:
                    self._args_delta(js, out)
            case ir.OpaqueDelta(index=i):
                self._drop(i, f"{ev.dialect} delta has no Responses form; dropped")
            case ir.PartStart():
                self._begin(out)
                self._part_start(ev.index, ev.part, out)
            case ir.PartStop(index=i):
                if i == self._open_ir:
                    self._part_stop(out)
            case ir.MessageStart():
                if self._stage == "fresh":  # not a second one
                    self._usage = ir.merge_usage(self._usage, ev.usage)
                    self._begin(out, ev.id, ev.model)
            case ir.UsageUpdate(usage=usage):
                self._usage = ir.merge_usage(self._usage, usage)
            case ir.Finish():
                self._finish = ev
            case ir.KeepAlive():
                out.append(SseEvent(comment=""))
            case ir.StreamError(error=err):
                self._fail(err, out)
            case _:
                assert_never(ev)
        return out

    def text_delta(self, index: int, text: str) -> SseEvent | None:
        """The one event ``push(TextDelta(index, text))`` returns, without the dispatch (the
        translator's fast path); it advances the sequence and the text exactly as push would.
        None when that push would do anything else: the caller pushes then."""
        match self._stage:
            case "started":
                if index != self._open_ir or self._open != "text" or not text:
                    return None
                return self._text_delta(text)
            case "fresh" | "closed":  # no part is open / the stream is over
                return None
            case _:
                assert_never(self._stage)

    def finish(self) -> list[SseEvent]:
        match self._stage:
            case "started" | "fresh":
                pass
            case "closed":
                return []
            case _:
                assert_never(self._stage)
        out: list[SseEvent] = []
        if self._finish is None:
            err = ir.ErrorInfo(kind="api_error", message="upstream stream ended before it finished")
            self._fail(err, out)
            return out
        self._begin(out)
        self._close_item(out)
        self._close_message(out)
        self._stage = "closed"
        status, reason = status_from_ir(self._finish.stop_reason)
        if self._finish.stop_sequence is not None:
            self._ctx.note("stop_sequence", "the Responses API does not report a stop sequence")
        resp = self._response(status, usage_from_ir(self._usage))
        if reason is not None:
            resp["incomplete_details"] = {"reason": reason}
        out.append(self._event(f"response.{status}", {"response": resp}))
        return out

    # ------------------------------------------------------------------ events

    def _event(self, kind: str, fields: JsonObject) -> SseEvent:
        data = {"type": kind, "sequence_number": self._seq, **fields}
        self._seq += 1
        return SseEvent(kind, _dumps(data))

    def _response(self, status: str, usage: JsonObject | None) -> JsonObject:
        return response_object(
            self._resp_id,
            self._model,
            self._ctx,
            status=status,
            output=list(self._output),
            usage=usage,
        )

    def _begin(self, out: list[SseEvent], upstream_id: str = "", model: str = "") -> None:
        match self._stage:
            case "fresh":
                pass
            case "started" | "closed":
                return
            case _:
                assert_never(self._stage)
        self._stage = "started"
        self._resp_id = response_id(upstream_id, self._ctx)
        self._model = model or self._ctx.requested_model or ""
        resp = self._response("in_progress", None)
        out.append(self._event("response.created", {"response": resp}))
        out.append(self._event("response.in_progress", {"response": resp}))

    def _expect(self, index: int, kinds: tuple[_Kind, ...], what: str) -> None:
        if index != self._open_ir or self._open not in kinds:
            raise StreamProtocolError(
                f"{what} for part {index}, but the open part is {self._open_ir} ({self._open})"
            )

    def _drop(self, index: int, reason: str) -> None:
        if index not in self._dropped:  # one note per part, not one per delta
            self._dropped.add(index)
            self._ctx.note(f"content[{index}]", reason)

    # ------------------------------------------------------------------ parts

    def _part_start(self, index: int, part: ir.Part, out: list[SseEvent]) -> None:
        self._close_item(out)
        self._open_ir = index
        match part:
            case ir.TextPart():
                for key in part.extra:
                    self._ctx.note(f"content[{index}].{key}", "no Responses equivalent; dropped")
                self._text_start(out)
                if part.text:
                    out.append(self._text_delta(part.text))
                return
            case ir.ThinkingPart():
                self._close_message(out)
                self._item_start(
                    "reasoning", reasoning_item(self._ctx.ids.make("rs_"), "", None), out
                )
                if part.signature:
                    self._signature.append(part.signature)
                if part.text:
                    self._summary_delta(part.text, out)
            case ir.RedactedThinkingPart():
                self._close_message(out)
                item = reasoning_item(self._ctx.ids.make("rs_"), "", REDACTED_TAG + part.data)
                self._whole(item, out)
            case ir.ToolCallPart():
                self._close_message(out)
                custom = part.kind == "custom" or part.name in self._ctx.custom_tools
                self._sent = ""
                if custom:
                    item = {
                        "id": self._ctx.ids.make("ctc_"),
                        "type": "custom_tool_call",
                        "status": "in_progress",
                        "call_id": part.id,
                        "name": part.name,
                        "input": "",
                    }
                    self._item_start("custom" if part.kind == "custom" else "lowered", item, out)
                else:
                    item = {
                        "id": self._ctx.ids.make("fc_"),
                        "type": "function_call",
                        "status": "in_progress",
                        "arguments": "",
                        "call_id": part.id,
                        "name": part.name,
                    }
                    self._item_start("call", item, out)
                if part.arguments:
                    self._args_delta(part.arguments, out)
            case ir.OpaquePart(dialect="responses"):
                self._close_message(out)
                self._whole(dict(part.data), out)
            case ir.OpaquePart():
                self._open = "dropped"
                self._drop(
                    index, f"{part.dialect} {part.type} block has no Responses form; dropped"
                )
            case ir.ImagePart() | ir.DocumentPart() | ir.ToolResultPart():
                self._open = "dropped"
                self._drop(
                    index, f"{type(part).__name__} in an answer has no Responses form; dropped"
                )
            case _:
                assert_never(part)

    def _part_stop(self, out: list[SseEvent]) -> None:
        if self._open == "text":
            self._text_stop(out)
        else:
            self._close_item(out)
        self._open = None

    # ------------------------------------------------------------------ message items

    def _text_start(self, out: list[SseEvent]) -> None:
        if self._msg is None:
            self._msg_index = len(self._output)
            self._msg = message_item(self._ctx.ids.make("msg_"), [], "in_progress")
            added = {"output_index": self._msg_index, "item": self._msg}
            out.append(self._event("response.output_item.added", added))
        content_index = len(self._msg["content"])
        where = {
            "item_id": self._msg["id"],
            "output_index": self._msg_index,
            "content_index": content_index,
        }
        out.append(self._event("response.content_part.added", {**where, "part": output_text("")}))
        self._open = "text"
        self._text = []
        self._delta_head = (
            f'{{"type":"response.output_text.delta","item_id":{_json_str(self._msg["id"])},'
            f'"output_index":{self._msg_index},"content_index":{content_index},"delta":'
        )

    def _text_delta(self, text: str) -> SseEvent:
        self._text.append(text)
        seq = self._seq
        self._seq += 1
        return SseEvent(
            "response.output_text.delta",
            f'{self._delta_head}{_json_str(text)},"logprobs":[],"sequence_number":{seq}}}',
        )

    def _text_stop(self, out: list[SseEvent]) -> None:
        assert self._msg is not None
        text = "".join(self._text)
        content_index = len(self._msg["content"])
        where = {
            "item_id": self._msg["id"],
            "output_index": self._msg_index,
            "content_index": content_index,
        }
        out.append(
            self._event("response.output_text.done", {**where, "text": text, "logprobs": []})
        )
        part = output_text(text)
        out.append(self._event("response.content_part.done", {**where, "part": part}))
        self._msg["content"].append(part)
        self._text = []

    def _close_message(self, out: list[SseEvent]) -> None:
        if self._open == "text":
            self._text_stop(out)
            self._open = None
        if self._msg is None:
            return
        item = dict(self._msg, status="completed")
        out.append(
            self._event(
                "response.output_item.done", {"output_index": self._msg_index, "item": item}
            )
        )
        self._output.append(item)
        self._msg = None

    # ------------------------------------------------------------------ other items

    def _item_start(self, kind: _Kind, item: JsonObject, out: list[SseEvent]) -> None:
        self._item_index = len(self._output)
        out.append(
            self._event(
                "response.output_item.added", {"output_index": self._item_index, "item": item}
            )
        )
        self._open, self._item = kind, item
        self._chunks, self._signature = [], []

    def _whole(self, item: JsonObject, out: list[SseEvent]) -> None:
        index = len(self._output)
        out.append(self._event("response.output_item.added", {"output_index": index, "item": item}))
        out.append(self._event("response.output_item.done", {"output_index": index, "item": item}))
        self._output.append(item)
        self._open = "whole"

    def _where(self) -> JsonObject:
        return {"item_id": self._item["id"], "output_index": self._item_index}

    def _summary_delta(self, text: str, out: list[SseEvent]) -> None:
        if self._open == "reasoning":  # its first text opens the summary part
            self._open = "summary"
            part = {"type": "summary_text", "text": ""}
            out.append(
                self._event(
                    "response.reasoning_summary_part.added",
                    {**self._where(), "summary_index": 0, "part": part},
                )
            )
        self._chunks.append(text)
        out.append(
            self._event(
                "response.reasoning_summary_text.delta",
                {**self._where(), "summary_index": 0, "delta": text},
            )
        )

    def _args_delta(self, js: str, out: list[SseEvent]) -> None:
        self._chunks.append(js)
        match self._open:
            case "call":
                out.append(
                    self._event(
                        "response.function_call_arguments.delta", {**self._where(), "delta": js}
                    )
                )
            case "custom":
                self._sent += js
                out.append(
                    self._event(
                        "response.custom_tool_call_input.delta", {**self._where(), "delta": js}
                    )
                )
            case "lowered":
                self._lowered_delta(out)
            case "text" | "reasoning" | "summary" | "whole" | "dropped" | None:
                raise StreamProtocolError(f"tool arguments for part {self._open_ir}, not a call")
            case _:
                assert_never(self._open)

    def _lowered_delta(self, out: list[SseEvent]) -> None:
        """A lowered custom call's input streams as far as its JSON so far decodes."""
        try:
            value = from_json("".join(self._chunks), allow_partial="trailing-strings")
        except ValueError:
            return
        text = value.get(CUSTOM_INPUT) if isinstance(value, dict) else None
        if isinstance(text, str) and len(text) > len(self._sent) and text.startswith(self._sent):
            delta = text[len(self._sent) :]
            self._sent = text
            out.append(
                self._event(
                    "response.custom_tool_call_input.delta", {**self._where(), "delta": delta}
                )
            )

    def _close_item(self, out: list[SseEvent]) -> None:
        kind = self._open
        match kind:
            case None | "text":
                return  # no item open / the open message item stays open
            case "whole" | "dropped":
                self._open = None
                return
            case "reasoning" | "summary" | "call" | "custom" | "lowered":
                pass
            case _:
                assert_never(kind)
        item = dict(self._item, status="completed") if "status" in self._item else dict(self._item)
        where = self._where()
        match kind:
            case "reasoning" | "summary":
                if kind == "summary":
                    text = "".join(self._chunks)
                    out.append(
                        self._event(
                            "response.reasoning_summary_text.done",
                            {**where, "summary_index": 0, "text": text},
                        )
                    )
                    part = {"type": "summary_text", "text": text}
                    out.append(
                        self._event(
                            "response.reasoning_summary_part.done",
                            {**where, "summary_index": 0, "part": part},
                        )
                    )
                    item["summary"] = [part]
                encrypted = encrypted_for_client("".join(self._signature) or None)
                if encrypted is not None:
                    item["encrypted_content"] = encrypted
            case "call":
                args = "".join(self._chunks)
                if not args:  # a call without arguments still owes the client valid JSON
                    args = "{}"
                    out.append(
                        self._event(
                            "response.function_call_arguments.delta", {**where, "delta": args}
                        )
                    )
                out.append(
                    self._event(
                        "response.function_call_arguments.done", {**where, "arguments": args}
                    )
                )
                item["arguments"] = args
            case "custom" | "lowered":
                raw = "".join(self._chunks)
                name = str(self._item["name"])
                text = custom_input(raw, self._ctx, name) if kind == "lowered" else raw
                if text != self._sent:
                    if text.startswith(self._sent):
                        rest = text[len(self._sent) :]
                        out.append(
                            self._event(
                                "response.custom_tool_call_input.delta", {**where, "delta": rest}
                            )
                        )
                    else:
                        raise StreamProtocolError("custom tool input changed after it was streamed")
                out.append(
                    self._event("response.custom_tool_call_input.done", {**where, "input": text})
                )
                item["input"] = text
            case _:
                assert_never(kind)
        out.append(
            self._event(
                "response.output_item.done", {"output_index": self._item_index, "item": item}
            )
        )
        self._output.append(item)
        self._open = None

    # ------------------------------------------------------------------ failure

    def _fail(self, err: ir.ErrorInfo, out: list[SseEvent]) -> None:
        """``response.failed`` holding the items finished so far: the one terminal event (no
        ``error`` event before it, which would end the stream for a client that stops there)."""
        self._begin(out)
        self._stage = "closed"
        failure = failure_from_ir(err)
        resp = self._response("failed", usage_from_ir(self._usage))
        resp["error"] = failure
        out.append(self._event("response.failed", {"response": resp}))
