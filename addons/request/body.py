"""Reading and rewriting a request body without stalling the other clients.

A small body (up to :data:`OFFLOAD_BYTES`) is read and translated right on mitmproxy's event
loop: that costs microseconds to a few milliseconds. A large one would not: parsing,
checking and translating the 20 MB of a 600,000-message conversation is seconds of pure Python,
and every other client of the gateway would wait for it (measured before: ~10 s). So a large
body goes to a worker process (spawned on first use, one for the gateway, its work serialised
by :data:`_one_at_a_time`), which decodes, checks (:mod:`recorder.request_body`), keeps the
parsed body while the gateway routes on its model, then rewrites it; the event loop only hands
bytes over and back. The worker's functions are this module's top-level ``_worker_*``.

:func:`open_body` gives either kind as a :class:`Body` with one interface (``model``,
``stream``, :meth:`~Body.count_tokens`, :meth:`~Body.rewrite`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from recorder import endpoints, ir, request_body
from recorder.codecs.responses_history import Turn
from recorder.context import Context

if TYPE_CHECKING:  # multiprocessing loads with the first large body (every start would pay it)
    from concurrent.futures import ProcessPoolExecutor

logger = logging.getLogger("tapegate.gateway")

OFFLOAD_BYTES = 1 << 20

Turns = dict[str, Turn] | None


@dataclass(frozen=True, slots=True)
class Seen:
    """What the gateway routes on, read from a body the worker holds."""

    model: Any
    stream: bool
    continues: str | None


class Body:
    """A request body that passed the limits: what routing reads, and its rewriting."""

    model: Any
    stream: bool
    continues: str | None  # the id of the earlier answer it continues (request_body.continues)

    async def count_tokens(self) -> bytes:
        raise NotImplementedError

    async def rewrite(
        self, sent: str | None, asked: str | None, ctx: Context, turns: Turns = None
    ) -> bytes | None:
        """The body for the upstream (None: send the client's bytes as they are), with the
        recorded ``turns`` it continues written out; fills ``ctx`` as the translation does.
        TranslationError when it cannot be translated."""
        raise NotImplementedError


class _Here(Body):
    def __init__(self, body: dict[str, Any], client: ir.Dialect) -> None:
        self.body = body
        self.model = body.get("model")
        self.stream = bool(body.get("stream"))
        self.continues = request_body.continues(body, client)

    async def count_tokens(self) -> bytes:
        return endpoints.count_tokens_body(self.body)

    async def rewrite(
        self, sent: str | None, asked: str | None, ctx: Context, turns: Turns = None
    ) -> bytes | None:
        return request_body.rewrite(self.body, sent, asked, ctx, turns)


class _InWorker(Body):
    def __init__(self, token: str, seen: Seen) -> None:
        self.token = token
        self.model = seen.model
        self.stream = seen.stream
        self.continues = seen.continues

    async def count_tokens(self) -> bytes:
        out: bytes = await _run(_worker_count_tokens, self.token)
        return out

    async def rewrite(
        self, sent: str | None, asked: str | None, ctx: Context, turns: Turns = None
    ) -> bytes | None:
        new, filled = await _run(_worker_rewrite, self.token, sent, asked, ctx, turns)
        _copy_context(filled, ctx)
        return new  # type: ignore[no-any-return]


@contextlib.asynccontextmanager
async def open_body(
    token: str,
    raw: bytes,
    encoding: str | None,
    max_body: int,
    max_depth: int,
    client: ir.Dialect,
) -> AsyncIterator[Body | request_body.Refused]:
    """The request body ``raw`` (``encoding``: its content-encoding) of a ``client`` request
    read within the limits, for the duration of the ``async with`` (a large one is held by the
    worker until then)."""
    if len(raw) <= OFFLOAD_BYTES:
        read = request_body.read_json(raw, lambda: _decode(raw, encoding), max_body, max_depth)
        yield read if isinstance(read, request_body.Refused) else _Here(read, client)
        return
    async with _one_at_a_time:
        try:
            seen = await _run(_worker_read, token, raw, encoding, max_body, max_depth, client)
        except _Unavailable as e:  # no worker: correct, if slow for the others
            logger.error("gateway: body worker unavailable (%s); reading here", e)
            read = request_body.read_json(raw, lambda: _decode(raw, encoding), max_body, max_depth)
            yield read if isinstance(read, request_body.Refused) else _Here(read, client)
            return
        if isinstance(seen, request_body.Refused):
            yield seen
            return
        try:
            yield _InWorker(token, seen)
        finally:
            with contextlib.suppress(_Unavailable):
                await _run(_worker_forget, token)


async def shutdown() -> None:
    global _pool
    pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=False, cancel_futures=True)


# ------------------------------------------------------------------------------ the pool

_pool: ProcessPoolExecutor | None = None
_one_at_a_time = asyncio.Lock()


class _Unavailable(Exception):
    pass


async def _run(fn: Any, *args: Any) -> Any:
    """``fn(*args)`` in the worker process (started, or restarted once, as needed)."""
    global _pool
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    loop = asyncio.get_running_loop()
    for attempt in (1, 2):
        if _pool is None:
            # spawn, not fork: the gateway's process has threads (the recorder's) and
            # mitmproxy's loop, which a forked child must not inherit.
            _pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        try:
            return await loop.run_in_executor(_pool, fn, *args)
        except BrokenProcessPool as e:  # the worker died (killed, out of memory)
            _pool = None
            if attempt == 2:
                raise _Unavailable(str(e) or "the worker process died") from e
    raise AssertionError("unreachable")


def _copy_context(src: Context, dst: Context) -> None:
    for name in Context.__slots__:
        setattr(dst, name, getattr(src, name))


def _decode(raw: bytes, encoding: str | None) -> bytes:
    if not encoding or encoding.strip().lower() == "identity":
        return raw
    from mitmproxy.net import encoding as codings

    decoded = codings.decode(raw, encoding)
    if not isinstance(decoded, bytes):
        raise ValueError(f"content-encoding {encoding!r} did not decode to bytes")
    return decoded


# ------------------------------------------------------------------------- in the worker

_held: dict[str, dict[str, Any]] = {}  # token -> the parsed body (one at a time)


def _worker_read(
    token: str, raw: bytes, encoding: str | None, max_body: int, max_depth: int, client: ir.Dialect
) -> Seen | request_body.Refused:
    _held.clear()
    read = request_body.read_json(raw, lambda: _decode(raw, encoding), max_body, max_depth)
    if isinstance(read, request_body.Refused):
        return read
    _held[token] = read
    return Seen(read.get("model"), bool(read.get("stream")), request_body.continues(read, client))


def _worker_count_tokens(token: str) -> bytes:
    return endpoints.count_tokens_body(_held[token])


def _worker_rewrite(
    token: str, sent: str | None, asked: str | None, ctx: Context, turns: Turns
) -> tuple[bytes | None, Context]:
    return request_body.rewrite(_held.pop(token), sent, asked, ctx, turns), ctx


def _worker_forget(token: str) -> None:
    _held.pop(token, None)
