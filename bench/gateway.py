"""Gateway benchmark: ``uv run python -m bench.gateway [--quick]``. Not a test.

One run, one machine, one local fake upstream (``tests.fakes.upstream`` in its own process),
four paths to it:

* ``direct``       client -> fake
* ``noop``         client -> ``mitmdump --mode reverse:...`` with no addon (the reference)
* ``passthrough``  client -> gateway (same dialect, Anthropic) -> fake
* ``translating``  Anthropic client -> gateway -> fake speaking OpenAI Chat Completions

The load client is a minimal raw asyncio HTTP/1.1 keep-alive client (so the client's own CPU
cost stays small on a 2-core box). Figures: p50/p99 latency of a small JSON exchange (added =
minus direct), time to first token (first content delta of a stream), added time per SSE event
(stream of N events, (t_path - t_direct) / N), and requests/s at 1 and 16 connections, each
bounded by count and time. Prints a markdown table; saves JSON under ``bench/results/``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
RESULTS = REPO / "bench" / "results"

ANTHROPIC_BODY = {
    "model": "bench-model",
    "max_tokens": 64,
    "messages": [{"role": "user", "content": "Say hello. " * 40}],
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process on {port} exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def start(argv: list[str], port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        argv, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    wait_listening(port, proc)
    time.sleep(0.3)  # let the listener settle
    return proc


def request_bytes(port: int, path: str, body: dict[str, object], headers: dict[str, str]) -> bytes:
    data = json.dumps(body).encode()
    head = f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\ncontent-type: application/json\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    head += f"content-length: {len(data)}\r\n\r\n"
    return head.encode() + data


class Conn:
    """One keep-alive HTTP/1.1 connection; reads content-length or chunked bodies."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.r: asyncio.StreamReader | None = None
        self.w: asyncio.StreamWriter | None = None

    async def call(self, req: bytes, token: bytes | None = None) -> tuple[float, float]:
        """Seconds to the first ``token`` occurrence (or first body byte) and to the end."""
        if self.w is None:
            self.r, self.w = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.r is not None
        t0 = time.perf_counter()
        self.w.write(req)
        head = await self.r.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        if status != 200:
            raise RuntimeError(f"status {status}: {head[:200]!r}")
        lower = head.lower()
        t_first = 0.0
        if b"transfer-encoding: chunked" in lower:
            while True:
                size = int((await self.r.readline()).split(b";")[0], 16)
                if size == 0:
                    await self.r.readline()
                    break
                chunk = await self.r.readexactly(size + 2)
                if not t_first and (token is None or token in chunk):
                    t_first = time.perf_counter() - t0
        else:
            n = int(lower.split(b"content-length:")[1].split(b"\r\n")[0])
            await self.r.readexactly(n)
            t_first = time.perf_counter() - t0
        return t_first, time.perf_counter() - t0


async def latencies(
    port: int, req: bytes, n: int, token: bytes | None = None
) -> list[tuple[float, float]]:
    c = Conn(port)
    for _ in range(min(20, n)):
        await c.call(req, token)  # warm-up
    return [await c.call(req, token) for _ in range(n)]


async def throughput(port: int, req: bytes, conns: int, max_n: int, max_s: float) -> float:
    done = 0
    t_end = time.perf_counter() + max_s

    async def worker() -> None:
        nonlocal done
        c = Conn(port)
        await c.call(req)
        while done < max_n and time.perf_counter() < t_end:
            await c.call(req)
            done += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(conns)))
    return done / (time.perf_counter() - t0)


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))]


@dataclass
class PathResult:
    name: str
    json_p50_ms: float
    json_p99_ms: float
    ttft_ms: float
    stream_ms: float
    rps_1: float
    rps_16: float
    added_p50_ms: float = 0.0
    added_p99_ms: float = 0.0
    added_per_event_ms: float = 0.0


