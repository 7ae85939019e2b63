"""``gateway_fault``: a loopback HTTP/1.1 proxy between the gateway and its upstream that breaks
the upstream's answers on purpose (the fault vocabulary of :mod:`recorder.faults`).

Why a real hop instead of editing the flow: the fault must look to the gateway exactly like an
upstream that misbehaved, so that what the client sees is the gateway's own handling of it: a
status goes through retries and error mapping, a stall meets the first-token timeout, a reset is
a real TCP reset the ``error`` hook handles, a truncated or garbled stream goes through the
translator. So the gateway sends a faulted request here (plain HTTP on loopback) and says where
it was going and what to break in three headers, which never leave this hop:

* ``x-tapegate-fault-target``: the upstream origin (``https://api.anthropic.com``),
* ``x-tapegate-fault``: the spec,
* ``x-tapegate-fault-dialect``: the upstream's dialect (the shape of its errors).

A ``status`` fault is answered here without contacting the upstream. Anything else is forwarded
(with httpx, so https upstreams work) and the answer faulted as it streams: an SSE body through
:func:`recorder.faults.live`, a whole body only by ``stall@0`` / ``reset@0``. A faulted answer
carries ``x-tapegate-fault: SPEC`` (recorded with the upstream leg).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import h11

from recorder import dialects
from recorder.faults.inject import live, status_reply
from recorder.faults.spec import FaultSpec, FaultSpecError, Reset, Stall, parse
from recorder.ir import Dialect
from replay.faultplan import known_dialect
from replay.h11_io import Listener, reset, response_head, send_simple

if TYPE_CHECKING:  # httpx is loaded when the proxy starts (the first faulted request)
    import httpx

logger = logging.getLogger("tapegate.gateway")

TARGET_HEADER = "x-tapegate-fault-target"
SPEC_HEADER = "x-tapegate-fault"
DIALECT_HEADER = "x-tapegate-fault-dialect"
_OWN_HEADERS = frozenset({TARGET_HEADER, SPEC_HEADER, DIALECT_HEADER})
# Not relayed: they describe a hop, and this proxy re-frames the body (h11 chunks it).
_HOP_HEADERS = frozenset(
    {
        "connection",
        "keep-alive",
        "transfer-encoding",
        "content-length",
        "host",
        "te",
        "trailer",
        "upgrade",
        "proxy-connection",
    }  # fmt: skip
)


@dataclass(slots=True)
class FaultProxy:
    host: str = "127.0.0.1"
    port: int = 0
    _client: httpx.AsyncClient | None = None
    _listener: Listener = field(init=False)

    def __post_init__(self) -> None:
        self._listener = Listener(self._answer)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> FaultProxy:
        import httpx

        # No pool limits and no read timeout: the gateway's own timeouts are what is tested.
        self._client = httpx.AsyncClient(
            trust_env=False,
            timeout=httpx.Timeout(None, connect=30.0),
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=64),
        )
        self.port = await self._listener.listen(self.host, self.port)
        return self

    async def stop(self) -> None:
        await self._listener.stop()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _answer(
        self,
        conn: h11.Connection,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        req: h11.Request,
        body: bytes,
    ) -> bool:
        """Answer one request; False when the connection must not be reused."""
        headers = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in req.headers]
        own = {k: v for k, v in headers if k in _OWN_HEADERS}
        try:
            spec = parse(own.get(SPEC_HEADER, ""))
        except FaultSpecError as e:
            await send_simple(conn, writer, 400, f"tapegate fault proxy: {e}\n".encode())
            return False
        entry = dialects.named(own.get(DIALECT_HEADER, ""))
        target = own.get(TARGET_HEADER, "")
        if spec.status is not None and entry is not None:
            code, err_headers, err_body = status_reply(spec.status, entry.name)
            err_headers.append((SPEC_HEADER, str(spec)))
            await _send_whole(conn, writer, code, err_headers, err_body)
            return True
        if not target.startswith(("http://", "https://")) or entry is None:
            msg = f"tapegate fault proxy: needs {TARGET_HEADER} and {DIALECT_HEADER}\n"
            await send_simple(conn, writer, 400, msg.encode())
            return False
        import httpx

        assert self._client is not None
        out = [(k, v) for k, v in headers if k not in _OWN_HEADERS and k not in _HOP_HEADERS]
        upstream = self._client.build_request(
            req.method.decode(), target + req.target.decode(), headers=out, content=body
        )
        try:
            resp = await self._client.send(upstream, stream=True)
        except httpx.HTTPError as e:
            # the upstream could not be reached: so the gateway's upstream cannot either
            logger.info(f"tapegate fault proxy: {target}: {e!r}")
            reset(writer)
            return False
        try:
            # stream faults apply to SSE; a dialect with a framing of its own streams unbroken
            sse = known_dialect(entry.name)
            return await _relay(conn, writer, resp, spec, sse)
        finally:
            await resp.aclose()


async def _relay(
    conn: h11.Connection,
    writer: asyncio.StreamWriter,
    resp: httpx.Response,
    spec: FaultSpec,
    dialect: Dialect | None,
) -> bool:
    head = [(k, v) for k, v in resp.headers.multi_items() if k.lower() not in _HOP_HEADERS]
    is_sse = "text/event-stream" in resp.headers.get("content-type", "")
    if not is_sse or dialect is None:
        body = await resp.aread()
        if not spec.applies_without_events():
            await _send_whole(conn, writer, resp.status_code, head, body)  # nothing to break
            return True
        wait = sum(f.ms for f in spec.faults if isinstance(f, Stall)) / 1000
        if wait:
            await asyncio.sleep(wait)
        if any(isinstance(f, Reset) for f in spec.faults):
            reset(writer)  # no answer at all
            return False
        await _send_whole(conn, writer, resp.status_code, [*head, (SPEC_HEADER, str(spec))], body)
        return True
    injector = live(spec, dialect)
    hdrs = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in head]
    hdrs.append((SPEC_HEADER.encode(), str(spec).encode()))
    writer.write(conn.send(response_head(resp.status_code, hdrs)) or b"")
    await writer.drain()
    async for chunk in resp.aiter_raw():
        await _write(conn, writer, injector.feed(chunk))
        if injector.ending is not None:
            break
    if injector.ending is None:
        await _write(conn, writer, injector.finish())
    if injector.ending == "reset":
        await writer.drain()
        reset(writer)
        return False
    writer.write(conn.send(h11.EndOfMessage()) or b"")
    await writer.drain()
    return injector.ending == "complete"


async def _write(
    conn: h11.Connection, writer: asyncio.StreamWriter, chunks: list[tuple[float, bytes]]
) -> None:
    for delay, data in chunks:
        if delay > 0:
            await writer.drain()
            await asyncio.sleep(delay)
        if data:
            writer.write(conn.send(h11.Data(data=data)) or b"")
            await writer.drain()


async def _send_whole(
    conn: h11.Connection,
    writer: asyncio.StreamWriter,
    status: int,
    headers: list[tuple[str, str]],
    body: bytes,
) -> None:
    hdrs = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]
    hdrs.append((b"content-length", str(len(body)).encode()))
    writer.write(conn.send(response_head(status, hdrs)) or b"")
    if body:
        writer.write(conn.send(h11.Data(data=body)) or b"")
    writer.write(conn.send(h11.EndOfMessage()) or b"")
    await writer.drain()
