"""Kiro event-stream messages -> IR stream events, and a whole stream -> an IR response.

Kiro answers every chat request with an AWS event stream (:mod:`recorder.wire.eventstream` does the
framing); each message's ``:message-type`` is ``event`` (JSON payload, kind in ``:event-type``),
``exception`` (``:exception-type``) or ``error`` (``:error-code``). UNOFFICIAL: the event names
and payloads below come from reverse-engineered clients (research/kiro.md §3.3).

============================  ==============================================================
``assistantResponseEvent``    ``content``: text (``followupPrompt``-only events are skipped)
``codeEvent``                 ``content``: text
``reasoningContentEvent``     ``text`` / ``signature`` / ``redactedContent``: native reasoning
``toolUseEvent``              ``toolUseId``, ``name``, ``input`` (a string fragment), ``stop``
``meteringEvent``             ``usage`` (credits): a completed answer
``contextUsageEvent``         ``contextUsagePercentage``: a completed answer
``metadataEvent``             ``tokenUsage``: real token counts (newer runtimes)
``invalidStateEvent``         an error inside a 200 stream
``messageMetadataEvent``      ids only
anything else                 ignored with a note (the recording keeps the frame)
============================  ==============================================================

Choices (why):

* Tool calls are buffered per ``toolUseId`` and delivered whole (start, all arguments, stop) at
  their ``stop: true``, once the arguments parse as a JSON object. Kiro cuts long tool calls off
  mid-arguments and just ends the stream (research §7.2); a call without its ``stop`` (or with
  arguments that do not parse) is never delivered: the answer ends with ``max_tokens`` and a
  note, so no client executes half a ``Write``.
* The stream has no terminal event. It ends complete when the body ends after a
  ``meteringEvent`` or ``contextUsageEvent``; without either it was cut off: ``max_tokens``
  (``require_completion_event``). ``contextUsagePercentage`` >= 100 is a context overflow.
* Kiro reports credits and a context percentage, not tokens (unless ``metadataEvent`` comes):
  output tokens are estimated from the text, input tokens from the percentage and the model's
  window; the usage says ``estimated``.
* A payload wrapped in its event name (``{"assistantResponseEvent": {...}}``, some endpoint
  versions) is unwrapped; a tool ``input`` given as an object is serialised.
* With ``thinking_tags`` on, a ``<thinking>`` block at the start of the text becomes thinking
  (:mod:`think_tags`); native reasoning events switch that off (no double reasoning).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any, Final, Literal, assert_never

from recorder import ir
from recorder.codecs.kiro_models import estimate_tokens, resolve
from recorder.codecs.kiro_settings import KiroSettings, settings_of
from recorder.codecs.think_tags import ThinkTagSplitter
from recorder.context import Context
from recorder.errors import StreamProtocolError, UpstreamFailedError, WireFormatError
from recorder.wire.eventstream import EventStreamDecoder, Message

__all__ = ["BytesDecoder", "StreamDecoder", "collect", "response_to_ir"]

JsonObject = dict[str, Any]

# :exception-type -> IR error kind (an exception message ends the stream)
EXCEPTION_KINDS: Final[dict[str, ir.ErrorKind]] = {
    "ThrottlingException": "rate_limit",
    "ValidationException": "invalid_request",
    "AccessDeniedException": "permission",
    "ResourceNotFoundException": "not_found",
    "ServiceQuotaExceededException": "billing",
    "ConflictException": "invalid_request",
    "InternalServerException": "api_error",
    "ServiceUnavailableException": "unavailable",
}
# exceptions that end the answer with a stop reason rather than an error (kiro.rs)
EXCEPTION_STOPS: Final[dict[str, ir.StopReason]] = {
    "ContentLengthExceededException": "max_tokens",
}


class _Call:
    __slots__ = ("id", "name", "args")

    def __init__(self, call_id: str, name: str | None) -> None:
        self.id = call_id
        self.name = name
        self.args: list[str] = []


# Where a StreamDecoder is in Kiro's stream (matched exhaustively):
#   waiting    for the first event
#   reading    events came: the answer is under way
#   completed  metering or context usage came: the answer is whole (a body that ends now
#              ends well; events may still follow)
#   ended      the body ended, or an error / exception ended the stream
Stage = Literal["waiting", "reading", "completed", "ended"]


class StreamDecoder:
    """Decoded event-stream messages -> IR stream events; one per response."""

    def __init__(self, ctx: Context, settings: KiroSettings | None = None) -> None:
        self._ctx = ctx
        self._settings = settings = settings or settings_of(ctx.upstream_options)
        self._stage: Stage = "waiting"
        self._next = 0
        self._open: Literal["text", "thinking"] | None = None
        self._think = ThinkTagSplitter() if settings.thinking_tags else None
        self._calls: dict[str, _Call] = {}  # pending, by toolUseId
        self._done: set[str] = set()  # delivered toolUseIds
        self._tools = 0
        self._cut: list[str] = []  # why the answer is incomplete
        self._percent: float | None = None
        self._credits: float | None = None
        self._tokens: JsonObject | None = None
        self._out_text: list[str] = []  # for the output token estimate
        self._last_content: str | None = None
        self._ignored: set[str] = set()

    # ------------------------------------------------------------------ public

    def push(self, msg: Message) -> list[ir.StreamEvent]:
        match self._stage:
            case "reading" | "completed" | "waiting":
                pass
            case "ended":
                return []
            case _:
                assert_never(self._stage)
        out: list[ir.StreamEvent] = []
        match msg.string(":message-type"):
            case "event":
                etype = msg.string(":event-type")
                if etype is None:
                    raise StreamProtocolError("Kiro event message without an :event-type header")
                handler = _EVENTS.get(etype)
                if handler is None:
                    if etype not in self._ignored:
                        self._ignored.add(etype)
                        self._ctx.note(f"events.{etype}", "unknown Kiro event type; ignored")
                    return []
                self._start(out)
                handler(self, _payload(msg, etype), out)
            case "exception":
                self._exception(msg, out)
            case "error":
                code = msg.string(":error-code") or "error"
                text = msg.string(":error-message") or _text(msg.payload)
                self._fail(
                    ir.ErrorInfo("api_error", f"Kiro stream error {code}: {text}", code=code), out
                )
            case None:
                raise StreamProtocolError("Kiro message without a :message-type header")
            case other:
                raise StreamProtocolError(f"Kiro message of unknown :message-type {other!r}")
        return out

    def text_delta(self, msg: Message) -> tuple[int, str] | None:
        """No fast path: every message goes through :meth:`push`."""
        return None

    @property
    def ended(self) -> bool:
        """An error or an exception message ended the stream (Kiro's streams have no terminal
        event of their own: a good one ends with the body)."""
        return self._stage == "ended"

    def finish(self) -> list[ir.StreamEvent]:
        stage, self._stage = self._stage, "ended"
        match stage:
            case "reading" | "completed":
                pass
            case "waiting":
                err = ir.ErrorInfo("api_error", "Kiro stream ended before any event")
                return [ir.StreamError(err)]
            case "ended":
                return []
            case _:
                assert_never(stage)
        out: list[ir.StreamEvent] = []
        self._end_parts(out)
        for call in self._calls.values():
            self._cut_off(f"tool call {call.name or '?'} ({call.id}) ended without its stop")
        if stage == "reading" and self._settings.require_completion_event:
            self._cut_off("stream ended without metering or context usage (cut off)")
        reason: ir.StopReason
        if self._cut:
            reason = "max_tokens"
        elif self._percent is not None and self._percent >= 100:
            reason = "context_window_exceeded"
        else:
            reason = "tool_use" if self._tools else "end_turn"
        out.append(ir.UsageUpdate(self._usage()))
        out.append(ir.Finish(reason))
        return out

    # ------------------------------------------------------------------ events

    def _assistant(self, p: JsonObject, out: list[ir.StreamEvent]) -> None:
        content = p.get("content")
        if content is None or ("followupPrompt" in p and not content):
            return
        if not isinstance(content, str):
            raise StreamProtocolError(
                f"assistantResponseEvent content is not text: {content!r}"[:200]
            )
        if self._settings.dedupe_repeated_content and content == self._last_content:
            self._ctx.note("events.assistantResponseEvent", "repeated content dropped")
            return
        self._last_content = content
        if not content:
            return
        think = self._think
        if think is not None and not think.in_text:
            for kind, text in think.push(content):
                self._append(kind, text, out)
        else:
            self._append("text", content, out)

    def _code(self, p: JsonObject, out: list[ir.StreamEvent]) -> None:
        content = p.get("content")
        if isinstance(content, str) and content:
            self._flush_think(out)
            self._append("text", content, out)

    def _reasoning(self, p: JsonObject, out: list[ir.StreamEvent]) -> None:
        if self._think is not None and not self._think.in_text:
            self._flush_think(out)
        self._think = None  # native reasoning: the text carries no tags to parse
        text, sig, redacted = p.get("text"), p.get("signature"), p.get("redactedContent")
        if isinstance(text, str) and text:
            self._append("thinking", text, out)
        if isinstance(sig, str) and sig:
            if self._open != "thinking":
                self._append("thinking", "", out)
            out.append(ir.SignatureDelta(self._next - 1, sig))
        if isinstance(redacted, str) and redacted:
            self._close(out)
            i = self._open_part(ir.RedactedThinkingPart(redacted), out)
            out.append(ir.PartStop(i))

    def _tool(self, p: JsonObject, out: list[ir.StreamEvent]) -> None:
        call_id, name, fragment = p.get("toolUseId"), p.get("name"), p.get("input")
        if call_id is None and len(self._calls) == 1:
            call_id = next(iter(self._calls))
        if not isinstance(call_id, str) or not call_id:
            raise StreamProtocolError(f"toolUseEvent without a toolUseId: {_compact(p)[:200]}")
        if name is not None and not isinstance(name, str):
            raise StreamProtocolError(f"toolUseEvent name is not text: {name!r}"[:200])
        if call_id in self._done:
            self._ctx.note(
                "events.toolUseEvent", f"frame for finished tool call {call_id}; ignored"
            )
            return
        call = self._calls.get(call_id)
        if call is None:
            call = self._calls[call_id] = _Call(call_id, name or None)
        elif name and call.name and name != call.name:
            raise StreamProtocolError(f"tool call {call_id} changed its name to {name!r}")
        elif name and not call.name:
            call.name = name
        if isinstance(fragment, str):
            call.args.append(fragment)
        elif isinstance(fragment, dict):  # the wrapped form: the whole input as an object
            if fragment or call.args:
                call.args.append(_compact(fragment))
        elif fragment is not None:
            raise StreamProtocolError(
                f"toolUseEvent input is neither text nor object: {fragment!r}"[:200]
            )
        if p.get("stop") is True:
            del self._calls[call_id]
            self._deliver(call, out)

    def _deliver(self, call: _Call, out: list[ir.StreamEvent]) -> None:
        args = "".join(call.args)
        try:
            value = json.loads(args) if args.strip() else {}
        except ValueError:
            value = None
        if not isinstance(value, dict) or not call.name:
            what = "has no name" if not call.name else "arguments are not a JSON object"
            self._cut_off(f"tool call {call.name or '?'} ({call.id}) {what}: not delivered")
            return
        self._flush_think(out)
        self._close(out)
        i = self._open_part(ir.ToolCallPart(call.id, call.name, ""), out)
        args = args if args.strip() else "{}"
        out.append(ir.ToolArgsDelta(i, args))
        out.append(ir.PartStop(i))
        self._done.add(call.id)
        self._tools += 1
        self._out_text.append(args)

    def _metering(self, p: JsonObject, out: list[ir.StreamEvent]) -> None:
        credits = p.get("usage", p.get("amount"))
        if isinstance(credits, int | float) and not isinstance(credits, bool):
            self._credits = (self._credits or 0) + float(credits)
        self._stage = "completed"

    def _context_usage(self, p: JsonObject, out: list[ir.StreamEvent]) -> None:
        pct = p.get("contextUsagePercentage")
        if isinstance(pct, int | float) and not isinstance(pct, bool):
            self._percent = float(pct)
        self._stage = "completed"

    def _metadata(self, p: JsonObject, out: list[ir.StreamEvent]) -> None:
        tokens = p.get("tokenUsage")
        if isinstance(tokens, dict):
            self._tokens = tokens

    def _invalid_state(self, p: JsonObject, out: list[ir.StreamEvent]) -> None:
        why = " ".join(str(p[k]) for k in ("reason", "message") if p.get(k))
        self._fail(
            ir.ErrorInfo("invalid_request", f"Kiro invalid state: {why or _compact(p)}"), out
        )

    def _quiet(self, p: JsonObject, out: list[ir.StreamEvent]) -> None:
        """Informational (ids): nothing for the client."""

    def _exception(self, msg: Message, out: list[ir.StreamEvent]) -> None:
        raw = msg.string(":exception-type") or "Exception"
        etype = raw.rsplit("#", 1)[-1]
        text = _text(msg.payload)
        if etype in EXCEPTION_STOPS:
            self._start(out)
            self._cut_off(f"Kiro {etype}: {text}")
            out.extend(self.finish())
            return
        kind = EXCEPTION_KINDS.get(etype, "api_error")
        self._fail(ir.ErrorInfo(kind, f"Kiro {etype}: {text}", code=etype), out)

    # ------------------------------------------------------------------ parts

    def _start(self, out: list[ir.StreamEvent]) -> None:
        match self._stage:
            case "waiting":
                self._stage = "reading"
                out.append(
                    ir.MessageStart(
                        self._ctx.ids.make("msg_kiro_"), self._ctx.requested_model or ""
                    )
                )
            case "reading" | "completed" | "ended":
                pass
            case _:
                assert_never(self._stage)

    def _open_part(self, part: ir.Part, out: list[ir.StreamEvent]) -> int:
        i = self._next
        self._next += 1
        out.append(ir.PartStart(i, part))
        return i

    def _append(
        self, kind: Literal["text", "thinking"], text: str, out: list[ir.StreamEvent]
    ) -> None:
        if self._open != kind:
            self._close(out)
            self._open_part(ir.TextPart("") if kind == "text" else ir.ThinkingPart(""), out)
            self._open = kind
        if text:
            i = self._next - 1
            out.append(ir.TextDelta(i, text) if kind == "text" else ir.ThinkingDelta(i, text))
            self._out_text.append(text)

    def _close(self, out: list[ir.StreamEvent]) -> None:
        if self._open is not None:
            out.append(ir.PartStop(self._next - 1))
            self._open = None

    def _flush_think(self, out: list[ir.StreamEvent]) -> None:
        if self._think is not None and not self._think.in_text:
            for kind, text in self._think.flush():
                self._append(kind, text, out)

    def _end_parts(self, out: list[ir.StreamEvent]) -> None:
        self._flush_think(out)
        self._close(out)

    def _cut_off(self, why: str) -> None:
        self._cut.append(why)
        self._ctx.note("stop_reason", f"max_tokens: {why}")

    def _fail(self, err: ir.ErrorInfo, out: list[ir.StreamEvent]) -> None:
        self._stage = "ended"
        out.append(ir.StreamError(err))

    def _usage(self) -> ir.Usage:
        extra: JsonObject = {}
        if self._credits is not None:
            extra["kiro_credits"] = self._credits
        if self._percent is not None:
            extra["kiro_context_percent"] = self._percent
        tokens = self._tokens
        if tokens is not None:
            uncached, read, write = (
                _int(tokens.get("uncachedInputTokens")),
                _int(tokens.get("cacheReadInputTokens")),
                _int(tokens.get("cacheWriteInputTokens")),
            )
            total_in = (
                None
                if uncached is None and read is None and write is None
                else ((uncached or 0) + (read or 0) + (write or 0))
            )
            return ir.Usage(total_in, _int(tokens.get("outputTokens")), read, write, extra=extra)
        output = estimate_tokens("".join(self._out_text))
        prompt = None
        if self._percent is not None:
            model = resolve(
                self._ctx.requested_model or "",
                self._settings.known_models,
                self._settings.model_aliases,
            ).wire
            total = round(self._percent / 100 * self._settings.context_window(model))
            prompt = max(0, total - output)
        extra["estimated"] = True
        return ir.Usage(prompt, output, extra=extra)


_Handler = Callable[[StreamDecoder, JsonObject, list[ir.StreamEvent]], None]
_EVENTS: Final[dict[str, _Handler]] = {
    "assistantResponseEvent": StreamDecoder._assistant,
    "codeEvent": StreamDecoder._code,
    "reasoningContentEvent": StreamDecoder._reasoning,
    "toolUseEvent": StreamDecoder._tool,
    "meteringEvent": StreamDecoder._metering,
    "contextUsageEvent": StreamDecoder._context_usage,
    "metadataEvent": StreamDecoder._metadata,
    "invalidStateEvent": StreamDecoder._invalid_state,
    "messageMetadataEvent": StreamDecoder._quiet,
    "followupPromptEvent": StreamDecoder._quiet,
}


def _payload(msg: Message, etype: str) -> JsonObject:
    if not msg.payload:
        return {}
    try:
        value = json.loads(msg.payload)
    except (ValueError, RecursionError) as e:
        raise StreamProtocolError(f"Kiro {etype} payload is not JSON: {msg.payload[:120]!r}") from e
    if not isinstance(value, dict):
        raise StreamProtocolError(f"Kiro {etype} payload is not an object: {msg.payload[:120]!r}")
    inner = value.get(etype)
    if len(value) == 1 and isinstance(inner, dict):
        return inner  # the wrapped form
    return value


def _text(payload: bytes) -> str:
    """An exception or error payload's message (JSON ``message`` or the text itself)."""
    text = payload.decode("utf-8", "replace").strip()
    try:
        value = json.loads(text)
    except ValueError:
        return text[:1000]
    if isinstance(value, dict):
        for key in ("message", "Message", "errorMessage"):
            if isinstance(value.get(key), str):
                return str(value[key])
    return text[:1000]


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


