"""The fault proxy on its own: in front of a replay server, each fault is what the upstream
answer looks like to whoever called it (the gateway, in production)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from addons.upstream.fault_proxy import DIALECT_HEADER, SPEC_HEADER, TARGET_HEADER, FaultProxy
from replay import server
from tests.replay.conftest import ANTHROPIC, recorded_body

Call = Callable[[int, str], Awaitable[httpx.Response]]


def _run(test: Callable[[Call], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        upstream = await server.start(ANTHROPIC, repeat=True)
        proxy = await FaultProxy().start()

        async def call(index: int, spec: str, dialect: str = "anthropic") -> httpx.Response:
            headers = {TARGET_HEADER: upstream.url, SPEC_HEADER: spec, DIALECT_HEADER: dialect}
            async with httpx.AsyncClient(base_url=proxy.url, timeout=10) as c:
                r = await c.post(
                    "/v1/messages", json=recorded_body(ANTHROPIC, index), headers=headers
                )
                await r.aread()
                return r

        try:
            return await test(call)
        finally:
            await proxy.stop()
            await upstream.stop()

    return asyncio.run(main())


def test_status_is_answered_without_the_upstream() -> None:
    async def test(call: Call) -> None:
        r = await call(0, "status:529:retry-after=3")
        assert r.status_code == 529 and r.headers["retry-after"] == "3"
        assert r.json()["error"]["type"] == "overloaded_error"
        assert "x-tapegate-replay" not in r.headers  # never reached the upstream

    _run(test)


def test_stream_faults_apply_to_the_forwarded_stream() -> None:
    async def test(call: Call) -> None:
        r = await call(1, "error@2:overloaded")
        assert r.headers[SPEC_HEADER] == "error@2:overloaded:overloaded".replace(
            ":overloaded:", ":"
        )
        names = [ln for ln in r.text.splitlines() if ln.startswith("event: ")]
        assert names == ["event: message_start", "event: content_block_start", "event: error"]
        r = await call(1, "truncate@3")
        assert r.text.count("event: ") == 3 and "message_stop" not in r.text
        r = await call(1, "rechunk:bytes")  # harmless: the same bytes
        assert r.text.rstrip().endswith('data: {"type":"message_stop"}')

    _run(test)


def test_reset_is_a_connection_error_for_the_caller() -> None:
    async def test(call: Call) -> None:
        with pytest.raises(httpx.ReadError):
            await call(1, "reset@2")
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            await call(0, "reset@0")
        r = await call(0, "stall@0:10")  # a whole body: only its start can be delayed
        assert r.status_code == 200 and r.headers[SPEC_HEADER] == "stall@0:10"

    _run(test)


def test_stream_faults_leave_a_whole_body_alone() -> None:
    async def test(call: Call) -> None:
        r = await call(0, "truncate@2")
        assert r.status_code == 200 and r.json()["content"][0]["text"] == "Hello!"
        assert SPEC_HEADER not in r.headers

    _run(test)


def test_bad_instructions_are_a_400() -> None:
    async def test(call: Call) -> None:
        r = await call(0, "explode@2")
        assert r.status_code == 400 and b"unknown fault" in r.content

    _run(test)
