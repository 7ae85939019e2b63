"""The one entry point to translation, used alike by the live gateway and ``recorder translate``.

``client`` is the dialect the caller of the gateway speaks; ``upstream`` the dialect of the server
behind it. Requests go client -> upstream, responses, errors and streams upstream -> client. When
both are the same dialect nothing is rewritten: bodies and stream bytes pass through untouched.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Literal, Protocol, assert_never

from recorder import ir
from recorder.codecs.base import FrameParser, StreamDecoder, StreamEncoder
from recorder.context import Context
from recorder.dialects import codec, entry
from recorder.errors import StreamProtocolError, TranslationError, WireFormatError
from recorder.sse import SseEvent, encode_text

__all__ = [
    "StreamObserver",
    "StreamTranslator",
    "parse_json",
    "translate_error",
    "translate_request",
    "translate_response",
]


def parse_json(raw: bytes | str) -> Any:
    """JSON from wire bytes; a clear WireFormatError instead of a JSONDecodeError."""
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise WireFormatError(f"body is not valid JSON: {e}") from e


def translate_request(body: Any, ctx: Context) -> dict[str, Any]:
    """A client request body (parsed JSON) as the upstream dialect's request body."""
    if not isinstance(body, dict):
        raise WireFormatError("request body must be a JSON object")
    client = codec(ctx.client)
    req = client.request_to_ir(body)
    ctx.requested_model = req.model
    if req.include_usage is not None or entry(ctx.client).usage_opt_in:
        ctx.include_usage = bool(req.include_usage)
    if ctx.client == ctx.upstream:
        return body
    client.adapt_request(req, ctx)  # what only the client's dialect has, fitted to the upstream
    if entry(ctx.upstream).short_tool_names:
        _rename_tools(req, ctx.tool_names.shorten)
    return dict(codec(ctx.upstream).request_from_ir(req, ctx))


def translate_response(body: Any, ctx: Context) -> dict[str, Any]:
    """An upstream (non-streaming) response body as the client dialect's response body."""
    if ctx.client == ctx.upstream:
        if not isinstance(body, dict):
            raise WireFormatError("response body must be a JSON object")
        return body
    resp = codec(ctx.upstream).response_to_ir(body, ctx)
    resp.content = [_restore_part(p, ctx) for p in resp.content]
    return dict(codec(ctx.client).response_from_ir(resp, ctx))


def translate_error(status: int, body: Any, ctx: Context) -> tuple[int, dict[str, Any]]:
    """An upstream error (any body, even text) as ``(status, body)`` in the client dialect."""
    err = codec(ctx.upstream).error_to_ir(status, body)
    return codec(ctx.client).error_from_ir(err)


def error_body(err: ir.ErrorInfo, dialect: ir.Dialect) -> tuple[int, dict[str, Any]]:
    """An error the gateway itself raises, in ``dialect``."""
    return codec(dialect).error_from_ir(err)


class StreamObserver(Protocol):
    """Sees both legs of a stream as it passes (the recorder); must not block. At most two
    calls per ``feed``, each with a batch: this runs for every chunk of every stream."""

    def upstream(self, chunk: bytes, frames: list[Any]) -> None:
        """An upstream chunk and the frames it completed (SSE events, or the messages of the
        upstream's own framing); ``b""``: the body ended and its unterminated last frame was
        flushed (called then only if there was one)."""

    def client(self, events: list[SseEvent], wire: bytes) -> None:
        """Bytes sent to the client and the events they complete, in order; ``b""``: the
        pass-through body ended and flushed ``events``."""


# Where a StreamTranslator is (matched exhaustively):
#   open     bytes come in and go out
#   failing  ... after the upstream's own error event, passed on to the client (a decoder
#            that does not end at it reads on to the end of the body)
#   ended    the upstream body ended; the client's stream was closed by its grammar
#   failed   ... after the upstream's own error event
#   broken   the upstream's stream could not be read: the client got an error event
Stage = Literal["open", "failing", "ended", "failed", "broken"]


class _Codecs:
    """The halves of a translating stream, and their fast-path recognisers bound once."""

    __slots__ = ("decoder", "encoder", "text_in", "text_out")

    def __init__(self, decoder: StreamDecoder[Any], encoder: StreamEncoder) -> None:
        self.decoder = decoder
        self.encoder = encoder
        self.text_in: Callable[[Any], tuple[int, str] | None] = decoder.text_delta
        self.text_out: Callable[[int, str], SseEvent | None] = encoder.text_delta


