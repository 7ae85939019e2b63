"""In-process replay: httpx transports that answer from a cassette, no sockets involved.

Works with both ``httpx`` and ``httpx2`` (the fork that anthropic >= 2 and openai >= 3 take as
their ``http_client``): the response is built from the package of the request it answers, so the
same transport serves ``httpx.Client(transport=t)`` and ``httpx2.Client(transport=t)``::

    t = CassetteTransport("cassettes/anthropic-hello")
    http_client = httpx2.Client(transport=t)
    client = anthropic.Anthropic(api_key="x", base_url="http://replay", http_client=http_client)
    ...
    t.engine.check()   # strict: every interaction played, no misses

A streamed response is an iterator over the recorded chunks (same boundaries as on the wire),
with the recorded gaps slept through when ``timing`` asks for it.
"""

from __future__ import annotations

import asyncio
import functools
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from types import ModuleType
from typing import Any

from replay.cassette import Cassette
from replay.engine import ReplayEngine, Reply, Role, Timing
from replay.faultplan import FaultPlan
from replay.httpx_compat import AsyncTransportBase, SyncTransportBase, package_of
from replay.matching import MatchPolicy
from replay.server import make_engine

CassetteSource = str | os.PathLike[str] | Cassette | ReplayEngine


@functools.cache
def _stream_classes(mod: ModuleType) -> tuple[type, type]:
    """Sync and async chunk streams subclassing ``mod``'s byte-stream bases (the clients assert)."""

    class Chunks(mod.SyncByteStream):  # type: ignore[misc, name-defined]
        def __init__(self, reply: Reply, sleep: Callable[[float], Any]):
            self._reply, self._sleep = reply, sleep

        def __iter__(self) -> Iterator[bytes]:
            for delay, chunk in self._reply.chunks or ():
                if delay > 0:
                    self._sleep(delay)
                if chunk:
                    yield chunk
            if self._reply.ending == "reset":
                raise mod.ReadError(_RESET_TEXT)

    class AsyncChunks(mod.AsyncByteStream):  # type: ignore[misc, name-defined]
        def __init__(self, reply: Reply, sleep: Callable[[float], Awaitable[Any]]):
            self._reply, self._sleep = reply, sleep

        async def __aiter__(self) -> AsyncIterator[bytes]:
            for delay, chunk in self._reply.chunks or ():
                if delay > 0:
                    await self._sleep(delay)
                if chunk:
                    yield chunk
            if self._reply.ending == "reset":
                raise mod.ReadError(_RESET_TEXT)

    return Chunks, AsyncChunks


# What httpx says when a peer resets the connection (the socket front door sends a real RST).
_RESET_TEXT = "[Errno 104] Connection reset by peer"


def _raise_if_reset_before_answer(request: Any, reply: Reply) -> None:
    """A reset fault on a whole body: the connection drops before any byte of the answer."""
    if reply.ending == "reset" and not reply.streamed:
        raise package_of(request).RemoteProtocolError(
            "Server disconnected without sending a response."
        )


def _headers(request: Any) -> dict[str, str]:
    return {k.lower(): v for k, v in request.headers.items()}


def _response(request: Any, reply: Reply, stream: Any) -> Any:
    mod = package_of(request)
    if stream is None:
        return mod.Response(
            reply.status, headers=reply.headers, content=reply.body, request=request
        )
    return mod.Response(reply.status, headers=reply.headers, stream=stream, request=request)


class CassetteTransport(SyncTransportBase):
    """Synchronous in-process replay (``httpx.Client`` / ``httpx2.Client``)."""

    def __init__(
        self,
        cassette: CassetteSource,
        role: Role = "upstream",
        timing: str | Timing = "instant",
        strict: bool = True,
        repeat: bool = False,
        policy: MatchPolicy | None = None,
        sleep: Callable[[float], Any] = time.sleep,
        faults: FaultPlan | Iterable[str] = (),
    ) -> None:
        self.engine = make_engine(cassette, role, timing, strict, repeat, policy, faults)
        self._sleep = sleep

    def handle_request(self, request: Any) -> Any:
        body = request.read()
        reply = self.engine.handle(request.method, str(request.url), body, _headers(request))
        if reply.delay > 0:
            self._sleep(reply.delay)
        _raise_if_reset_before_answer(request, reply)
        stream = None
        if reply.chunks is not None:
            stream = _stream_classes(package_of(request))[0](reply, self._sleep)
        return _response(request, reply, stream)

    def check(self) -> None:
        self.engine.check()


class AsyncCassetteTransport(AsyncTransportBase):
    """Asynchronous in-process replay (``httpx.AsyncClient`` / ``httpx2.AsyncClient``)."""

    def __init__(
        self,
        cassette: CassetteSource,
        role: Role = "upstream",
        timing: str | Timing = "instant",
        strict: bool = True,
        repeat: bool = False,
        policy: MatchPolicy | None = None,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        faults: FaultPlan | Iterable[str] = (),
    ) -> None:
        self.engine = make_engine(cassette, role, timing, strict, repeat, policy, faults)
        self._sleep = sleep

    async def handle_async_request(self, request: Any) -> Any:
        body = await request.aread()
        reply = self.engine.handle(request.method, str(request.url), body, _headers(request))
        if reply.delay > 0:
            await self._sleep(reply.delay)
        _raise_if_reset_before_answer(request, reply)
        stream = None
        if reply.chunks is not None:
            stream = _stream_classes(package_of(request))[1](reply, self._sleep)
        return _response(request, reply, stream)

    def check(self) -> None:
        self.engine.check()
