"""The claude-cli backend's loopback server against the fake ``claude``: what the gateway gets
back for each way a run can go, and who may use the port."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from addons.upstream.claude_cli_server import CliServer
from recorder import ir
from recorder.codecs import claude_cli as wire
from recorder.codecs import openai as openai_codec
from recorder.context import Context
from recorder.sse import SseParser
from tests.claude_cli.test_turn import POLICY, Harness, gone

Body = dict[str, Any]


def cli_request(*, stream: bool = True, **body: Any) -> Body:
    messages = body.pop("messages", [{"role": "user", "content": "q"}])
    req = openai_codec.request_to_ir({"model": "sonnet", "messages": messages, **body})
    req.stream = stream
    return wire.request_from_ir(req, Context(client="openai", upstream="anthropic"))


def serve(h: Harness, test: Callable[[httpx.AsyncClient, CliServer], Awaitable[None]]) -> None:
    async def main() -> None:
        server = CliServer(h.backend, POLICY)
        url = await server.start()
        headers = {"authorization": f"Bearer {server.token}"}
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as client:
            try:
                await test(client, server)
            finally:
                await server.stop()
                await h.backend.shutdown()

    asyncio.run(main())


def events_of(raw: bytes) -> list[tuple[str, str]]:
    p = SseParser()
    return [(e.event or "", e.data or "") for e in p.feed(raw) + p.close()]


def decode(events: list[tuple[str, str]]) -> list[ir.StreamEvent]:
    from recorder.sse import SseEvent

    dec = wire.StreamDecoder(Context(client="openai", upstream="anthropic"))
    out: list[ir.StreamEvent] = []
    for name, data in events:
        out += dec.push(SseEvent(name, data))
    return out + dec.finish()


def test_a_streamed_run(tmp_path: Path) -> None:
    h = Harness(tmp_path)

    async def test(client: httpx.AsyncClient, server: CliServer) -> None:
        r = await client.post(wire.CHAT_PATH, json=cli_request())
        assert r.status_code == 200 and r.headers["content-type"] == "text/event-stream"
        events = events_of(r.content)
        names = [name for name, _ in events]
        assert names[0] == "invocation" and names[-1] == "exit"
        assert "stdin" in names and "stdout" in names
        exit_ = json.loads(events[-1][1])
        assert exit_["exit_code"] == 0 and exit_["error"] is None
        assert exit_["session"]["leaf"] and exit_["conversation"]
        decoded = decode(events)
        assert isinstance(decoded[-1], ir.Finish)
        text = "".join(e.text for e in decoded if isinstance(e, ir.TextDelta))
        assert text == "history=1 model=sonnet"
        assert server.token not in r.text  # the key never travels back

    serve(h, test)


def test_a_run_that_was_not_streamed(tmp_path: Path) -> None:
    h = Harness(tmp_path)

    async def test(client: httpx.AsyncClient, server: CliServer) -> None:
        r = await client.post(wire.CHAT_PATH, json=cli_request(stream=False))
        assert r.status_code == 200
        resp = wire.response_to_ir(r.json(), Context(client="openai", upstream="anthropic"))
        assert resp.stop_reason == "end_turn"

    serve(h, test)


@pytest.mark.parametrize(
    ("mode", "status", "kind"),
    [
        ("error:529", 529, "overloaded"),
        ("error:429", 429, "rate_limit"),
        ("not-logged-in", 401, "authentication"),
    ],
)
def test_errors_before_the_answer_keep_their_status(
    tmp_path: Path, mode: str, status: int, kind: str
) -> None:
    h = Harness(tmp_path, mode)

    async def test(client: httpx.AsyncClient, server: CliServer) -> None:
        r = await client.post(wire.CHAT_PATH, json=cli_request())
        assert r.status_code == status
        body = r.json()
        assert wire.error_to_ir(r.status_code, body).kind == kind
        names = [e["event"] for e in body["claude_cli"]["events"]]
        assert names[0] == "invocation" and names[-1] == "exit"  # the run, recorded

    serve(h, test)


def test_a_crash_after_the_answer_began_ends_the_stream_with_its_error(tmp_path: Path) -> None:
    h = Harness(tmp_path, "crash")

    async def test(client: httpx.AsyncClient, server: CliServer) -> None:
        r = await client.post(wire.CHAT_PATH, json=cli_request())
        assert r.status_code == 200  # the answer had begun
        last = decode(events_of(r.content))[-1]
        assert isinstance(last, ir.StreamError) and "boom" in last.error.message

    serve(h, test)


def test_only_the_gateway_may_use_the_port(tmp_path: Path) -> None:
    h = Harness(tmp_path)

    async def test(client: httpx.AsyncClient, server: CliServer) -> None:
        for headers in ({"authorization": "Bearer wrong"}, {"authorization": ""}):
            r = await client.post(wire.CHAT_PATH, json=cli_request(), headers=headers)
            assert r.status_code == 401
        r = await client.post(
            wire.CHAT_PATH,
            json=cli_request(),
            headers={"authorization": "", "x-api-key": server.token},
        )
        assert r.status_code == 200
        assert not list(tmp_path.glob("log.*[0-9]"))[1:]  # one run: the refused ones ran nothing

    serve(h, test)


def test_bad_requests(tmp_path: Path) -> None:
    h = Harness(tmp_path)

    async def test(client: httpx.AsyncClient, server: CliServer) -> None:
        assert (await client.get(wire.CHAT_PATH)).status_code == 404
        assert (await client.post("/v1/messages", json=cli_request())).status_code == 404
        r = await client.post(wire.CHAT_PATH, content=b"{not json")
        assert r.status_code == 400 and "claude-cli request" in r.json()["error"]["message"]
        r = await client.post(wire.CHAT_PATH, json={**cli_request(), "model": "--yolo"})
        assert r.status_code == 400

    serve(h, test)


def test_a_full_pool_answers_429_with_retry_after(tmp_path: Path) -> None:
    h = Harness(tmp_path, "slow:200", max_concurrency=1, queue_timeout=0.1)

    async def test(client: httpx.AsyncClient, server: CliServer) -> None:
        first = asyncio.ensure_future(client.post(wire.CHAT_PATH, json=cli_request()))
        await asyncio.sleep(0.3)
        r = await client.post(wire.CHAT_PATH, json=cli_request())
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        assert r.json()["error"]["type"] == "rate_limit_error"
        assert (await first).status_code == 200

    serve(h, test)


def test_the_gateway_going_away_ends_the_cli(tmp_path: Path) -> None:
    h = Harness(tmp_path, "slow:300")

    async def test(client: httpx.AsyncClient, server: CliServer) -> None:
        async with client.stream("POST", wire.CHAT_PATH, json=cli_request()) as r:
            async for chunk in r.aiter_bytes():
                if b"message_start" in chunk:
                    break
        for _ in range(100):
            if h.runs() and gone(h.runs()[0]["pid"]) and h.backend.pool.running == 0:
                break
            await asyncio.sleep(0.05)
        assert gone(h.runs()[0]["pid"]) and h.backend.pool.running == 0

    serve(h, test)


def test_a_session_header_names_the_conversation(tmp_path: Path) -> None:
    h = Harness(tmp_path)

    async def test(client: httpx.AsyncClient, server: CliServer) -> None:
        named = {"x-tapegate-session": "chat-9"}
        r = await client.post(wire.CHAT_PATH, json=cli_request(stream=False), headers=named)
        assert r.status_code == 200
        second = cli_request(stream=False, messages=[{"role": "user", "content": "again"}])
        r = await client.post(wire.CHAT_PATH, json=second, headers=named)
        resp = wire.response_to_ir(r.json(), Context(client="openai", upstream="anthropic"))
        assert resp.content[0].text == "history=3 model=sonnet"  # type: ignore[union-attr]

    serve(h, test)
