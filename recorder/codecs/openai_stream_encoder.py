"""IR stream events -> OpenAI Chat Completions chunks, for an OpenAI client (the openai SDK).

Every chunk is ``{"id","object":"chat.completion.chunk","created","model","choices":[{"index":0,
"delta":{...},"finish_reason":null}]}`` in compact JSON; the constant head and tail are built once
per stream because this runs per event. What the format cannot carry (thinking signatures,
redacted thinking, opaque blocks and deltas) is dropped with a Note, once per part.

Termination: Finish -> an empty delta with ``finish_reason``; ``finish()`` -> the usage chunk
(``choices: []``) if the client asked for ``include_usage``, then ``data: [DONE]``. A StreamError,
or ``finish()`` without a Finish, -> one ``{"error":{...}}`` chunk and nothing after it (no
``[DONE]``): the openai SDK raises ``APIError`` on it, where a clean close would look complete.
"""

from __future__ import annotations

import json
from json.encoder import encode_basestring
from typing import Literal, assert_never

from recorder import ir
from recorder.codecs.openai_common import (
    compact,
    error_wire,
    finish_reason_from_ir,
    usage_from_ir,
)
from recorder.context import Context
from recorder.errors import StreamProtocolError, UnsupportedContentError
from recorder.sse import SseEvent

_DONE = "[DONE]"

# Per-event deltas are formatted from templates (this runs per event); each equals ``compact``
# of the delta dict. _json_str is ``compact`` of a str without the encoder json.dumps builds.
_json_str = encode_basestring
_TEXT = '{"content":%s}'
_THINKING = '{"reasoning_content":%s}'
_TOOL_ARGS = '{"tool_calls":[{"index":%d,"function":{"arguments":%s}}]}'


def chunk_id(ir_id: str) -> str:
    """An OpenAI-looking id derived from the IR id (``msg_x`` -> ``chatcmpl-x``)."""
    if ir_id.startswith("chatcmpl-"):
        return ir_id
    return "chatcmpl-" + ir_id.removeprefix("msg_")


# Where a StreamEncoder is in the chunk stream's grammar (matched exhaustively):
#   fresh      nothing sent yet
#   streaming  the role chunk went out: deltas follow
#   finished   the finish_reason chunk went out: finish() ends the stream
#   closed     [DONE] or an error chunk went out: nothing more is sent
Stage = Literal["fresh", "streaming", "finished", "closed"]


