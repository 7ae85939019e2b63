"""Replay matching is by content: eight requests fanned out at once, arriving in a random order,
each get their own recorded answer, over a socket and in-process."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path
from typing import Any

import httpx
import pytest

from replay.cassette import Cassette, Interaction, LegRecord, Request, Response, Stream, save
from replay.server import start
from replay.transport import AsyncCassetteTransport

N = 8


def _request(i: int) -> dict[str, Any]:
    # the same conversation up to the last turn: only the position / last question differs
    msgs: list[dict[str, str]] = [{"role": "user", "content": "Count with me."}]
    for k in range(i):
        msgs += [{"role": "assistant", "content": f"{k}"}, {"role": "user", "content": "next"}]
    return {"model": "gpt-5-mini", "messages": msgs, "stream": i % 2 == 1}


def _answer(i: int) -> Response:
    if i % 2:
        data = (
            f'data: {{"choices":[{{"index":0,"delta":{{"content":"{i}"}}}}]}}\n\ndata: [DONE]\n\n'
        ).encode()
        sse = {"content-type": "text/event-stream"}
        return Response(200, sse, None, Stream.from_chunks([(0.0, data)]))
    body = f'{{"choices":[{{"index":0,"message":{{"role":"assistant","content":"{i}"}}}}]}}'
    return Response(200, {"content-type": "application/json"}, body.encode())


@pytest.fixture(scope="module")
def cassette(tmp_path_factory: pytest.TempPathFactory) -> Path:
    its = []
    for i in range(N):
        req = Request("POST", "http://x/v1/chat/completions", {}, json.dumps(_request(i)).encode())
        its.append(
            Interaction(i, upstream=LegRecord(req, _answer(i)), upstream_dialect="openai",
                        stream=i % 2 == 1)
        )  # fmt: skip
    d = tmp_path_factory.mktemp("fanout") / "fanout"
    save(Cassette("fanout", its), d)
    return d


def _text(r: httpx.Response) -> str:
    if r.headers["content-type"].startswith("text/event-stream"):
        return r.text.split('"content":"')[1].split('"')[0]
    return str(r.json()["choices"][0]["message"]["content"])


async def _fan_out(client: httpx.AsyncClient, order: list[int]) -> dict[int, str]:
    async def one(i: int) -> tuple[int, str]:
        await asyncio.sleep(order.index(i) * 0.001)  # arrive in `order`
        r = await client.post("/v1/chat/completions", json=_request(i))
        assert r.status_code == 200, r.text
        return i, _text(r)

    return dict(await asyncio.gather(*(one(i) for i in range(N))))


@pytest.mark.parametrize("seed", range(5))
def test_eight_concurrent_requests_in_random_order_over_a_socket(cassette: Path, seed: int) -> None:
    order = random.Random(seed).sample(range(N), N)

    async def main() -> dict[int, str]:
        srv = await start(cassette)
        try:
            async with httpx.AsyncClient(base_url=srv.url) as c:
                got = await _fan_out(c, order)
            srv.engine.check()  # every interaction played once, no miss
            return got
        finally:
            await srv.stop()

    assert asyncio.run(main()) == {i: str(i) for i in range(N)}


@pytest.mark.parametrize("seed", range(5))
def test_eight_concurrent_requests_in_random_order_in_process(cassette: Path, seed: int) -> None:
    order = random.Random(100 + seed).sample(range(N), N)
    t = AsyncCassetteTransport(cassette)

    async def main() -> dict[int, str]:
        async with httpx.AsyncClient(transport=t, base_url="http://replay") as c:
            return await _fan_out(c, order)

    assert asyncio.run(main()) == {i: str(i) for i in range(N)}
    t.check()


def test_identical_requests_get_the_recorded_answers_in_recorded_order(tmp_path: Path) -> None:
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "roll a die"}]})
    its = [
        Interaction(
            i,
            upstream=LegRecord(
                Request("POST", "http://x/v1/chat/completions", {}, body.encode()),
                Response(
                    200,
                    {"content-type": "application/json"},
                    f'{{"choices":[{{"message":{{"content":"{i}"}}}}]}}'.encode(),
                ),
            ),
        )  # fmt: skip
        for i in range(3)
    ]
    save(Cassette("dice", its), tmp_path / "dice")
    t = AsyncCassetteTransport(tmp_path / "dice")

    async def main() -> list[str]:
        async with httpx.AsyncClient(transport=t, base_url="http://replay") as c:
            post = c.post
            rs = await asyncio.gather(*(post("/v1/chat/completions", content=body) for _ in "abc"))
        return sorted(r.json()["choices"][0]["message"]["content"] for r in rs)

    assert asyncio.run(main()) == ["0", "1", "2"]
    t.check()
