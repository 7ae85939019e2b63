"""What the recorder wants to know about a finished exchange — the model that answered, usage,
the stop reason, an in-stream error, and the answer itself (its tool calls fill the
``tool_calls`` table) — read from the client leg through the client dialect's own codec, the
reader the gateway translates with. No wire format is read anywhere else. Pure.

The stop reason is the IR's vocabulary whatever the dialect and whatever the path (gateway or
plain pass-through): ``end_turn``, ``max_tokens``, ``stop_sequence``, ``tool_use``,
``content_filter``, ``refusal``, ``pause_turn``, ``context_window_exceeded`` (docs/schema.md).

:func:`settle` runs in the recorder's sinks (the writer process, the cassette writer) and the
observer process, never on the proxy's event loop: a stream was taped there as raw bytes
(:class:`recorder.exchange.EventTape`) and is parsed here, once, on its way to DuckDB.
"""

from __future__ import annotations

import json
from typing import Any

from recorder import dialects, ir
from recorder.accumulate import UNREADABLE, fold
from recorder.codecs.base import Codec
from recorder.context import Context, IdFactory
from recorder.exchange import Exchange, untape
from recorder.sse import SseEvent


def settle(ex: Exchange) -> None:
    """Parse a taped stream into events and chunks, then read the client leg's answer."""
    if ex.taped is not None:
        untape(ex)
    read_answer(ex)


def read_answer(ex: Exchange) -> None:
    """Fill ``ex``'s model, usage, stop reason, answer and (an in-stream or error body's)
    error from what the client was sent; what the gateway already knows is kept (reading
    twice gives the same). Then what only the upstream leg says: the usage, when the client
    was sent none (an OpenAI stream whose client did not ask for it: the gateway asks its
    upstream all the same), and a run-like backend's facts (:func:`read_run`)."""
    _read_client(ex)
    if _no_tokens(ex.usage):
        ex.usage = upstream_usage(ex) or ex.usage
    read_run(ex)


def _no_tokens(u: ir.Usage | None) -> bool:
    return u is None or all(
        n is None
        for n in (u.input_tokens, u.output_tokens, u.cache_read_tokens, u.cache_creation_tokens)
    )


def _read_client(ex: Exchange) -> None:
    spec = dialects.named(ex.client_dialect or "")
    if spec is None:
        return  # traffic of no known dialect: nothing to read
    codec = spec.codec
    ctx = Context(spec.name, spec.name, ids=IdFactory(ex.id))
    events = [e for e in ex.events if e.leg == "client"]
    resp = ex.client_response
    if events:
        frames = (SseEvent(e.event, e.data, comment=e.comment) for e in events)
        folded = fold(codec.stream_decoder(ctx), frames)
        acc = folded.acc
        ex.model_answered = ex.model_answered or acc.model
        ex.usage = ex.usage or acc.usage
        ex.stop_reason = ex.stop_reason or acc.stop_reason
        ex.answer = ex.answer or folded.response
        if folded.error is not None:
            # What the gateway itself saw go wrong (a lost upstream, a hang-up) comes first.
            ex.error = ex.error or error_text(folded.error)
    elif resp is not None and resp.body:
        body = _json(resp.body)
        # A 200 may hold an error too: some OpenAI-compatible servers answer so, and a failed
        # Responses object carries its error so. Every dialect calls that object "error".
        if resp.status >= 400 or (isinstance(body, dict) and isinstance(body.get("error"), dict)):
            try:
                ex.error = ex.error or error_text(codec.error_to_ir(resp.status, body or resp.body))
            except UNREADABLE:  # the summary keeps what it could read
                pass
            return
        answer = _answer(codec, ctx, body)
        if answer is None:
            return
        ex.answer = ex.answer or answer
        ex.model_answered = ex.model_answered or answer.model or None
        ex.usage = ex.usage or answer.usage
        ex.stop_reason = ex.stop_reason or answer.stop_reason


def upstream_usage(ex: Exchange) -> ir.Usage | None:
    """The usage the upstream leg's answer carries, read through its dialect's codec; None
    when it carries none, failed, or cannot be read."""
    spec = dialects.named(ex.upstream_dialect or "")
    if spec is None or ex.upstream_request is None:
        return None
    ctx = Context(spec.name, spec.name, ids=IdFactory(ex.id))
    options = ex.extra.get("upstream_options")
    ctx.upstream_options = options if isinstance(options, dict) else None
    events = [e for e in ex.events if e.leg == "upstream"]
    resp = ex.upstream_response
    if events:
        frames: list[Any]
        if spec.framing is dialects.SSE:
            frames = [SseEvent(e.event, e.data, comment=e.comment) for e in events]
        else:  # recorded as readable views: the codec reads its frames from the raw chunks
            parser = spec.codec.frames()
            frames = []
            try:
                for c in ex.chunks:
                    frames += parser.feed(c.data)
            except UNREADABLE:
                pass
        usage = fold(spec.codec.stream_decoder(ctx), frames[: len(events)]).acc.usage
        return None if _no_tokens(usage) else usage
    if resp is None or resp.status >= 400 or not resp.body:
        return None
    answer = _answer(spec.codec, ctx, _json(resp.body))
    return None if answer is None or _no_tokens(answer.usage) else answer.usage


def read_run(ex: Exchange) -> None:
    """A run-like upstream's facts (the CLI's cost and session) into ``ex.extra``, from its
    events, streamed or in its body (:attr:`recorder.dialects.DialectEntry.run_facts`)."""
    spec = dialects.named(ex.upstream_dialect or "")
    if spec is None or spec.run_facts is None:
        return
    events: list[tuple[str | None, str | None]] = [
        (e.event, e.data) for e in ex.events if e.leg == "upstream"
    ]
    resp = ex.upstream_response
    if not events and resp is not None and resp.body and spec.run_events is not None:
        events = list(spec.run_events(_json(resp.body)) or [])
    for key, value in spec.run_facts(events).items():
        ex.extra.setdefault(key, value)


def _answer(codec: Codec[Any], ctx: Context, body: Any) -> ir.Response | None:
    """A JSON answer as its codec reads it; None when the codec refuses it."""
    try:
        return codec.response_to_ir(body, ctx)
    except UNREADABLE:
        return None


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None


def error_text(err: ir.ErrorInfo) -> str:
    """An error as ``type: message``, with the provider's own error type when it gave one (the
    codecs keep a ``type`` that is not their code in ``extra``), else its code, else the kind."""
    label = err.extra.get("type")
    return f"{label if isinstance(label, str) else err.code or err.kind}: {err.message}"
