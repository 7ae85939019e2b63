"""Streaming load for the soak and crash tests: N concurrent clients, each looping over streamed
requests through the gateway (and, for the reference, the same requests straight to the
upstream), every request tagged with its own model name so the recording can be checked row by
row against what the clients saw complete."""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

# An Anthropic client; the gateway translates to the OpenAI-speaking fake upstream and back.
PATH = "/v1/messages"
DIRECT_PATH = "/v1/chat/completions"
MODE = "events:40+gap:2"  # 40 text deltas, 2 ms apart: a short answer streamed like a model's


def body(model: str) -> dict[str, object]:
    return {
        "model": model,
        "max_tokens": 64,
        "stream": True,
        "messages": [{"role": "user", "content": "Count to forty."}],
    }


def direct_body(model: str) -> dict[str, object]:
    return {"model": model, "stream": True, "messages": [{"role": "user", "content": "Count."}]}


@dataclass
class Done:
    model: str
    started: float  # time.monotonic()
    finished: float  # when the client saw the stream's terminal event

    @property
    def seconds(self) -> float:
        return self.finished - self.started


@dataclass
class Load:
    """What the clients saw: completed exchanges (with times), failures, direct references."""

    done: list[Done] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    direct: list[float] = field(default_factory=list)  # seconds of each direct request

    def p(self, q: float, values: list[float]) -> float:
        if not values:
            return float("nan")
        return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]

    def latency(self) -> dict[str, float]:
        """Milliseconds: p50/p99 of a whole streamed exchange through the gateway and straight
        to the upstream in the same run, and the difference (the gateway's added latency)."""
        gw = [d.seconds for d in self.done]
        out: dict[str, float] = {}
        for q in (50, 99):
            g, d = self.p(q, gw) * 1000, self.p(q, self.direct) * 1000
            out |= {f"gateway_p{q}_ms": round(g, 1), f"direct_p{q}_ms": round(d, 1),
                    f"added_p{q}_ms": round(g - d, 1)}  # fmt: skip
        return out


async def _client(
    n: int, url: str, tag: str, load: Load, stop: Callable[[], bool], headers: dict[str, str]
) -> None:
    i = 0
    async with httpx.AsyncClient(base_url=url, timeout=60) as c:
        while not stop():
            model = f"{tag}-{n}-{i}"
            i += 1
            t0 = time.monotonic()
            try:
                async with c.stream("POST", PATH, json=body(model), headers=headers) as r:
                    tail = b""
                    async for chunk in r.aiter_raw():
                        tail = (tail + chunk)[-200:]
                    ok = r.status_code == 200 and b"message_stop" in tail
            except httpx.HTTPError as e:
                if stop():
                    return  # the gateway was killed under us: not a completed exchange
                load.failed.append(f"{model}: {e!r}")
                continue
            if ok:
                load.done.append(Done(model, t0, time.monotonic()))
            else:
                load.failed.append(f"{model}: status {r.status_code}, ended {tail[-80:]!r}")


async def _direct(url: str, load: Load, stop: Callable[[], bool], headers: dict[str, str]) -> None:
    """The same streams straight from the upstream, one at a time: the reference."""
    async with httpx.AsyncClient(base_url=url, timeout=60) as c:
        while not stop():
            t0 = time.monotonic()
            async with c.stream(
                "POST", DIRECT_PATH, json=direct_body("direct"), headers=headers
            ) as r:
                async for _ in r.aiter_raw():
                    pass
            load.direct.append(time.monotonic() - t0)
            await asyncio.sleep(0.05)


class Runner:
    """The load on a thread of its own (so the test can sample memory or kill the gateway)."""

    def __init__(self, url: str, clients: int, tag: str, direct_url: str | None = None) -> None:
        self.load = Load()
        self._stop = threading.Event()
        headers = {"x-api-key": "soak", "anthropic-version": "2023-06-01", "x-fake-mode": MODE}

        async def main() -> None:
            tasks = [_client(n, url, tag, self.load, self._stop.is_set, headers)
                     for n in range(clients)]  # fmt: skip
            if direct_url is not None:
                tasks.append(_direct(direct_url, self.load, self._stop.is_set, headers))
            await asyncio.gather(*tasks)

        self._thread = threading.Thread(target=lambda: asyncio.run(main()), name="load")
        self._thread.start()

    def stop(self, timeout: float = 60) -> Load:
        self._stop.set()
        self._thread.join(timeout)
        return self.load

    def halt(self) -> None:
        """Ask the clients to stop without waiting (the gateway is about to be killed)."""
        self._stop.set()
