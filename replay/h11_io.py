"""HTTP/1.1 server plumbing on h11 shared by tapegate's loopback servers (the replay server, the
fault proxy): read one request, write a response head, answer plainly, reset a connection."""

from __future__ import annotations

import asyncio
import contextlib
import http
import socket
import struct

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