async def measure(name: str, port: int, path: str, events: int, quick: bool) -> PathResult:
    hdr = {"x-api-key": "bench", "anthropic-version": "2023-06-01"}
    small = request_bytes(port, path, ANTHROPIC_BODY, hdr)
    ttft_req = request_bytes(
        port, path, ANTHROPIC_BODY | {"stream": True}, hdr | {"x-fake-mode": "slow:5"}
    )
    many = request_bytes(
        port, path, ANTHROPIC_BODY | {"stream": True}, hdr | {"x-fake-mode": f"events:{events}"}
    )
    n = 200 if quick else 1000
    lat = [t for _, t in await latencies(port, small, n)]
    ttft = [t for t, _ in await latencies(port, ttft_req, n // 5, b"delta")]
    streams = [t for _, t in await latencies(port, many, 10 if quick else 30)]
    rps1 = await throughput(port, small, 1, 2000 if quick else 5000, 2 if quick else 4)
    rps16 = await throughput(port, small, 16, 3000 if quick else 8000, 2 if quick else 4)
    return PathResult(
        name,
        json_p50_ms=pct(lat, 50) * 1e3,
        json_p99_ms=pct(lat, 99) * 1e3,
        ttft_ms=statistics.median(ttft) * 1e3,
        stream_ms=statistics.median(streams) * 1e3,
        rps_1=rps1,
        rps_16=rps16,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description="gateway benchmark")
    ap.add_argument("--quick", action="store_true", help="fewer requests (smoke run)")
    ap.add_argument("--events", type=int, default=500, help="SSE events per stream")
    args = ap.parse_args()
    fake_port, noop_port, pass_port, tr_port = (free_port() for _ in range(4))
    fake = f"http://127.0.0.1:{fake_port}"
    mitm = [str(BIN / "mitmdump"), "-q", "--listen-host", "127.0.0.1"]
    gw = mitm + ["-s", "addons/gateway.py", "--set", "recorder_db="]
    procs = []
    try:
        procs.append(
            start(
                [
                    sys.executable,
                    "-m",
                    "tests.fakes.upstream",
                    "--port",
                    str(fake_port),
                    "--no-log",
                ],
                fake_port,
            )
        )
        procs.append(start(mitm + ["-p", str(noop_port), "--mode", f"reverse:{fake}"], noop_port))
        procs.append(
            start(gw + ["-p", str(pass_port), "--set", f"gateway_upstream={fake}"], pass_port)
        )
        procs.append(
            start(
                gw
                + [
                    "-p",
                    str(tr_port),
                    "--set",
                    f"gateway_upstream={fake}/v1",
                    "--set",
                    "gateway_upstream_api=openai",
                ],
                tr_port,
            )
        )
        paths = [
            ("direct", fake_port),
            ("noop", noop_port),
            ("passthrough", pass_port),
            ("translating", tr_port),
        ]
        results = [
            asyncio.run(measure(n, p, "/v1/messages", args.events, args.quick)) for n, p in paths
        ]
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=10)
    direct, noop = results[0], results[1]
    for r in results[1:]:
        r.added_p50_ms = r.json_p50_ms - direct.json_p50_ms
        r.added_p99_ms = r.json_p99_ms - direct.json_p99_ms
        r.added_per_event_ms = (r.stream_ms - direct.stream_ms) / args.events
    print(table(results, noop, args.events))
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"gateway-{time.strftime('%Y%m%d-%H%M%S')}.json"
    meta = {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "events": args.events,
        "quick": args.quick,
    }
    out.write_text(json.dumps({"meta": meta, "results": [asdict(r) for r in results]}, indent=2))
    print(f"\nsaved {out.relative_to(REPO)}")


def table(results: list[PathResult], noop: PathResult, events: int) -> str:
    rows = [
        "| path | JSON p50 ms | p99 ms | added p50 | added p99 | TTFT ms | added/event ms "
        f"({events} ev) | req/s c=1 | req/s c=16 | c=16 vs noop |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        rows.append(
            f"| {r.name} | {r.json_p50_ms:.2f} | {r.json_p99_ms:.2f} | {r.added_p50_ms:.2f} | "
            f"{r.added_p99_ms:.2f} | {r.ttft_ms:.2f} | {r.added_per_event_ms:.4f} | "
            f"{r.rps_1:,.0f} | {r.rps_16:,.0f} | {r.rps_16 / noop.rps_16:.0%} |"
        )
    return "\n".join(rows)


if __name__ == "__main__":
    main()
