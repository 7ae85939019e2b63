"""The CLI's stream-json output (``--output-format stream-json --verbose
--include-partial-messages``) as IR stream events: one client answer per CLI turn.

Line types (docs/claude-cli.md §Output): ``system`` (``init`` carries the session id;
``api_retry``), ``stream_event`` (each an Anthropic SSE event of one model call, verbatim),
``assistant`` / ``user`` (whole messages, also during streaming; the error of a failed call is a
``<synthetic>`` assistant message with an ``error`` field), ``control_request`` (answered
by :mod:`recorder.claude_cli.control`, not here) and the final ``result`` (stop reason, usage
summed over the model calls, cost, ``is_error``, ``api_error_status``).

One CLI turn may hold several model calls: with tools a route allows, the CLI runs them itself
and calls the model again. The client sees one answer: the parts of every call in order, the
CLI's own tool calls and their results left out (they are in the recording), the usage summed.
A call that ends in a tool call of the *client's* tools ends the answer there
(``stop_reason: tool_use``); the caller then stops the CLI, since the client runs that tool.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Final, Literal, assert_never

from recorder import ir
from recorder.codecs.anthropic_parts import stop_reason_to_ir, usage_to_ir
from recorder.codecs.anthropic_stream import StreamDecoder as AnthropicStreamDecoder
from recorder.codecs.http_status import kind_of_status
from recorder.context import Context
from recorder.errors import TranslationError
from recorder.sse import SseEvent

JsonObject = dict[str, Any]

# The ``error`` of a failed call's synthetic assistant message (the CLI's own vocabulary).
CLI_ERROR_KINDS: Final[dict[str, ir.ErrorKind]] = {
    "authentication_failed": "authentication",  # also "Not logged in · Please run /login"
    "oauth_org_not_allowed": "permission",
    "billing_error": "billing",
    "rate_limit": "rate_limit",
    "overloaded": "overloaded",
    "invalid_request": "invalid_request",
    "model_not_found": "not_found",
    "server_error": "api_error",
    "max_output_tokens": "api_error",
    "unknown": "api_error",
}

RESUME_MISSING = "No conversation found with session ID"
STRUCTURED_OUTPUT = "StructuredOutput"  # the tool --json-schema makes the model call

# Where the client's answer is (matched exhaustively):
#   waiting      nothing of it went out yet
#   answering    its MessageStart went out
#   unanswered   it ended before it began: the CLI failed, or its output ended or could not
#                be read, before the answer's first event
#   ended        it ended after it began: the result line came, or the output ended or broke
#   handed_over  it ended in a call of the client's tools: the client runs it, so the caller
#                stops the CLI (no result line is read)
Stage = Literal["waiting", "answering", "unanswered", "ended", "handed_over"]

# Where the current model call is (matched exhaustively):
#   between      no streamed call is open: a whole assistant message now is a call the CLI
#                made without streaming
#   streaming    a call's stream events come
#   client_tool  ... and it opened a call of the client's tools: if it stops for tool_use,
#                the answer ends there
CallStage = Literal["between", "streaming", "client_tool"]


class CliStreamDecoder:
    """Stream-json lines -> IR stream events, one decoder per CLI turn."""

    def __init__(
        self, ctx: Context, client_tools: frozenset[str] = frozenset(), *, structured: bool = False
    ) -> None:
        self._ctx = ctx
        self._client_tools = client_tools
        self._structured = structured  # --json-schema: the answer is StructuredOutput's input
        self._as_text: set[int] = set()  # StructuredOutput calls, shown as text
        self.session_id: str | None = None
        self.model: str | None = None
        self.result: JsonObject | None = None  # the CLI's result line, once read
        self.leaf: str | None = None  # uuid of the answer's last message in the CLI session
        self._stage: Stage = "waiting"
        self._call: AnthropicStreamDecoder | None = None  # the current model call
        self._call_stage: CallStage = "between"
        self._index: dict[int, int] = {}  # part index in the call -> in the answer
        self._hidden: set[int] = set()  # the CLI's own tool calls in this call
        self._next = 0
        self._call_stop: ir.StopReason | None = None
        self._usage_before = ir.Usage()  # summed over the finished calls
        self._call_usage = ir.Usage()
        self._cli_error: str | None = None  # "error" of a synthetic assistant message
        self._stream_error: ir.ErrorInfo | None = None

    @property
    def started(self) -> bool:
        """A MessageStart went out: the client's answer has begun."""
        match self._stage:
            case "answering" | "ended" | "handed_over":
                return True
            case "waiting" | "unanswered":
                return False
            case _:
                assert_never(self._stage)

    @property
    def done(self) -> bool:
        """The answer is complete or failed: nothing more is read."""
        match self._stage:
            case "waiting" | "answering":
                return False
            case "unanswered" | "ended" | "handed_over":
                return True
            case _:
                assert_never(self._stage)

    @property
    def client_tool_call(self) -> bool:
        """The answer ended in a tool call the client runs."""
        return self._stage == "handed_over"

    @property
    def cost_usd(self) -> float | None:
        cost = (self.result or {}).get("total_cost_usd")
        return float(cost) if isinstance(cost, int | float) else None

    @property
    def resume_missing(self) -> bool:
        """``--resume`` named a session the CLI does not have (nothing was asked of the model)."""
        errors = (self.result or {}).get("errors") or []
        return any(isinstance(e, str) and e.startswith(RESUME_MISSING) for e in errors)

    def push(self, line: str) -> list[ir.StreamEvent]:
        if self.done:
            return []
        try:
            d = json.loads(line)
        except ValueError:
            return []  # not a protocol line; the recording keeps it
        if not isinstance(d, dict):
            return []
        handler = _HANDLERS.get(str(d.get("type")))
        if handler is None:
            return []
        try:
            return handler(self, d)
        except (TranslationError, KeyError, TypeError, AttributeError) as e:
            self._end()
            err = ir.ErrorInfo("bad_gateway", f"Claude Code CLI output could not be read: {e}")
            return [ir.StreamError(err)]

    def finish(self, failure: ir.ErrorInfo | None = None) -> list[ir.StreamEvent]:
        """The CLI's output ended (it exited, was killed, or timed out: ``failure``)."""
        if self.done:
            return []
        self._end()
        err = failure or ir.ErrorInfo(
            "bad_gateway", "the Claude Code CLI ended without its result line"
        )
        return [ir.StreamError(err)]

    # ----------------------------------------------------------------- line types

    def _system(self, d: JsonObject) -> list[ir.StreamEvent]:
        match d.get("subtype"):
            case "init":
                self.session_id = d.get("session_id") or self.session_id
                self.model = d.get("model") or self.model
            case "api_retry":
                return [ir.KeepAlive()]
        return []

    def _stream_event(self, d: JsonObject) -> list[ir.StreamEvent]:
        if d.get("parent_tool_use_id") is not None:  # a sub-agent's call
            return []
        return self._event(d["event"])

    def _assistant(self, d: JsonObject) -> list[ir.StreamEvent]:
        if d.get("parent_tool_use_id") is not None:
            return []
        msg = d["message"]
        if d.get("error") is not None or msg.get("model") == "<synthetic>":
            self._cli_error = str(d.get("error") or "unknown")
            return []
        if isinstance(d.get("uuid"), str):
            self.leaf = d["uuid"]
        match self._call_stage:
            case "streaming" | "client_tool":
                return []  # the stream events carry it
            case "between":
                pass
            case _:
                assert_never(self._call_stage)
        # A whole message outside any streamed call: the CLI fell back to a non-streaming
        # request. Replay it as the events of one call.
        out: list[ir.StreamEvent] = []
        for ev in _events_of(msg):
            out += self._event(ev)
        return out

    def _result(self, d: JsonObject) -> list[ir.StreamEvent]:
        self.result = d
        self.session_id = d.get("session_id") or self.session_id
        subtype = d.get("subtype")
        if subtype == "error_max_turns":
            self._ctx.note("result", "the CLI reached --max-turns; answered as pause_turn")
            return self._finish(d, "pause_turn")
        if d.get("is_error") or subtype != "success":
            self._end()
            return [ir.StreamError(self._error_of(d))]
        stop = stop_reason_to_ir(d.get("stop_reason"), self._ctx, "result.stop_reason")
        if self._structured and stop == "tool_use":  # the StructuredOutput call ended it
            stop = "end_turn"
        return self._finish(d, stop or "end_turn")

    # ----------------------------------------------------------------- model calls

    def _event(self, ev: JsonObject) -> list[ir.StreamEvent]:
        kind = ev["type"]
        if kind == "message_start":
            self._call = AnthropicStreamDecoder(self._ctx)
            self._call_stage = "streaming"
            self._index, self._hidden, self._as_text = {}, set(), set()
            self._call_stop = None
            self._call_usage = ir.Usage()
        if self._call is None:
            return []
        out: list[ir.StreamEvent] = []
        for iev in self._call.push(SseEvent(kind, json.dumps(ev))):
            out += self._outer(iev)
        if kind == "message_stop":
            call, self._call_stage = self._call_stage, "between"
            self._usage_before = _add(self._usage_before, self._call_usage)
            self._call_usage = ir.Usage()
            match call:
                case "client_tool" if self._call_stop == "tool_use":
                    self._stage = "handed_over"
                    out.append(ir.Finish("tool_use"))
                case "client_tool" | "streaming" | "between":
                    pass
                case _:
                    assert_never(call)
        return out

    def _outer(self, ev: ir.StreamEvent) -> list[ir.StreamEvent]:
        """A call's event as an event of the answer: indices shifted, the CLI's tools hidden."""
        match ev:
            case ir.MessageStart():
                match self._stage:
                    case "waiting":
                        self._stage = "answering"
                    case "answering" | "unanswered" | "ended" | "handed_over":
                        return []  # a later call of the same answer
                    case _:
                        assert_never(self._stage)
                self._call_usage = ev.usage
                return [ev]
            case ir.PartStart(index=i, part=part):
                if self._structured:
                    if isinstance(part, ir.ToolCallPart) and part.name == STRUCTURED_OUTPUT:
                        self._as_text.add(i)
                        part = ir.TextPart("")
                    elif isinstance(part, ir.TextPart):
                        self._hidden.add(i)  # the answer is the JSON alone
                        self._ctx.note("content", "text beside the structured output not shown")
                        return []
                if isinstance(part, ir.ToolCallPart):
                    if part.name not in self._client_tools:
                        self._hidden.add(i)
                        self._ctx.note(
                            "content", f"the CLI ran its own tool {part.name!r}; not shown"
                        )
                        return []
                    self._call_stage = "client_tool"
                self._index[i] = self._next
                self._next += 1
                return [ir.PartStart(self._index[i], part)]
            case ir.ToolArgsDelta(index=i, json=js) if i in self._as_text:
                return [] if i in self._hidden else [ir.TextDelta(self._index[i], js)]
            case (
                ir.TextDelta()
                | ir.ThinkingDelta()
                | ir.SignatureDelta()
                | ir.ToolArgsDelta()
                | ir.OpaqueDelta()
                | ir.PartStop()
            ):
                if ev.index in self._hidden:
                    return []
                ev.index = self._index[ev.index]
                return [ev]
            case ir.UsageUpdate(usage=usage):
                self._call_usage = usage
                return [ir.UsageUpdate(_add(self._usage_before, usage))]
            case ir.Finish(stop_reason=stop):
                self._call_stop = stop
                return []
            case ir.StreamError(error=err):
                self._stream_error = err  # the result line follows and decides
                return []
            case ir.KeepAlive():
                return [ev]
        return []

    def _finish(self, d: JsonObject, stop: ir.StopReason) -> list[ir.StreamEvent]:
        out: list[ir.StreamEvent] = []
        match self._stage:
            case "waiting":  # no model call streamed: the result alone is the answer
                out.append(ir.MessageStart(self._ctx.ids.make("msg_"), self.model or ""))
            case "answering" | "unanswered" | "ended" | "handed_over":
                pass
            case _:
                assert_never(self._stage)
        self._stage = "ended"
        usage = d.get("usage")
        if isinstance(usage, dict):
            out.append(ir.UsageUpdate(usage_to_ir(usage)))
        out.append(ir.Finish(stop))
        return out

    def _end(self) -> None:
        """The answer ends here (complete, failed, or cut off)."""
        match self._stage:
            case "waiting":
                self._stage = "unanswered"
            case "answering":
                self._stage = "ended"
            case "unanswered" | "ended" | "handed_over":
                pass
            case _:
                assert_never(self._stage)

    def _error_of(self, d: JsonObject) -> ir.ErrorInfo:
        status = d.get("api_error_status")
        status = status if isinstance(status, int) else None
        errors = [e for e in d.get("errors") or [] if isinstance(e, str)]
        message = d.get("result") if isinstance(d.get("result"), str) else None
        message = message or "; ".join(errors) or f"Claude Code CLI: {d.get('subtype')}"
        if status is not None:  # Anthropic's own status, passed on as is
            kind = kind_of_status(status)
        elif self._cli_error in CLI_ERROR_KINDS and self._cli_error != "unknown":
            kind = CLI_ERROR_KINDS[self._cli_error]
        elif self._stream_error is not None:
            kind = self._stream_error.kind
        else:
            kind = "api_error"
        code = self._cli_error or (None if d.get("subtype") == "success" else d.get("subtype"))
        return ir.ErrorInfo(kind, message, status=status, code=code)


