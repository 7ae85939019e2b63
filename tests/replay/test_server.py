from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx

from replay.cassette import load
from replay.server import ThreadedServer, make_engine, start
from tests.replay.conftest import ANTHROPIC, OPENAI, recorded_body


def _recorded_chunks(cassette: Any, index: int) -> list[bytes]:
    up = load(cassette).interactions[index].upstream
    assert up is not None and up.response is not None and up.response.stream is not None
    return [c for _, c in up.response.stream.chunks()]


async def _stream(url: str, body: Any) -> tuple[int, list[bytes], httpx.Headers]:
    async with httpx.AsyncClient() as c:
        async with c.stream("POST", url + "/v1/messages", json=body) as r:
            return r.status_code, [ch async for ch in r.aiter_raw()], r.headers


def test_streams_with_recorded_chunk_boundaries_and_injected_delays() -> None:
    delays: list[float] = []

    async def sleep(d: float) -> None:
        delays.append(d)
        await asyncio.sleep(0.005)

    async def main() -> tuple[int, list[bytes], httpx.Headers]:
        srv = await start(ANTHROPIC, port=0, timing="recorded", sleep=sleep)
        assert srv.port > 0 and srv.url == f"http://127.0.0.1:{srv.port}"
        try:
            return await _stream(srv.url, recorded_body(ANTHROPIC, 1))
        finally:
            await srv.stop()

    status, chunks, headers = asyncio.run(main())
    assert status == 200 and headers["content-type"].startswith("text/event-stream")
    assert headers["x-tapegate-replay"] == "anthropic-hello#1"
    assert chunks == _recorded_chunks(ANTHROPIC, 1)
    assert [round(d, 3) for d in delays] == [0.3, 0.05, 0.07, 0.08]


def test_instant_timing_does_not_sleep() -> None:
    async def sleep(d: float) -> None:
        raise AssertionError("instant replay slept")

    async def main() -> list[bytes]:
        srv = await start(ANTHROPIC, timing="instant", sleep=sleep)
        try:
            return (await _stream(srv.url, recorded_body(ANTHROPIC, 1)))[1]
        finally:
            await srv.stop()

    assert b"".join(asyncio.run(main())) == b"".join(_recorded_chunks(ANTHROPIC, 1))


def test_scaled_timing_really_waits() -> None:
    with ThreadedServer(make_engine(OPENAI, timing="x0.2")) as s:
        t0 = time.monotonic()
        with httpx.Client() as c:
            r = c.post(s.url + "/v1/chat/completions", json=recorded_body(OPENAI, 1))
        elapsed = time.monotonic() - t0
    assert r.status_code == 200 and r.text.endswith("data: [DONE]\n\n")
    assert 0.06 - 0.01 <= elapsed < 1.0  # recorded 0.3 s x 0.2


def test_keep_alive_json_and_miss_on_one_connection() -> None:
    engine = make_engine(ANTHROPIC)
    with ThreadedServer(engine) as s, httpx.Client(base_url=s.url) as c:
        ok = c.post("/v1/messages", json=recorded_body(ANTHROPIC, 0))
        miss = c.post("/v1/messages", json={"model": "claude-sonnet-5", "messages": []})
        again = c.post("/v1/messages", json=recorded_body(ANTHROPIC, 0))
    assert ok.status_code == 200 and ok.json()["content"][0]["text"] == "Hello!"
    assert int(ok.headers["content-length"]) == len(ok.content)
    assert miss.status_code == 404 and miss.json()["error"]["type"] == "not_found_error"
    assert again.status_code == 404 and "already played" in again.json()["error"]["message"]
    assert engine.play_counts() == {0: 1, 1: 0}


def test_malformed_request_gets_400() -> None:
    async def main() -> bytes:
        srv = await start(ANTHROPIC)
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
            writer.write(b"NOT HTTP\r\n\r\n")
            await writer.drain()
            data = await reader.read()
            writer.close()
            return data
        finally:
            await srv.stop()

    assert asyncio.run(main()).startswith(b"HTTP/1.1 400")


def test_stop_cuts_open_keep_alive_connections() -> None:
    async def main() -> None:
        srv = await start(OPENAI)
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
        body = json.dumps(recorded_body(OPENAI, 0)).encode()
        writer.write(
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )
        await writer.drain()
        await reader.readuntil(b"\r\n\r\n")
        await asyncio.wait_for(srv.stop(), 2)  # must not wait for the idle client
        writer.close()

    asyncio.run(main())


def test_expect_100_continue_is_answered_at_once() -> None:
    body = json.dumps(recorded_body(OPENAI, 0)).encode()

    async def main() -> bytes:
        srv = await start(OPENAI)
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
            writer.write(
                b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nexpect: 100-continue\r\n"
                b"content-length: " + str(len(body)).encode() + b"\r\n\r\n"
            )
            await writer.drain()
            interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 0.5)
            writer.write(body)
            await writer.drain()
            final = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 2)
            writer.close()
            return interim + final
        finally:
            await srv.stop()

    data = asyncio.run(main())
    assert data.startswith(b"HTTP/1.1 100 ") and b"HTTP/1.1 200 OK" in data