class StreamEncoder:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._head = ""  # the chunk's JSON up to the delta (from "streaming" on)
        self._choices_at = 0  # where '"choices":' ends in _head (the usage chunk reuses it)
        self._stage: Stage = "fresh"
        self._tools: dict[int, int] = {}  # IR part index -> tool call ordinal
        self._args_sent: set[int] = set()  # tool parts whose arguments are not empty so far
        self._dropped: set[int] = set()  # IR parts with no OpenAI form
        self._usage = ir.Usage()

    # ------------------------------------------------------------------ public

    def push(self, ev: ir.StreamEvent) -> list[SseEvent]:
        match self._stage:
            case "streaming" | "fresh" | "finished":
                pass
            case "closed":
                return []
            case _:
                assert_never(self._stage)
        match ev:
            case ir.MessageStart():
                if self._stage != "fresh":  # a second one ("closed" returned above)
                    return []
                self._usage = ir.merge_usage(self._usage, ev.usage)
                return self._begin(ev.id, ev.model)
            case ir.PartStart():
                return self._part_start(ev.index, ev.part)
            case ir.TextDelta():
                return self._delta(_TEXT % _json_str(ev.text)) if ev.text else []
            case ir.ThinkingDelta():
                return self._delta(_THINKING % _json_str(ev.text)) if ev.text else []
            case ir.ToolArgsDelta():
                k = self._tools.get(ev.index)
                if k is None:
                    raise StreamProtocolError(
                        f"tool arguments for part {ev.index}, not a tool call"
                    )
                if not ev.json:
                    return []
                self._args_sent.add(ev.index)
                return self._delta(_TOOL_ARGS % (k, _json_str(ev.json)))
            case ir.SignatureDelta():
                self._drop(ev.index, "thinking signature has no OpenAI form; dropped")
                return []
            case ir.OpaqueDelta():
                self._drop(ev.index, f"{ev.dialect} delta has no OpenAI form; dropped")
                return []
            case ir.PartStop():
                k = self._tools.get(ev.index)
                if k is None or ev.index in self._args_sent:
                    return []
                # A tool without arguments still owes the client valid JSON, as OpenAI sends.
                return self._delta(_TOOL_ARGS % (k, '"{}"'))
            case ir.UsageUpdate():
                self._usage = ir.merge_usage(self._usage, ev.usage)
                return []
            case ir.Finish():
                if self._stage == "finished":  # a second one
                    return []
                out = self._ensure_started()
                self._stage = "finished"
                return out + [self._chunk("{}", finish_reason_from_ir(ev.stop_reason))]
            case ir.StreamError():
                return self._error(ev.error)
            case ir.KeepAlive():
                return [SseEvent(comment="")]
            case _:
                assert_never(ev)

    def text_delta(self, index: int, text: str) -> SseEvent | None:
        """The one chunk ``push(TextDelta(index, text))`` returns, without the dispatch (the
        translator's fast path; a text delta changes no state). None when that push would do
        anything else: the caller pushes then.
        """
        match self._stage:
            case "streaming" | "finished":
                if not text:
                    return None
                return SseEvent(
                    data=f'{self._head}{{"content":{_json_str(text)}}},"finish_reason":null}}]}}'
                )
            case "fresh" | "closed":
                return None
            case _:
                assert_never(self._stage)

    def finish(self) -> list[SseEvent]:
        match self._stage:
            case "finished":
                pass
            case "fresh" | "streaming":
                why = "upstream stream ended before it finished"
                return self._error(ir.ErrorInfo(kind="api_error", message=why))
            case "closed":
                return []
            case _:
                assert_never(self._stage)
        self._stage = "closed"
        out: list[SseEvent] = []
        if self._ctx.include_usage:
            usage = compact(usage_from_ir(self._usage))
            out.append(SseEvent(data=f'{self._head[: self._choices_at]}[],"usage":{usage}}}'))
        out.append(SseEvent(data=_DONE))
        return out

    # ------------------------------------------------------------------ chunks

    def _begin(self, msg_id: str, model: str) -> list[SseEvent]:
        self._stage = "streaming"
        head = (
            f'{{"id":{json.dumps(chunk_id(msg_id))},"object":"chat.completion.chunk",'
            f'"created":{int(self._ctx.created)},"model":{json.dumps(model, ensure_ascii=False)},'
            '"choices":'
        )
        self._choices_at = len(head)
        self._head = head + '[{"index":0,"delta":'
        return [self._chunk('{"role":"assistant","content":""}', None)]

    def _ensure_started(self) -> list[SseEvent]:
        match self._stage:
            case "fresh":
                model = self._ctx.requested_model or ""
                return self._begin(self._ctx.ids.make("chatcmpl-"), model)
            case "streaming" | "finished" | "closed":
                return []
            case _:
                assert_never(self._stage)

    def _chunk(self, delta_json: str, finish_reason: str | None) -> SseEvent:
        fr = "null" if finish_reason is None else json.dumps(finish_reason)
        return SseEvent(data=f'{self._head}{delta_json},"finish_reason":{fr}}}]}}')

    def _delta(self, delta_json: str) -> list[SseEvent]:
        match self._stage:
            case "streaming" | "finished":  # per event: without the list concatenation
                return [SseEvent(data=f'{self._head}{delta_json},"finish_reason":null}}]}}')]
            case "fresh" | "closed":
                return self._ensure_started() + [self._chunk(delta_json, None)]
            case _:
                assert_never(self._stage)

    def _part_start(self, index: int, part: ir.Part) -> list[SseEvent]:
        match part:
            case ir.TextPart():
                return self._delta(compact({"content": part.text})) if part.text else []
            case ir.ThinkingPart():
                if part.signature:
                    self._drop(index, "thinking signature has no OpenAI form; dropped")
                return self._delta(compact({"reasoning_content": part.text})) if part.text else []
            case ir.ToolCallPart(kind="custom"):
                # only a Chat client that declared the custom tool could be given it, and the
                # chunk format has no streamed form of it
                raise UnsupportedContentError(
                    f"custom tool call {part.name!r} has no Chat Completions stream form"
                )
            case ir.ToolCallPart():
                k = len(self._tools)
                self._tools[index] = k
                if part.arguments:
                    self._args_sent.add(index)
                fn = {"name": part.name, "arguments": part.arguments}
                call = {"index": k, "id": part.id, "type": "function", "function": fn}
                return self._delta(compact({"tool_calls": [call]}))
            case ir.RedactedThinkingPart():
                self._drop(index, "redacted thinking is encrypted for Anthropic only; dropped")
                return []
            case ir.OpaquePart():
                self._drop(index, f"{part.dialect} {part.type} block has no OpenAI form; dropped")
                return []
            case ir.ImagePart() | ir.DocumentPart() | ir.ToolResultPart():
                self._drop(
                    index, f"{type(part).__name__} in a response has no OpenAI form; dropped"
                )
                return []
            case _:
                assert_never(part)

    def _drop(self, index: int, reason: str) -> None:
        if index not in self._dropped:  # one note per part, not one per delta
            self._dropped.add(index)
            self._ctx.note(f"content[{index}]", reason)

    def _error(self, err: ir.ErrorInfo) -> list[SseEvent]:
        self._stage = "closed"
        _, body = error_wire(err)
        return [SseEvent(data=compact({"error": body}))]