_Handler = Callable[[CliStreamDecoder, JsonObject], list[ir.StreamEvent]]
_HANDLERS: Final[dict[str, _Handler]] = {
    "system": CliStreamDecoder._system,
    "stream_event": CliStreamDecoder._stream_event,
    "assistant": CliStreamDecoder._assistant,
    "result": CliStreamDecoder._result,
}


def _events_of(msg: JsonObject) -> list[JsonObject]:
    """A whole Anthropic message as the stream events of one call."""
    head = {k: v for k, v in msg.items() if k not in ("content", "stop_reason", "stop_sequence")}
    out: list[JsonObject] = [
        {"type": "message_start", "message": {**head, "content": [], "stop_reason": None}}
    ]
    for i, block in enumerate(msg.get("content") or []):
        out.append({"type": "content_block_start", "index": i, "content_block": block})
        out.append({"type": "content_block_stop", "index": i})
    delta = {"stop_reason": msg.get("stop_reason"), "stop_sequence": msg.get("stop_sequence")}
    out.append({"type": "message_delta", "delta": delta, "usage": msg.get("usage") or {}})
    out.append({"type": "message_stop"})
    return out


def _add(a: ir.Usage, b: ir.Usage) -> ir.Usage:
    def plus(x: int | None, y: int | None) -> int | None:
        return None if x is None and y is None else (x or 0) + (y or 0)

    return ir.Usage(
        input_tokens=plus(a.input_tokens, b.input_tokens),
        output_tokens=plus(a.output_tokens, b.output_tokens),
        cache_read_tokens=plus(a.cache_read_tokens, b.cache_read_tokens),
        cache_creation_tokens=plus(a.cache_creation_tokens, b.cache_creation_tokens),
        reasoning_tokens=plus(a.reasoning_tokens, b.reasoning_tokens),
        extra={**a.extra, **b.extra},
    )
