"""The claude-cli backend's loopback server: answers the gateway's ``claude_cli`` requests
(:mod:`recorder.codecs.claude_cli`) by running the CLI, streaming the run as it happens.

Why a server: mitmproxy sends a response an addon builds in one piece, so a backend that is no
HTTP server runs one inside the proxy's event loop and the gateway forwards to it like to any
upstream (recorder/backends.py): streaming, translation into the client's dialect, time to first
token, the recording of both legs all stay the gateway's. The upstream leg it records is the run:
argv, every stdin and stdout line with its time, exit code and stderr.

Only the gateway may use it: every request must carry the server's token (a random secret the
gateway presents as this backend's key), compared in constant time. Without that, any local
process could spend the operator's Claude subscription through the port.

The status of a stream is chosen when the answer begins: an error before that (a 429 or 529
behind the CLI, not logged in, the pool full) is an HTTP error with the run so far in the body;
after it, the CLI's own lines say how it ended. A gateway that closes the connection (its
client went away) ends the CLI at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import h11

from recorder import ir
from recorder.claude_cli.invocation import CliPolicy
from recorder.claude_cli.pool import PoolBusyError
from recorder.claude_cli.probe import CliUnavailableError
from recorder.claude_cli.sessions import SESSION_HEADER, SessionBusyError
from recorder.claude_cli.turn import ClaudeCliBackend, CliTurn
from recorder.codecs import claude_cli as wire
from recorder.context import Context
from recorder.errors import TranslationError
from replay.h11_io import READ_SIZE, Listener, header_map, response_head

logger = logging.getLogger("tapegate.claude_cli")


async def _always_ready() -> None:
    pass


@dataclass(slots=True)
class CliServer:
    backend: ClaudeCliBackend
    policy: CliPolicy
    # Awaited before each run; CliUnavailableError (the CLI is missing, too old) becomes a 503
    # naming the fix.
    ready: Callable[[], Awaitable[None]] = _always_ready
    token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    host: str = "127.0.0.1"
    port: int = 0
    _listener: Listener = field(init=False)

    def __post_init__(self) -> None:
        self._listener = Listener(self._answer)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> str:
        self.port = await self._listener.listen(self.host, self.port)
        return self.url

    async def stop(self) -> None:
        """Stop listening and end the runs under way (their CLIs are killed)."""
        await self._listener.stop()

    # ----------------------------------------------------------------- HTTP

    async def _answer(
        self,
        conn: h11.Connection,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        req: h11.Request,
        body: bytes,
    ) -> bool:
        """Answer one request; the connection stays open for the next one."""
        headers = header_map(req)
        if not self._authorised(headers):
            err = ir.ErrorInfo("authentication", "this port serves the tapegate gateway only")
            await _error(conn, writer, err, [])
            return True
        if req.method != b"POST" or req.target.split(b"?", 1)[0] != wire.CHAT_PATH.encode():
            err = ir.ErrorInfo("not_found", f"only POST {wire.CHAT_PATH} is served here")
            await _error(conn, writer, err, [])
            return True
        try:
            cr = wire.parse_request(json.loads(body))
        except (ValueError, TranslationError) as e:
            err = ir.ErrorInfo("invalid_request", f"claude-cli request: {e}")
            await _error(conn, writer, err, [])
            return True
        try:
            await self.ready()
        except CliUnavailableError as e:
            await _error(conn, writer, ir.ErrorInfo("unavailable", str(e)), [])
            return True
        run = _Run()
        ctx = Context(client="anthropic", upstream="anthropic")
        try:
            turn = self.backend.turn(
                cr.input,
                cr.model,
                ctx,
                self.policy,
                namespace=cr.user or "",
                name=headers.get(SESSION_HEADER) or None,
                listener=run.hear,
            )
        except TranslationError as e:
            await _error(conn, writer, ir.ErrorInfo("invalid_request", str(e)), [])
            return True
        work = asyncio.ensure_future(self._run(conn, writer, turn, run, cr.stream))
        gone = asyncio.ensure_future(_closed(conn, reader))
        try:
            await asyncio.wait({work, gone}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:  # the server is stopping
            work.cancel()
            raise
        finally:
            gone.cancel()
            await _ended(gone)  # its read is over before the next request's begins
        if not work.done():  # the gateway closed the connection: its client went away
            work.cancel()
            with contextlib.suppress(Exception):
                await _ended(work)
            raise ConnectionError("the gateway went away")
        work.result()
        return True

    def _authorised(self, headers: dict[str, str]) -> bool:
        got = headers.get("authorization", "")
        scheme, _, value = got.partition(" ")
        if scheme.lower() != "bearer":
            value = headers.get("x-api-key", "")
        return hmac.compare_digest(value.encode(), self.token.encode())

    async def _run(
        self,
        conn: h11.Connection,
        writer: asyncio.StreamWriter,
        turn: CliTurn,
        run: _Run,
        stream: bool,
    ) -> None:
        try:
            async with contextlib.aclosing(turn.events()) as events:
                async for ev in events:
                    if stream and not run.live and turn.decoder.started:
                        # the answer began: from here on, every line goes out as it comes
                        writer.write(conn.send(_head(200, [], "text/event-stream")) or b"")
                        run.go_live(lambda data: writer.write(conn.send(h11.Data(data)) or b""))
                    if run.live:
                        await writer.drain()
                    if isinstance(ev, ir.StreamError) and not turn.decoder.started:
                        break
        except PoolBusyError as e:
            err = ir.ErrorInfo("rate_limit", str(e))
            retry = [("retry-after", str(e.retry_after))]
            await _error(conn, writer, err, run.events, retry)
            return
        except SessionBusyError as e:
            await _error(conn, writer, ir.ErrorInfo("invalid_request", str(e), 409), [])
            return
        except CliUnavailableError as e:
            await _error(conn, writer, ir.ErrorInfo("unavailable", str(e)), run.events)
            return
        if run.live:
            writer.write(conn.send(h11.EndOfMessage()) or b"")
            await writer.drain()
            return
        error = turn.collector.error
        if error is not None and not turn.decoder.started:
            await _error(conn, writer, error, run.events)
            return
        body = json.dumps(wire.response_body(run.events), ensure_ascii=False).encode()
        await _send(conn, writer, 200, [], body, "application/json")


class _Run:
    """The run's events: kept until the answer begins, then written as they come."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []
        self._write: Callable[[bytes], Any] | None = None

    @property
    def live(self) -> bool:
        return self._write is not None

    def hear(self, event: str, data: str) -> None:
        if self._write is None:
            self.events.append((event, data))
            return
        try:
            self._write(_sse(event, data))
        except (ConnectionError, RuntimeError, h11.LocalProtocolError):
            pass  # the gateway is gone; the run is being ended

    def go_live(self, write: Callable[[bytes], Any]) -> None:
        self._write = write
        for event, data in self.events:
            write(_sse(event, data))