class StreamTranslator:
    """Sans-I/O SSE translation: ``feed(chunk)`` returns the client bytes for that chunk;
    ``feed(b"")`` marks the end of the upstream body (mitmproxy's convention) and flushes.

    Never raises: a malformed upstream stream becomes an error event in the client dialect, so
    the client sees a failure rather than a clean close.
    """

    # Tests switch this off to compare the fast path (in feed) with the general path.
    fast_path = True

    def __init__(self, ctx: Context, observer: StreamObserver | None = None) -> None:
        self.ctx = ctx
        self._observer = observer
        upstream = codec(ctx.upstream)
        # Frames of the upstream's framing (SSE events, or AWS event-stream messages).
        self._parser: FrameParser[Any] = upstream.frames()
        # None: a pass-through (the same dialect on both sides), bytes pass untouched.
        self._codecs = (
            None
            if ctx.client == ctx.upstream
            else _Codecs(upstream.stream_decoder(ctx), codec(ctx.client).stream_encoder(ctx))
        )
        # Pass-through: the dialect's terminal events end the client's stream (whole events after
        # one in its chunk still pass; later chunks are not part of the stream).
        self._ends = codec(ctx.client).is_terminal if self._codecs is None else None
        self._fast = self.fast_path
        self._stage: Stage = "open"
        # Whole upstream frames seen so far: the gateway's idle timeout watches it change
        # (bytes that never complete a frame are no progress).
        self.frames_in = 0
        self._held = b""  # pass-through: the start of an event not yet whole (see _whole)

    def feed(self, chunk: bytes) -> bytes:
        match self._stage:
            case "open" | "failing":
                pass
            case "ended" | "failed" | "broken":
                return b""
            case _:
                assert_never(self._stage)
        obs = self._observer
        codecs = self._codecs
        if obs is None and codecs is None:
            # Nobody reads the events: the bytes pass unparsed, whole events at a time.
            if not chunk:
                self._stage = "ended"
            whole = self._whole(chunk)
            if whole and chunk:
                self.frames_in += 1
            return whole
        one = self._parser.one_event(chunk) if chunk and self._fast else None
        if one is not None:  # the common chunk: exactly one whole event
            self.frames_in += 1
            if obs is not None:
                obs.upstream(chunk, [one])
            if codecs is not None:
                # Fast path for the bulk of every answer, a text delta into the open text part:
                # the decoder only recognises it, the encoder formats its one event, and
                # neither changes state for it, so this is the general path's output without
                # its IR event and dispatch. Anything else (None) takes the general path.
                delta = codecs.text_in(one)
                out_ev = None if delta is None else codecs.text_out(*delta)
                if out_ev is not None:
                    try:
                        wire = encode_text(out_ev).encode()
                    except UnicodeEncodeError:
                        return self._emit([out_ev])  # lone surrogates: escaped there
                    if obs is not None:
                        obs.client([out_ev], wire)
                    return wire
            wire_in = [one]
        else:
            broken: StreamProtocolError | None = None
            try:
                wire_in = self._parser.feed(chunk) if chunk else self._parser.close()
            except StreamProtocolError as e:
                wire_in, broken = [], e
            self.frames_in += len(wire_in)
            if obs is not None and (chunk or wire_in):
                obs.upstream(chunk, wire_in)  # the raw chunk is kept even when it is broken
            if broken is not None and codecs is not None:
                return self._fail(codecs, broken)
        if codecs is None:
            whole = self._whole(chunk)
            if obs is not None and (whole or wire_in):
                obs.client(wire_in, whole)
            if not chunk:
                self._stage = "ended"
            else:
                ends = self._ends
                assert ends is not None
                for ev in wire_in:  # per chunk: a plain loop, no generator
                    if ends(ev):
                        self._stage = "ended"
                        break
            return whole
        out: list[SseEvent] = []
        decode, encode_ir = codecs.decoder.push, codecs.encoder.push
        try:
            for wev in wire_in:
                for iev in decode(wev):
                    if isinstance(iev, _RESTORED):  # rare: tool calls and upstream errors
                        iev = self._restore(iev)
                    out += encode_ir(iev)
            # The upstream's terminal event ends the client's stream at once, whatever the
            # upstream sends (or how long it takes to end its body) afterwards.
            if not chunk or codecs.decoder.ended:
                for iev in codecs.decoder.finish():
                    out += encode_ir(self._restore(iev))
                out += codecs.encoder.finish()
                self._end()
        except (TranslationError, RecursionError) as e:  # RecursionError: absurdly deep JSON
            return self._emit(out) + self._fail(codecs, e)
        return self._emit(out)

    def close(self) -> bytes:
        return self.feed(b"")

    def _whole(self, chunk: bytes) -> bytes:
        """Pass-through bytes up to the end of the last whole event (SSE: a blank line); the
        rest waits for the next chunk, so that a stream the gateway must end (a timeout) ends
        between events, where its error event can follow. ``b""``: the end, all of it."""
        held = self._held
        if not held and chunk.endswith(b"\n\n"):  # the common chunk: whole events
            return chunk
        data = held + chunk if held else chunk
        if not chunk:
            self._held = b""
            return data
        cut = max(_end_after(data, b"\n\n"), _end_after(data, b"\n\r\n"), _end_after(data, b"\r\r"))
        if not cut:  # no blank line yet
            self._held = data
            return b""
        self._held = data[cut:]
        return data[:cut]

    @property
    def done(self) -> bool:
        """The client's stream is complete: its terminal event went out (the upstream's own
        terminal event was read, or the translator ended the stream with an error), or the
        upstream body ended. What the upstream sends afterwards is no part of it: ``feed``
        returns nothing more. (An unobserved pass-through is not parsed: done at its end.)"""
        match self._stage:
            case "open" | "failing":
                return False
            case "ended" | "failed" | "broken":
                return True
            case _:
                assert_never(self._stage)

    @property
    def failed(self) -> bool:
        """True once the client was sent an error instead of a complete stream: the upstream
        stream broke, failed mid-way, or ended without its terminal event."""
        match self._stage:
            case "failing" | "failed" | "broken":
                return True
            case "open" | "ended":
                return False
            case _:
                assert_never(self._stage)

    def _end(self) -> None:
        """The upstream's stream ended, and the client's with it."""
        match self._stage:
            case "open":
                self._stage = "ended"
            case "failing":
                self._stage = "failed"
            case "ended" | "failed" | "broken":
                pass
            case _:
                assert_never(self._stage)

    def _fail(self, codecs: _Codecs, e: Exception) -> bytes:
        self._stage = "broken"
        why = f"upstream stream could not be translated: {e}"
        err = ir.ErrorInfo(kind="bad_gateway", message=why)
        out: list[SseEvent] = []
        try:
            out = codecs.encoder.push(ir.StreamError(err)) + codecs.encoder.finish()
        except TranslationError:
            pass
        return self._emit(out)

    def _emit(self, events: list[SseEvent]) -> bytes:
        # one str, encoded once: the same bytes as joining encode(ev) of each event
        text = "".join([encode_text(ev) for ev in events])
        try:
            out = text.encode()
        except UnicodeEncodeError:
            # A lone surrogate escaped in upstream JSON ("\ud800") decodes to a character UTF-8
            # cannot hold; written back as its JSON escape, the client reads the same string.
            events = [_escape_surrogates(ev) for ev in events]
            out = "".join([encode_text(ev) for ev in events]).encode()
        if self._observer is not None and events:
            self._observer.client(events, out)
        return out

    def _restore(self, ev: ir.StreamEvent) -> ir.StreamEvent:
        if isinstance(ev, ir.StreamError):
            if self._stage == "open":
                self._stage = "failing"
        elif isinstance(ev, ir.PartStart) and isinstance(ev.part, ir.ToolCallPart):
            return ir.PartStart(ev.index, _restore_part(ev.part, self.ctx))
        return ev


def _end_after(data: bytes, sep: bytes) -> int:
    """Where the last ``sep`` in ``data`` ends (0: none)."""
    at = data.rfind(sep)
    return 0 if at < 0 else at + len(sep)


def _escape_surrogates(ev: SseEvent) -> SseEvent:
    if ev.data is None:
        return ev
    data = ev.data.encode("utf-8", "backslashreplace").decode("utf-8")
    return SseEvent(ev.event, data, ev.id, ev.retry, ev.comment)


# IR events that _restore may change or take note of
_RESTORED = (ir.PartStart, ir.StreamError)


def _rename_tools(req: ir.Request, rename: Any) -> None:
    for tool in req.tools:
        tool.name = rename(tool.name)
    if req.tool_choice is not None and req.tool_choice.name is not None:
        req.tool_choice.name = rename(req.tool_choice.name)
    for msg in req.messages:
        for part in msg.content:
            if isinstance(part, ir.ToolCallPart):
                part.name = rename(part.name)


def _restore_part(part: ir.Part, ctx: Context) -> ir.Part:
    if isinstance(part, ir.ToolCallPart) and ctx.tool_names.from_wire:
        return replace(part, name=ctx.tool_names.restore(part.name))
    return part
