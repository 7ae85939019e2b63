"""HTTP/1.1 server plumbing on h11 shared by tapegate's loopback servers (the replay server, the
fault proxy, the Claude Code CLI backend): the accept loop with its keep-alive cycle and its stop,
read one request, write a response head, answer plainly, reset a connection."""

from __future__ import annotations

import asyncio
import contextlib
import http
import socket
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import h11

READ_SIZE = 65536


def reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST instead of a FIN (SO_LINGER 0), as a crashed peer or a middlebox
    resetting the connection does."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def response_head(status: int, headers: list[tuple[bytes, bytes]]) -> h11.Response:
    try:
        reason = http.HTTPStatus(status).phrase.encode()
    except ValueError:
        reason = b""
    return h11.Response(status_code=status, headers=headers, reason=reason)


async def read_request(
    conn: h11.Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> tuple[h11.Request, bytes] | None:
    req: h11.Request | None = None
    body = bytearray()
    while True:
        ev = conn.next_event()
        if ev is h11.NEED_DATA:
            if conn.they_are_waiting_for_100_continue:  # curl does for bodies over 1 KiB
                writer.write(
                    conn.send(h11.InformationalResponse(status_code=100, headers=[])) or b""
                )
            conn.receive_data(await reader.read(READ_SIZE))
        elif isinstance(ev, h11.Request):
            req = ev
        elif isinstance(ev, h11.Data):
            body += ev.data
        elif isinstance(ev, h11.EndOfMessage):
            assert req is not None
            return req, bytes(body)
        else:  # ConnectionClosed, PAUSED
            return None


async def send_simple(
    conn: h11.Connection, writer: asyncio.StreamWriter, status: int, body: bytes
) -> None:
    if conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
        return
    with contextlib.suppress(Exception):
        hdrs = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
        writer.write(conn.send(response_head(status, hdrs)) or b"")
        writer.write(conn.send(h11.Data(data=body)) or b"")
        writer.write(conn.send(h11.EndOfMessage()) or b"")
        await writer.drain()


# What a server does with one request: answer it on the connection, and say whether the
# connection may carry another request (False: it was reset, or is to be closed).
Answer = Callable[
    [h11.Connection, asyncio.StreamReader, asyncio.StreamWriter, h11.Request, bytes],
    Awaitable[bool],
]


def header_map(req: h11.Request) -> dict[str, str]:
    """The request's headers by lower-case name (the last one wins)."""
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in req.headers}


@dataclass(slots=True)
class Listener:
    """The accepting side of a loopback HTTP/1.1 server: requests one after the other on each
    keep-alive connection, a plain 400 for a malformed one, and a :meth:`stop` that drops the
    connections still open (a half-sent response is cut, as in a crash)."""

    answer: Answer
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def listen(self, host: str, port: int) -> int:
        """Listen on ``host:port`` (0: any free port) unless already listening; the port."""
        if self._server is None:
            self._server = await asyncio.start_server(self._connection, host, port)
        port_: int = self._server.sockets[0].getsockname()[1]
        return port_

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for t in list(self._tasks):
            t.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        conn = h11.Connection(h11.SERVER)
        try:
            while True:
                got = await read_request(conn, reader, writer)
                if got is None:
                    break
                keep = await self.answer(conn, reader, writer, *got)
                if not keep or conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                    break
                conn.start_next_cycle()
        except h11.RemoteProtocolError:
            await send_simple(conn, writer, 400, b"malformed HTTP request\n")
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away; nothing to answer
        except asyncio.CancelledError:
            # stop() drops the connection. Ending normally rather than re-raising: asyncio's
            # stream protocol (3.12.1) logs a cancelled handler as an error.
            pass
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
