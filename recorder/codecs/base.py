"""The contract every dialect's codec fulfils: :class:`Codec`, and the stream halves it makes.

A codec translates one dialect's wire format to and from the IR, in both directions and for the
three kinds of body (requests, responses, errors), plus streams: a :class:`FrameParser` cuts the
upstream's bytes into the frames of the dialect's stream framing (SSE events; AWS event-stream
messages for Kiro), a :class:`StreamDecoder` turns frames into IR stream events, a
:class:`StreamEncoder` IR stream events into SSE events for a client. Codecs are pure: no I/O, no
clock, no random ids (:class:`recorder.context.Context` injects them).

Most codecs are modules of functions; :class:`FunctionCodec` bundles them into a ``Codec``
(``CODEC`` in each codec module), and the dialect registry (:mod:`recorder.dialects`) hands that
out. ``text_delta`` is the fast path of :class:`recorder.translate.StreamTranslator`: a decoder
recognises a frame that is exactly one text delta into the open part (``push`` would return
exactly ``[TextDelta(index, text)]`` and change no other state), an encoder formats it (``push``
of that delta would return exactly that one event); either answers None to take the general path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from recorder import ir
from recorder.context import Context
from recorder.sse import SseEvent

F = TypeVar("F")  # a frame of the dialect's stream framing
F_contra = TypeVar("F_contra", contravariant=True)
JsonObject = dict[str, Any]
RecordedFrame = tuple[str | None, str | None, str | None]  # event name, data, comment


class FrameParser(Protocol[F]):
    """Incremental parser of one response's stream: bytes in arbitrary chunks -> whole frames."""

    def one_event(self, chunk: bytes) -> F | None:
        """The one frame ``chunk`` holds when it is exactly one whole frame and nothing is
        pending (the usual chunk), else None (then ``feed`` it)."""

    def feed(self, chunk: bytes) -> list[F]: ...

    def close(self) -> list[F]:
        """End of the body: what is still pending (StreamProtocolError when it cannot be)."""


class StreamDecoder(Protocol[F_contra]):
    """Wire frames -> IR stream events, one per response."""

    def push(self, frame: F_contra) -> list[ir.StreamEvent]: ...

    def text_delta(self, frame: F_contra) -> tuple[int, str] | None: ...

    @property
    def ended(self) -> bool:
        """The stream's terminal event (or an error that ends it) was read: nothing after it is
        part of the stream, so a translator ends the client's stream there."""

    def finish(self) -> list[ir.StreamEvent]:
        """End of input; a StreamError when the stream ended without its terminal event."""


class StreamEncoder(Protocol):
    """IR stream events -> the client's SSE events, one per response."""

    def push(self, ev: ir.StreamEvent) -> list[SseEvent]: ...

    def text_delta(self, index: int, text: str) -> SseEvent | None: ...

    def finish(self) -> list[SseEvent]:
        """Closes the stream per the dialect's grammar."""


class Codec(Protocol[F]):
    """One dialect's translation, both directions. ``F``: the frame of its stream framing."""

    def request_to_ir(self, body: Any) -> ir.Request:
        """WireFormatError on a body not of the dialect's shape."""

    def request_from_ir(self, req: ir.Request, ctx: Context) -> JsonObject:
        """Drops what the dialect cannot carry with ``ctx.note``; refuses content it cannot carry
        (UnsupportedContentError)."""

    def adapt_request(self, req: ir.Request, ctx: Context) -> None:
        """Fit what only this (client) dialect has to an upstream of another dialect."""

    def response_to_ir(self, body: Any, ctx: Context) -> ir.Response: ...

    def response_from_ir(self, resp: ir.Response, ctx: Context) -> JsonObject: ...

    def error_to_ir(self, status: int, body: Any) -> ir.ErrorInfo:
        """Any body, even text that is not JSON."""

    def error_from_ir(self, err: ir.ErrorInfo) -> tuple[int, JsonObject]:
        """``(status, body)`` in this dialect."""

    def error_event(self, err: ir.ErrorInfo) -> SseEvent:
        """An error told inside a stream that is under way, in this dialect."""

    def is_terminal(self, ev: SseEvent) -> bool:
        """``ev`` (sent to a client) ends the stream: nothing may follow it."""

    def is_token(self, ev: SseEvent) -> bool:
        """``ev`` (sent to a client) carries model output: the first one is the first token."""

    def frames(self) -> FrameParser[F]: ...

    def stream_decoder(self, ctx: Context) -> StreamDecoder[F]: ...

    def stream_encoder(self, ctx: Context) -> StreamEncoder: ...

    def models_body(self, names: list[str], created: int) -> JsonObject:
        """``GET /v1/models`` in this dialect, listing ``names``."""

    def recorded(self, frame: F) -> RecordedFrame:
        """How a frame of its stream is stored as a recorded event: (event name, data text,
        comment). SSE events as they are; other framings as a readable JSON view."""


def sse_recorded(ev: SseEvent) -> RecordedFrame:
    return ev.event, ev.data, ev.comment


def no_adaptation(req: ir.Request, ctx: Context) -> None:
    """``adapt_request`` of a dialect that has nothing only it can say."""


@dataclass(frozen=True, slots=True)
class FunctionCodec(Generic[F]):
    """A :class:`Codec` made of a codec module's functions and stream classes."""

    request_to_ir: Callable[[Any], ir.Request]
    request_from_ir: Callable[[ir.Request, Context], JsonObject]
    response_to_ir: Callable[[Any, Context], ir.Response]
    response_from_ir: Callable[[ir.Response, Context], JsonObject]
    error_to_ir: Callable[[int, Any], ir.ErrorInfo]
    error_from_ir: Callable[[ir.ErrorInfo], tuple[int, JsonObject]]
    error_event: Callable[[ir.ErrorInfo], SseEvent]
    is_terminal: Callable[[SseEvent], bool]
    is_token: Callable[[SseEvent], bool]
    frames: Callable[[], FrameParser[F]]
    stream_decoder: Callable[[Context], StreamDecoder[F]]
    stream_encoder: Callable[[Context], StreamEncoder]
    models_body: Callable[[list[str], int], JsonObject]
    adapt_request: Callable[[ir.Request, Context], None] = no_adaptation
    recorded: Callable[[F], RecordedFrame] = sse_recorded  # type: ignore[assignment]
