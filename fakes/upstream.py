"""A scriptable fake LLM server on 127.0.0.1: Anthropic ``/v1/messages``, OpenAI
``/v1/chat/completions`` and ``/v1/responses``, JSON and SSE, with failure modes for gateway
tests and benchmarks.

Raw asyncio HTTP/1.1 (keep-alive, chunked SSE with one event per chunk, like real servers) so that
it is cheap enough to benchmark a proxy against. The dialect is chosen by the request path; the
behaviour by a *mode*, taken from (first match wins) the queue filled by :meth:`FakeUpstream.script`
(or ``POST /_fake/script``), the request header ``x-fake-mode``, or the server default.

A mode is ``name[:arg]`` items joined by ``+``, e.g. ``"text"``, ``"tool"``, ``"thinking"``,
``"parallel-tools"``, ``"echo"``, ``"max-tokens"``, ``"cache"`` (see :mod:`fakes.replies`),
``"error:429"``, ``"midstream-error"``, ``"truncated"``, ``"no-terminal"``, ``"bad-json"``,
``"reset"`` (close without answering), ``"slow:200"`` (ms before the headers),
``"events:200"`` (that many text deltas), ``"gap:5"`` (ms between events),
``"linger:500"`` (ms between the last event and the end of the chunked body; :meth:`release`
ends every linger at once, and :attr:`Received.body_ended` says whether the body was ended),
``"stall:K:MS"`` (one pause of MS ms after the K-th event of a stream),
``"hold:MS"`` (a JSON answer's head, then MS ms before its body), ``"trickle:MS"`` (the body
one byte at a time, MS ms apart),
``"truncated-json"`` (a JSON body cut in the middle: content-length announced, then the
connection aborted), ``"retry-after:1"`` (header on error responses).
Example: ``"slow:50+events:20"``.

Every request is logged (method, path, headers, body) in :attr:`FakeUpstream.requests`, and
the body bytes written for it (de-chunked) in :attr:`FakeUpstream.sent`, so a test can compare
what the upstream saw and sent with what the client got.

Run standalone: ``python -m fakes.upstream --port 9000``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fakes import replies
from fakes.replies import Mode
from recorder import dialects
from recorder.ir import Dialect

__all__ = ["FakeUpstream", "Mode", "Received"]

ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}
OPENAI_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "invalid_request_error",
    404: "invalid_request_error",
    429: "rate_limit_exceeded",
}
REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
    529: "Overloaded",
}


@dataclass(slots=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    body_ended: bool = False  # the fake wrote the end of its (SSE) response body

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class FakeUpstream:
    host: str = "127.0.0.1"
    port: int = 0
    default_mode: str = "text"
    log: bool = True  # keep request/response logs (turn off for long benchmarks)
    tls: ssl.SSLContext | None = None  # serve HTTPS with this server context
    requests: list[Received] = field(default_factory=list)
    sent: list[bytes] = field(default_factory=list)
    connections: int = 0  # accepted so far
    open_connections: int = 0  # client connections open right now
    _queue: deque[str] = field(default_factory=deque)
    _loop: asyncio.AbstractEventLoop | None = None
    _server: asyncio.Server | None = None
    _thread: threading.Thread | None = None
    _released: asyncio.Event | None = None  # set: lingering bodies end now

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    def script(self, *modes: str) -> None:
        """The next requests use these modes, in order; then the default again."""
        self._queue.extend(modes)

    def clear(self) -> None:
        self.requests.clear()
        self.sent.clear()
        self._queue.clear()
        if self._loop is not None and self._released is not None:
            self._loop.call_soon_threadsafe(self._released.clear)

    def release(self) -> None:
        """End every lingering body now (and the ones that start lingering until ``clear``)."""
        if self._loop is not None and self._released is not None:
            self._loop.call_soon_threadsafe(self._released.set)

    # ------------------------------------------------------------------ lifecycle

    async def serve(self) -> None:
        """Start listening in the running loop (``port`` is filled in)."""
        self._released = asyncio.Event()
        self._server = await asyncio.start_server(self._conn, self.host, self.port, ssl=self.tls)
        self.port = self._server.sockets[0].getsockname()[1]

    def start(self) -> FakeUpstream:
        """Run in a daemon thread with its own loop; returns once listening."""
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            loop.run_until_complete(self.serve())
            ready.set()
            loop.run_forever()

        self._thread = threading.Thread(target=run, name="fake-upstream", daemon=True)
        self._thread.start()
        ready.wait(5)
        return self

    def stop(self) -> None:
        if self._loop is not None and self._server is not None:
            self._loop.call_soon_threadsafe(self._server.close)
            self._loop.call_soon_threadsafe(self._loop.stop)

    # ------------------------------------------------------------------ HTTP

    async def _conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open_connections += 1
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers: dict[str, str] = {}
                for line in lines[1:]:
                    if line:
                        k, _, v = line.partition(":")
                        headers[k.strip().lower()] = v.strip()
                body = await _read_body(reader, headers)
                keep = await self._handle(Received(method, path, headers, body), writer)
                if not keep or headers.get("connection", "").lower() == "close":
                    break
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self.open_connections -= 1
            try:
                writer.close()
            except Exception:  # noqa: BLE001 - closing a dead socket
                pass

    async def _handle(self, req: Received, writer: asyncio.StreamWriter) -> bool:
        path = req.path.split("?", 1)[0]
        if path.startswith("/_fake/"):
            return await self._control(req, path, writer)
        spec = self._queue.popleft() if self._queue else req.headers.get("x-fake-mode")
        mode = Mode.parse(spec or self.default_mode)
        if self.log:
            self.requests.append(req)
        if mode.slow_ms:
            await asyncio.sleep(mode.slow_ms / 1000)
        if mode.name == "reset":
            writer.transport.abort()
            return False
        vendor = _vendor(path)
        if mode.name == "error":
            return await self._json(writer, mode.status, vendor.error(mode.status), mode)
        if req.method == "HEAD":
            return await self._json(writer, 200, None, mode)
        if path.endswith("/count_tokens"):
            return await self._json(writer, 200, {"input_tokens": 42}, mode)
        if path.endswith("/models"):
            return await self._json(writer, 200, {"data": [{"id": "fake-model"}]}, mode)
        if not any(path.endswith(tail) for tail in _CHAT_TAILS.values()):
            return await self._json(writer, 200, {"fake": "echo", "path": req.path}, mode)
        try:
            body = json.loads(req.body or b"{}")
        except ValueError:
            return await self._json(writer, 400, vendor.error(400), mode)
        model = str(body.get("model", "fake-model"))
        plan = replies.plan(mode, body)
        if not body.get("stream"):
            return await self._json(writer, 200, vendor.json(plan, model), mode)
        usage = bool((body.get("stream_options") or {}).get("include_usage"))
        events = vendor.events(mode, plan, model, usage)
        return await self._sse(writer, events, mode, req)

    async def _control(self, req: Received, path: str, writer: asyncio.StreamWriter) -> bool:
        if path == "/_fake/script":
            self.script(*json.loads(req.body or b"{}").get("modes", []))
            return await self._json(writer, 200, {"ok": True}, Mode())
        if path == "/_fake/clear":
            self.clear()
            return await self._json(writer, 200, {"ok": True}, Mode())
        logged = [
            {"method": r.method, "path": r.path, "headers": r.headers, "body": r.body.decode()}
            for r in self.requests
        ]
        return await self._json(writer, 200, logged, Mode())

    async def _json(
        self, writer: asyncio.StreamWriter, status: int, payload: Any, mode: Mode
    ) -> bool:
        data = b"" if payload is None else json.dumps(payload).encode()
        extra = f"retry-after: {mode.retry_after}\r\n" if mode.retry_after else ""
        head = (
            f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}\r\n"
            f"content-type: application/json\r\ncontent-length: {len(data)}\r\n"
            f"request-id: req_fake\r\n{extra}\r\n"
        ).encode()
        if mode.name == "truncated-json":
            data = data[: len(data) // 2]
        if self.log:
            self.sent.append(data)
        if mode.hold_ms or mode.trickle_ms:
            writer.write(head)
            await writer.drain()
            await asyncio.sleep(mode.hold_ms / 1000)
            await _trickle(writer, data, mode.trickle_ms)
        else:
            writer.write(head + data)
        await writer.drain()
        if mode.name == "truncated-json":
            writer.transport.abort()
            return False
        return True

    async def _sse(
        self,
        writer: asyncio.StreamWriter,
        events: list[bytes],
        mode: Mode,
        req: Received | None = None,
    ) -> bool:
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n"
            b"cache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n"
        )
        sent = bytearray()
        if mode.name in ("truncated", "no-terminal"):
            events = events[: max(2, len(events) // 2)]
        for i, ev in enumerate(events):
            if mode.gap_ms and i:
                await writer.drain()
                await asyncio.sleep(mode.gap_ms / 1000)
            if mode.stall_after is not None and i == mode.stall_after:
                await writer.drain()
                await asyncio.sleep(mode.stall_ms / 1000)
            if mode.trickle_ms:
                await _trickle(writer, b"%x\r\n%s\r\n" % (len(ev), ev), mode.trickle_ms)
            else:
                writer.write(b"%x\r\n%s\r\n" % (len(ev), ev))
            sent += ev
        if self.log:
            self.sent.append(bytes(sent))
        if mode.name == "truncated":
            await writer.drain()
            writer.transport.abort()
            return False
        if mode.linger_ms:
            await writer.drain()
            assert self._released is not None
            try:
                await asyncio.wait_for(self._released.wait(), mode.linger_ms / 1000)
            except TimeoutError:
                pass
        if req is not None:
            req.body_ended = True
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return True


async def _trickle(writer: asyncio.StreamWriter, data: bytes, gap_ms: float) -> None:
    if not gap_ms:
        writer.write(data)
        return
    for i in range(len(data)):
        writer.write(data[i : i + 1])
        await writer.drain()
        await asyncio.sleep(gap_ms / 1000)


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    if "content-length" in headers:
        return await reader.readexactly(int(headers["content-length"]))
    if "chunked" in headers.get("transfer-encoding", "").lower():
        out = bytearray()
        while True:
            size = int((await reader.readline()).split(b";")[0], 16)
            if size == 0:
                await reader.readline()
                return bytes(out)
            out += await reader.readexactly(size)
            await reader.readline()
    return b""


# ---------------------------------------------------------------------------- bodies


def _anthropic_error(status: int) -> dict[str, Any]:
    etype = ANTHROPIC_ERROR_TYPES.get(status, "api_error")
    return {"type": "error", "error": {"type": etype, "message": _message(status)}}


def _openai_error(status: int) -> dict[str, Any]:
    etype = OPENAI_ERROR_TYPES.get(status, "server_error")
    return {"error": {"message": _message(status), "type": etype, "param": None, "code": None}}


def _message(status: int) -> str:
    return f"fake upstream error {status}"


@dataclass(frozen=True, slots=True)
class _Vendor:
    """How the fake answers in one dialect: written by hand as the vendor does (never through
    our codecs, which the fake is there to test)."""

    json: Callable[[replies.Plan, str], dict[str, Any]]
    events: Callable[[Mode, replies.Plan, str, bool], list[bytes]]  # bool: usage asked for
    error: Callable[[int], dict[str, Any]]


_VENDORS: dict[Dialect, _Vendor] = {
    "anthropic": _Vendor(
        replies.anthropic_json,
        lambda mode, plan, model, _: replies.anthropic_events(mode, plan, model),
        _anthropic_error,
    ),
    "openai": _Vendor(replies.openai_json, replies.openai_events, _openai_error),
    "responses": _Vendor(
        replies.responses_json,
        lambda mode, plan, model, _: replies.responses_events(mode, plan, model),
        _openai_error,
    ),
}
# Each dialect's endpoint as the registry has it, less its version prefix: an SDK given the
# fake's bare URL calls /chat/completions, the gateway /v1/chat/completions.
_CHAT_TAILS: dict[Dialect, str] = {
    name: dialects.entry(name).chat_path.removeprefix("/v1") for name in _VENDORS
}
# A path of no chat endpoint (/v1/models, /v1/messages/count_tokens, anything) errs as Anthropic.
_FALLBACK: Dialect = "anthropic"


def _vendor(path: str) -> _Vendor:
    """The dialect the fake answers ``path`` in: the one whose chat endpoint it ends with."""
    for name, tail in _CHAT_TAILS.items():
        if path.endswith(tail):
            return _VENDORS[name]
    return _VENDORS[_FALLBACK]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=9000)
    ap.add_argument("--mode", default="text", help="default mode (see module docstring)")
    ap.add_argument("--no-log", action="store_true", help="do not keep request logs")
    args = ap.parse_args()
    fake = FakeUpstream(args.host, args.port, args.mode, log=not args.no_log)

    async def run() -> None:
        await fake.serve()
        print(f"fake upstream listening on {fake.url}", flush=True)
        await asyncio.Event().wait()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
