"""The Kiro (Amazon Q Developer / CodeWhisperer streaming) codec: an upstream-only dialect.

UNOFFICIAL: Kiro's wire format is undocumented; everything here follows reverse-engineered
clients (research/kiro.md) and every rule that may change is a :class:`KiroSettings` field.

- requests: :mod:`kiro_request` (IR -> ``conversationState``, and back for reading recordings);
- responses: always an AWS event stream (:mod:`recorder.wire.eventstream`), decoded by
  :mod:`kiro_stream` into IR stream events; a non-streaming client gets them assembled
  (:func:`collect`, :func:`response_to_ir`);
- errors: :mod:`kiro_errors`;
- model names: :mod:`kiro_models`.

Nothing speaks Kiro *to* the gateway, so the client-side halves (``response_from_ir``, a
stream encoder) refuse with an explicit error.
"""

from __future__ import annotations

import json
from typing import Any

from recorder import ir
from recorder.codecs.base import Codec, FunctionCodec, RecordedFrame, StreamEncoder
from recorder.codecs.kiro_errors import error_from_ir, error_to_ir
from recorder.codecs.kiro_request import KiroLimitError, request_from_ir, request_to_ir
from recorder.codecs.kiro_settings import DEFAULT_SETTINGS, KiroSettings
from recorder.codecs.kiro_stream import BytesDecoder, StreamDecoder, collect, response_to_ir
from recorder.context import Context
from recorder.errors import UnsupportedContentError
from recorder.sse import SseEvent
from recorder.wire.eventstream import EventStreamDecoder, Message, message_to_json

__all__ = [
    "CODEC",
    "DEFAULT_SETTINGS",
    "BytesDecoder",
    "KiroLimitError",
    "KiroSettings",
    "StreamDecoder",
    "collect",
    "error_from_ir",
    "error_to_ir",
    "request_from_ir",
    "request_to_ir",
    "response_from_ir",
    "response_to_ir",
]


_UPSTREAM_ONLY = "Kiro is an upstream dialect: no client is answered in it"


def response_from_ir(resp: ir.Response, ctx: Context) -> dict[str, Any]:
    raise UnsupportedContentError(_UPSTREAM_ONLY)


def _no_client(*args: object) -> Any:
    raise UnsupportedContentError(_UPSTREAM_ONLY)


def _never(ev: SseEvent) -> bool:
    return False


class Frames:
    """The :class:`recorder.codecs.base.FrameParser` of Kiro's AWS event stream."""

    __slots__ = ("_decoder",)

    def __init__(self) -> None:
        self._decoder = EventStreamDecoder()

    def one_event(self, chunk: bytes) -> Message | None:
        return None  # no fast path: feed() takes every chunk

    def feed(self, chunk: bytes) -> list[Message]:
        return self._decoder.feed(chunk)

    def close(self) -> list[Message]:
        self._decoder.close()  # EventStreamError when a message was cut off
        return []


def _stream_encoder(ctx: Context) -> StreamEncoder:
    raise UnsupportedContentError(_UPSTREAM_ONLY)


def recorded(msg: Message) -> RecordedFrame:
    """A message as a recorded event: named by its event type (``exception:TYPE`` /
    ``error:CODE`` for the others), its headers and payload as JSON."""
    kind = msg.string(":message-type") or "message"
    name = {
        "event": msg.string(":event-type"),
        "exception": f"exception:{msg.string(':exception-type')}",
        "error": f"error:{msg.string(':error-code')}",
    }.get(kind, kind)
    return name, json.dumps(message_to_json(msg), ensure_ascii=False), None


CODEC: Codec[Message] = FunctionCodec(
    request_to_ir=request_to_ir,
    request_from_ir=request_from_ir,
    response_to_ir=response_to_ir,
    response_from_ir=response_from_ir,
    error_to_ir=error_to_ir,
    error_from_ir=error_from_ir,
    error_event=_no_client,
    is_terminal=_never,
    is_token=_never,
    frames=Frames,
    stream_decoder=StreamDecoder,
    stream_encoder=_stream_encoder,
    models_body=_no_client,
    recorded=recorded,
)
