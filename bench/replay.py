"""Replay speed: cassette load, in-process stream replay, and the replay server's throughput.

Run: ``uv run python -m bench.replay``. Everything is synthetic and stays on 127.0.0.1:

- **load**: ``replay.cassette.load`` of a 50-interaction cassette, each a 100-event Anthropic stream
  (both legs, so 100 ``.sse`` files), plus building the engine (canonical keys of every request).
- **in-process stream**: one 100-event stream through ``CassetteTransport`` and ``httpx.Client``,
  iterated chunk by chunk (the pytest path); target < 5 ms.
- **server JSON req/s**: sequential keep-alive POSTs of a non-streamed interaction (``repeat``).
- **server events/s**: 100-event streams over the socket, 100 chunks each, instant timing.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from replay.cassette import Cassette, Interaction, LegRecord, Request, Response, Stream, load, save
from replay.engine import ReplayEngine
from replay.server import ThreadedServer
from replay.transport import CassetteTransport

EVENTS = 100
INTERACTIONS = 50


def anthropic_stream(n: int = EVENTS) -> list[bytes]:
    """``n`` SSE events of an Anthropic text stream, one chunk per event."""

    def ev(name: str, data: dict[str, object]) -> bytes:
        return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()

    msg: dict[str, object] = {
        "id": "msg_bench",
        "type": "message",
        "role": "assistant",
        "content": [],
        "model": "m",
        "stop_reason": None,
        "usage": {"input_tokens": 10, "output_tokens": 1},
    }
    out = [
        ev("message_start", {"type": "message_start", "message": msg}),
        ev(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
    ]
    delta = {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "text_delta", "text": "token "},
    }
    out += [ev("content_block_delta", delta) for _ in range(n - 4)]
    out.append(ev("content_block_stop", {"type": "content_block_stop", "index": 0}))
    out.append(ev("message_stop", {"type": "message_stop"}))
    return out


def _body(i: int, stream: bool) -> bytes:
    msgs = [{"role": "user", "content": f"question {i}"}]
    return json.dumps({"model": "m", "max_tokens": 64, "stream": stream, "messages": msgs}).encode()


def build_cassette(n: int = INTERACTIONS) -> Cassette:
    chunks = anthropic_stream()
    stream = Stream.from_chunks((0.01 * k, c) for k, c in enumerate(chunks))
    reply = {
        "id": "msg_x",
        "type": "message",
        "role": "assistant",
        "model": "m",
        "content": [{"type": "text", "text": "ok"}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 1, "output_tokens": 1},
    }
    items = []
    for i in range(n):
        streamed = i > 0  # interaction 0 is the non-streamed one the JSON benchmark repeats
        resp = (
            Response(200, {"content-type": "text/event-stream"}, stream=stream)
            if streamed
            else Response(200, {"content-type": "application/json"}, json.dumps(reply).encode())
        )
        leg = LegRecord(Request("POST", "http://u/v1/messages", {}, _body(i, streamed)), resp)
        items.append(Interaction(i, client=leg, upstream=leg, model="m", stream=streamed))
    return Cassette("bench", items)


def _time(fn: Callable[[], object], rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def bench_load(d: Path) -> float:
    return statistics.median(_time(lambda: ReplayEngine(load(d)), 15))


def bench_in_process(cas: Cassette) -> float:
    body = _body(1, True)
    transport = CassetteTransport(cas, repeat=True, strict=False)
    client = httpx.Client(transport=transport, base_url="http://replay")

    def one() -> None:
        with client.stream("POST", "/v1/messages", content=body) as r:
            n = sum(1 for _ in r.iter_raw())
        assert n == EVENTS

    one()
    return statistics.median(_time(one, 200))


def bench_server(cas: Cassette, seconds: float = 1.5) -> tuple[float, float]:
    engine = ReplayEngine(cas, repeat=True, strict=False)
    with ThreadedServer(engine) as srv, httpx.Client(base_url=srv.url) as c:
        json_body, stream_body = _body(0, False), _body(1, True)
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            assert c.post("/v1/messages", content=json_body).status_code == 200
            n += 1
        rps = n / (time.perf_counter() - t0)
        events, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            with c.stream("POST", "/v1/messages", content=stream_body) as r:
                events += sum(ch.count(b"\n\n") for ch in r.iter_raw())
        eps = events / (time.perf_counter() - t0)
    return rps, eps


def main() -> None:
    cas = build_cassette()
    with tempfile.TemporaryDirectory() as tmp:
        d = save(cas, Path(tmp) / "bench")
        size = sum(f.stat().st_size for f in d.iterdir())
        t_load = bench_load(d)
    t_inproc = bench_in_process(cas)
    rps, eps = bench_server(cas)
    rows = [
        (
            "cassette load + engine (50 interactions, 100 .sse files)",
            f"{t_load * 1e3:.1f} ms",
            f"{size / 1e6:.2f} MB on disk",
        ),
        (
            "in-process replay, 100-event stream",
            f"{t_inproc * 1e3:.2f} ms",
            "target < 5 ms: " + ("met" if t_inproc < 0.005 else "MISSED"),
        ),
        ("server, non-streamed JSON, keep-alive", f"{rps:,.0f} req/s", "1 client, sequential"),
        ("server, 100-event streams", f"{eps:,.0f} events/s", "1 client, instant timing"),
    ]
    print("| measure | result | note |\n|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} |")
    out = Path("bench/results")
    out.mkdir(parents=True, exist_ok=True)
    result = {
        "load_s": t_load,
        "cassette_bytes": size,
        "in_process_100_events_s": t_inproc,
        "server_json_rps": rps,
        "server_events_per_s": eps,
    }
    (out / "replay.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