# --------------------------------------------------------------------------- bytes, responses


class BytesDecoder:
    """Event-stream bytes -> IR stream events: the framing and the decoder together.
    ``feed(b"")`` ends the stream. Raises StreamProtocolError (EventStreamError for framing)."""

    def __init__(self, ctx: Context, settings: KiroSettings | None = None) -> None:
        self.frames = EventStreamDecoder()
        self.decoder = StreamDecoder(ctx, settings)

    def feed(self, chunk: bytes) -> list[ir.StreamEvent]:
        out: list[ir.StreamEvent] = []
        if chunk:
            for msg in self.frames.feed(chunk):
                out += self.decoder.push(msg)
            return out
        self.frames.close()
        return self.decoder.finish()


def collect(events: Iterable[ir.StreamEvent], ctx: Context) -> ir.Response | ir.ErrorInfo:
    """IR stream events folded into the response they describe, or the error that ended them
    (Kiro only streams: a non-streaming client gets the stream assembled)."""
    resp = ir.Response(id="", model=ctx.requested_model or "", content=[], stop_reason=None)
    for ev in events:
        match ev:
            case ir.MessageStart():
                resp.id, resp.model = ev.id, ev.model or resp.model
            case ir.PartStart():
                resp.content.append(ev.part)
            case ir.TextDelta():
                part = resp.content[ev.index]
                assert isinstance(part, ir.TextPart)
                part.text += ev.text
            case ir.ThinkingDelta():
                thinking = resp.content[ev.index]
                assert isinstance(thinking, ir.ThinkingPart)
                thinking.text += ev.text
            case ir.SignatureDelta():
                signed = resp.content[ev.index]
                assert isinstance(signed, ir.ThinkingPart)
                signed.signature = (signed.signature or "") + ev.signature
            case ir.ToolArgsDelta():
                call = resp.content[ev.index]
                assert isinstance(call, ir.ToolCallPart)
                call.arguments += ev.json
            case ir.UsageUpdate():
                resp.usage = ir.merge_usage(resp.usage, ev.usage)
            case ir.Finish():
                resp.stop_reason, resp.stop_sequence = ev.stop_reason, ev.stop_sequence
            case ir.StreamError():
                return ev.error
            case ir.OpaqueDelta() | ir.PartStop() | ir.KeepAlive():
                pass
    return resp


def response_to_ir(body: Any, ctx: Context, settings: KiroSettings | None = None) -> ir.Response:
    """A whole Kiro response body (event-stream bytes) as an IR response. An error inside the
    stream is an UpstreamFailedError with its kind and message."""
    if not isinstance(body, bytes | bytearray):
        raise WireFormatError("a Kiro response body is an event stream (bytes)")
    dec = BytesDecoder(ctx, settings)
    got = collect(dec.feed(bytes(body)) + dec.feed(b""), ctx)
    if isinstance(got, ir.ErrorInfo):
        raise UpstreamFailedError(got.kind, got.message)
    return got
