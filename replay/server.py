"""A small asyncio HTTP/1.1 server (h11) that answers from a cassette, streaming chunk by chunk.

Why its own server: a response that a mitmproxy addon builds is always sent whole, so a replay
with the recorded timing needs a real socket (research/tech.md §1). :func:`start` runs inside any
running event loop (``recorder replay``'s own, or mitmdump's, from an addon's ``async def
running()``); :class:`ThreadedServer` runs one on a background thread for synchronous callers
(the pytest fixture). The engine decides what to answer; this module only does the I/O.

Using a cassette as the upstream from a mitmproxy addon::

    async def running(self) -> None:
        self.replay = await replay.server.start("cassettes/x", port=0, role="upstream")
        # then send upstream requests to self.replay.url; on "done": await self.replay.stop()
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import h11

from replay.cassette import Cassette, load
from replay.engine import ReplayEngine, Reply, Role, Timing
from replay.faultplan import FaultPlan
from replay.h11_io import Listener, header_map, reset, response_head
from replay.matching import MatchPolicy

Sleep = Callable[[float], Awaitable[Any]]
_READ = 65536


def make_engine(
    cassette: str | os.PathLike[str] | Cassette | ReplayEngine,
    role: Role = "upstream",
    timing: str | Timing = "instant",
    strict: bool = True,
    repeat: bool = False,
    policy: MatchPolicy | None = None,
    faults: FaultPlan | Iterable[str] = (),
) -> ReplayEngine:
    """An engine for ``cassette``; ``faults``: ``SPEC`` / ``N=SPEC`` strings or a FaultPlan
    (a FaultSpecError or FaultPlanError, both ValueErrors, when one is bad or cannot apply)."""
    if isinstance(cassette, ReplayEngine):
        return cassette
    cas = cassette if isinstance(cassette, Cassette) else load(cassette)
    plan = faults if isinstance(faults, FaultPlan) else FaultPlan.parse(faults)
    return ReplayEngine(
        cas, role, policy or MatchPolicy(), strict, repeat, timing=Timing.parse(timing),
        faults=plan,
    )  # fmt: skip


@dataclass(slots=True)
class ReplayServer:
    engine: ReplayEngine
    host: str
    port: int
    sleep: Sleep = asyncio.sleep
    _listener: Listener = field(init=False)

    def __post_init__(self) -> None:
        self._listener = Listener(self._answer)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def listen(self) -> None:
        self.port = await self._listener.listen(self.host, self.port)

    async def stop(self) -> None:
        """Stop listening; drop open connections (a half-sent stream is cut, as in a crash)."""
        await self._listener.stop()

    async def _answer(
        self,
        conn: h11.Connection,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        req: h11.Request,
        body: bytes,
    ) -> bool:
        headers = header_map(req)
        reply = self.engine.handle(req.method.decode(), req.target.decode(), body, headers)
        await self._send(conn, writer, reply)
        return reply.ending == "complete"  # else a fault closed or reset the connection

    async def _send(self, conn: h11.Connection, writer: asyncio.StreamWriter, reply: Reply) -> None:
        if reply.delay > 0:  # a stall before a whole body
            await self.sleep(reply.delay)
        if reply.ending == "reset" and not reply.streamed:
            reset(writer)  # before any byte of the response: the client gets no answer
            return
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in reply.headers]
        if not reply.streamed:
            headers.append((b"content-length", str(len(reply.body)).encode()))
        if reply.ending == "closed":
            headers.append((b"connection", b"close"))
        writer.write(conn.send(response_head(reply.status, headers)) or b"")
        if reply.chunks is None:
            if reply.body:
                writer.write(conn.send(h11.Data(data=reply.body)) or b"")
        else:
            for delay, chunk in reply.chunks:
                if delay > 0:
                    await writer.drain()
                    await self.sleep(delay)
                if chunk:  # an empty chunk only carries a stall
                    writer.write(conn.send(h11.Data(data=chunk)) or b"")
                    await writer.drain()  # one recorded chunk, one write: keep the boundaries
            if reply.ending == "reset":
                await writer.drain()
                reset(writer)  # mid-body: the chunked body never gets its last chunk
                return
        writer.write(conn.send(h11.EndOfMessage()) or b"")
        await writer.drain()


async def start(
    cassette: str | os.PathLike[str] | Cassette | ReplayEngine,
    host: str = "127.0.0.1",
    port: int = 0,
    role: Role = "upstream",
    timing: str | Timing = "instant",
    strict: bool = True,
    repeat: bool = False,
    policy: MatchPolicy | None = None,
    sleep: Sleep = asyncio.sleep,
    faults: FaultPlan | Iterable[str] = (),
) -> ReplayServer:
    """Serve ``cassette`` on ``host:port`` (0 = any free port) in the running event loop.

    Returns the :class:`ReplayServer`: ``.port`` / ``.url`` where it listens, ``await .stop()``
    to shut it down, ``.engine`` for play counts and ``.engine.check()`` for strictness.
    """
    engine = make_engine(cassette, role, timing, strict, repeat, policy, faults)
    srv = ReplayServer(engine, host, port, sleep)
    await srv.listen()
    return srv


class ThreadedServer:
    """A replay server on its own event loop thread, for synchronous code (tests, benchmarks)."""

    def __init__(
        self,
        engine: ReplayEngine,
        host: str = "127.0.0.1",
        port: int = 0,
        sleep: Sleep | None = None,
    ) -> None:
        self.engine = engine
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="replay", daemon=True)
        self._thread.start()
        fut = asyncio.run_coroutine_threadsafe(
            start(engine, host, port, sleep=sleep or asyncio.sleep), self._loop
        )
        self.server = fut.result(timeout=10)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def port(self) -> int:
        return self.server.port

    def stop(self) -> None:
        if not self._loop.is_running():
            return
        asyncio.run_coroutine_threadsafe(self.server.stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def __enter__(self) -> ThreadedServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
