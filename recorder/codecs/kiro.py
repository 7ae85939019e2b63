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

from typing import Any

from recorder import ir
from recorder.codecs.kiro_errors import error_from_ir, error_to_ir
from recorder.codecs.kiro_request import KiroLimitError, request_from_ir, request_to_ir
from recorder.codecs.kiro_settings import DEFAULT_SETTINGS, KiroSettings
from recorder.codecs.kiro_stream import BytesDecoder, StreamDecoder, collect, response_to_ir
from recorder.context import Context
from recorder.errors import UnsupportedContentError

__all__ = [
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


def response_from_ir(resp: ir.Response, ctx: Context) -> dict[str, Any]:
    raise UnsupportedContentError("Kiro is an upstream dialect: no client is answered in it")
