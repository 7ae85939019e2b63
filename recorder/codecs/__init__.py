"""One codec per dialect, every codec the same public shape (both directions, three kinds of body).

A codec module exposes exactly::

    request_to_ir(body: Any) -> ir.Request                       # WireFormatError on a bad shape
    request_from_ir(req: ir.Request, ctx: Context) -> dict        # drops with ctx.note(...), or
                                                                  # UnsupportedContentError
    response_to_ir(body: Any, ctx: Context) -> ir.Response       # ctx.ids for missing ids
    response_from_ir(resp: ir.Response, ctx: Context) -> dict
    error_to_ir(status: int, body: Any) -> ir.ErrorInfo           # any body, even non-JSON text
    error_from_ir(err: ir.ErrorInfo) -> tuple[int, dict]          # (status, body) in this dialect
    class StreamDecoder:                 # wire SSE events -> IR stream events; one per response
        def __init__(self, ctx: Context) -> None
        def push(self, ev: SseEvent) -> list[ir.StreamEvent]
        def finish(self) -> list[ir.StreamEvent]   # end of input; StreamError if no terminal event
    class StreamEncoder:                 # IR stream events -> wire SSE events; one per response
        def __init__(self, ctx: Context) -> None
        def push(self, ev: ir.StreamEvent) -> list[SseEvent]
        def finish(self) -> list[SseEvent]         # closes the stream per the dialect's grammar

Codecs import only the standard library, pydantic and ``recorder.{ir,sse,errors,context,wire}``.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import get_args

from recorder.ir import Dialect

_KNOWN: frozenset[str] = frozenset(get_args(Dialect))

_loaded: dict[str, ModuleType] = {}


def codec(dialect: Dialect) -> ModuleType:
    """The codec module of ``dialect``, imported on first use (so one broken codec cannot break
    the other) and cached: the gateway asks several times per flow."""
    mod = _loaded.get(dialect)
    if mod is None:
        if dialect not in _KNOWN:
            raise ValueError(f"unknown dialect {dialect!r}")
        mod = _loaded[dialect] = importlib.import_module(f"recorder.codecs.{dialect}")
    return mod