def _sse(event: str, data: str) -> bytes:
    # a stream-json line is one line of JSON: one data field, no newline inside to split
    return f"event: {event}\ndata: {data}\n\n".encode("utf-8", "surrogatepass")


async def _ended(task: asyncio.Future[None]) -> None:
    """Waits for a task this one cancelled and raises what it raised, except its cancellation.
    Not ``suppress(CancelledError)`` around ``await task``: that would also swallow this task's
    own cancellation (the server stopping), and the connection would live on."""
    await asyncio.wait({task})
    if not task.cancelled():
        task.result()


async def _closed(conn: h11.Connection, reader: asyncio.StreamReader) -> None:
    """Returns when the gateway closes its side. It sends nothing while it waits for the answer
    (no pipelining); whatever it does send is kept for the next request."""
    while data := await reader.read(READ_SIZE):
        conn.receive_data(data)


async def _error(
    conn: h11.Connection,
    writer: asyncio.StreamWriter,
    err: ir.ErrorInfo,
    events: list[tuple[str, str]],
    headers: list[tuple[str, str]] | None = None,
) -> None:
    status, body = wire.error_body(err, events)
    raw = json.dumps(body, ensure_ascii=False).encode()
    await _send(conn, writer, status, headers or [], raw, "application/json")


def _head(status: int, headers: list[tuple[str, str]], content_type: str) -> h11.Response:
    pairs = [(b"content-type", content_type.encode())]
    pairs += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]
    return response_head(status, pairs)


async def _send(
    conn: h11.Connection,
    writer: asyncio.StreamWriter,
    status: int,
    headers: list[tuple[str, str]],
    body: bytes,
    content_type: str,
) -> None:
    if conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
        return
    head = _head(status, [*headers, ("content-length", str(len(body)))], content_type)
    writer.write(conn.send(head) or b"")
    writer.write(conn.send(h11.Data(body)) or b"")
    writer.write(conn.send(h11.EndOfMessage()) or b"")
    await writer.drain()
