"""The exceptions tapegate raises, mapped to a client-dialect error body at the boundary.

* TapegateError
  + TranslationError            a body could not be translated (the gateway answers in dialect)
    - WireFormatError           the body is not valid JSON of the dialect's shape      -> 400 / 502
    - UnsupportedContentError   content the target dialect cannot carry, never dropped -> 400
    - StreamProtocolError       an upstream stream broke its grammar or SSE framing -> error event
    - UpstreamFailedError       a stream read whole held an error            -> that error
  + ConfigError                 a bad option or routes file (the gateway refuses to start)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from recorder.ir import ErrorKind


class TapegateError(Exception):
    """Base class of every error tapegate raises on purpose."""


class TranslationError(TapegateError):
    """A body could not be translated between dialects."""


class WireFormatError(TranslationError):
    """The input is not valid JSON, or not of the shape its dialect requires."""


class UnsupportedContentError(TranslationError):
    """The source holds conversation content the target dialect cannot express."""


class StreamProtocolError(TranslationError):
    """An upstream SSE stream is malformed or violates its dialect's event grammar."""


class UpstreamFailedError(TranslationError):
    """An upstream answer read whole turned out to be a failure (an error inside a stream that
    is collected into one body); ``kind`` is an IR error kind for the client's answer."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind


class ConfigError(TapegateError):
    """A gateway option or routes file is invalid; the message names the place."""
