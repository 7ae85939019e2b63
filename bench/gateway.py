"""The load side of the gateway benchmark: a raw asyncio HTTP/1.1 client and what it measures.

The driver is ``bench/__main__.py`` (``uv run python -m bench [--quick]``); ``python -m
bench.gateway`` is kept as an alias for it. Here: how one path is loaded and timed.

The client is a minimal keep-alive HTTP/1.1 client (content-length or chunked bodies), so its
own CPU cost stays small on a 2-core box and every path gets byte-for-byte the same requests.
Every loop is bounded twice: by a count and by wall time (plus a per-call timeout), so a stuck
path costs at most its budget. Everything talks to 127.0.0.1.

Per path (see :func:`measure`):

1. sequential JSON exchanges on one connection -> p50/p99 latency;
2. sequential SSE streams -> time to first token (first chunk holding a ``text_delta``) and the
   time from it to the end of the stream (the "drain": the fake sends all events back to back,
   so this is what the path spends per event);
3. throughput at 1 and 16 connections, JSON then SSE, each phase bracketed by ``/proc`` samples
   of the proxy's process tree (CPU seconds per request, peak RSS).
"""

from __future__ import annotations

import asyncio
import json
import socket
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench import procstat

REPO = Path(__file__).resolve().parents[1]
TOKEN = b"text_delta"  # marks the first content delta of an Anthropic stream
CALL_TIMEOUT = 30.0  # seconds for one exchange, so no loop can hang


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_listening(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"process for port {port} exited with {proc.returncode}\n{tail}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port} after {timeout}s")


def start(
    argv: list[str], port: int, log: Path, timeout: float = 30, cwd: Path = REPO
) -> subprocess.Popen[bytes]:
    """Start a server in its own session (so a stop reaches its children), logging to ``log``."""
    with log.open("wb") as fh:
        proc = subprocess.Popen(
            argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        wait_listening(port, proc, log, timeout)
    except BaseException:
        stop(proc)
        raise
    time.sleep(0.3)  # let the listener settle
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM (mitmdump then closes its recorder cleanly), SIGKILL after 15 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


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
        """Seconds to the first chunk holding ``token`` (else the first body byte) and to the
        end; raises on a non-200 status or after :data:`CALL_TIMEOUT`."""
        return await asyncio.wait_for(self._call(req, token), CALL_TIMEOUT)

    async def _call(self, req: bytes, token: bytes | None) -> tuple[float, float]:
        if self.w is None:
            self.r, self.w = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.r is not None
        t0 = time.perf_counter()
        self.w.write(req)
        head = await self.r.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        lower = head.lower()
        t_first = 0.0
        if b"transfer-encoding: chunked" in lower:
            body = bytearray()
            while True:
                size = int((await self.r.readline()).split(b";")[0], 16)
                if size == 0:
                    await self.r.readline()
                    break
                chunk = await self.r.readexactly(size + 2)
                if not t_first and (token is None or token in chunk):
                    t_first = time.perf_counter() - t0
                if status != 200:
                    body += chunk
        else:
            n = int(lower.split(b"content-length:")[1].split(b"\r\n")[0])
            body = bytearray(await self.r.readexactly(n))
            t_first = time.perf_counter() - t0
        if status != 200:
            raise RuntimeError(f"status {status}: {bytes(body[:300])!r}")
        if token is not None and not t_first:
            raise RuntimeError(f"no {token!r} in the stream")
        if b"connection: close" in lower:
            self.close()
        return t_first, time.perf_counter() - t0

    def close(self) -> None:
        if self.w is not None:
            self.w.close()
        self.r = self.w = None


async def sequential(
    port: int, req: bytes, n: int, max_s: float, token: bytes | None = None, warmup: int = 20
) -> list[tuple[float, float]]:
    """Up to ``n`` exchanges one after another on one connection, for at most ``max_s``."""
    c = Conn(port)
    try:
        for _ in range(warmup):
            await c.call(req, token)
        out: list[tuple[float, float]] = []
        t_end = time.perf_counter() + max_s
        while len(out) < n and time.perf_counter() < t_end:
            out.append(await c.call(req, token))
        return out
    finally:
        c.close()


async def throughput(
    port: int, req: bytes, conns: int, max_n: int, max_s: float, on_start: Callable[[], None]
) -> tuple[int, float]:
    """(exchanges, seconds) of ``conns`` connections in a loop. Each makes one warm-up call
    first; counting and the clock start (and ``on_start`` runs) once all of them are ready."""
    done = 0
    t0 = t_end = 0.0
    started = asyncio.Event()
    ready = 0

    async def worker() -> None:
        nonlocal done, ready, t0, t_end
        c = Conn(port)
        try:
            await c.call(req)
            ready += 1
            if ready == conns:
                on_start()
                t0 = time.perf_counter()
                t_end = t0 + max_s
                started.set()
            await started.wait()
            while done < max_n and time.perf_counter() < t_end:
                await c.call(req)
                done += 1
        finally:
            c.close()

    await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(conns))), max_s + 60)
    return done, time.perf_counter() - t0


@dataclass(frozen=True)
class Budget:
    """How much load each path gets: counts and seconds per phase."""

    json_n: int
    json_s: float
    stream_n: int
    stream_s: float
    tput_n: int
    tput_s: float
    rec_rounds: int  # alternating rounds (no-op / translating / without recording) ...
    rec_round_s: float  # ... and seconds per path, kind and round: many short rounds average out


FULL = Budget(
    json_n=1000, json_s=8, stream_n=200, stream_s=8, tput_n=20000, tput_s=5,
    rec_rounds=10, rec_round_s=1.2,
)  # fmt: skip
QUICK = Budget(
    json_n=150, json_s=1.5, stream_n=25, stream_s=1.5, tput_n=3000, tput_s=0.8,
    rec_rounds=3, rec_round_s=0.6,
)  # fmt: skip


@dataclass
class PathResult:
    """Raw figures of one path; comparisons are computed by the driver."""

    name: str
    json_p50_ms: float
    json_p99_ms: float
    json_n: int
    ttft_p50_ms: float
    drain_p50_ms: float  # first token -> end of stream, median
    stream_n: int
    rps_c1: float
    rps_c16: float
    sps_c1: float  # streams per second
    sps_c16: float
    cpu_ms_per_req: float | None  # proxy process tree, over both JSON throughput phases
    cpu_ms_per_stream: float | None
    loop_cpu_ms_per_req: float | None  # the proxy's event-loop thread only
    loop_cpu_ms_per_stream: float | None
    peak_rss_mb: float | None


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))]


async def phase(
    port: int, req: bytes, conns: int, b: Budget, pid: int | None
) -> tuple[float, int, float, float]:
    """(exchanges/s, exchanges, proxy CPU seconds, of which its event-loop thread) of one
    throughput phase."""
    before = None

    def mark() -> None:
        nonlocal before
        before = procstat.sample(pid) if pid else None

    n, wall = await throughput(port, req, conns, b.tput_n, b.tput_s, mark)
    if pid is None or before is None:
        return n / wall, n, 0.0, 0.0
    after = procstat.sample(pid)
    return n / wall, n, after.cpu_s - before.cpu_s, after.loop_cpu_s - before.loop_cpu_s


def requests(port: int, key: str, model: str) -> tuple[bytes, bytes]:
    """The two requests of the load, as bytes: a JSON exchange and a streamed one (Anthropic
    Messages, a ~450-byte prompt)."""
    hdr = {"x-api-key": key, "anthropic-version": "2023-06-01"}
    body: dict[str, object] = {
        "model": model,
        "max_tokens": 256,
        "messages": [{"role": "user", "content": "Say hello. " * 40}],
    }
    json_req = request_bytes(port, "/v1/messages", body, hdr)
    return json_req, request_bytes(port, "/v1/messages", body | {"stream": True}, hdr)


def codex_request(port: int, key: str, model: str) -> bytes:
    """A streamed request shaped like Codex's (the OpenAI Responses API): developer prompt,
    item ids, function, custom and hosted tools, reasoning, no stored state."""
    schema = {"type": "object", "properties": {"cmd": {"type": "string"}}, "required": ["cmd"]}
    grammar = 'start: "*** Begin Patch" LF hunk+ "*** End Patch" LF?'
    body: dict[str, object] = {
        "model": model,
        "stream": True,
        "instructions": None,
        "input": [
            {"type": "message", "id": "msg_dev", "role": "developer",
             "content": [{"type": "input_text", "text": "You are a coding agent. " * 20}]},
            {"type": "message", "id": "msg_user", "role": "user",
             "content": [{"type": "input_text", "text": "Say hello. " * 40}]},
        ],
        "tools": [
            {"type": "function", "name": "exec_command", "description": "Run a command.",
             "strict": False, "parameters": schema},
            {"type": "custom", "name": "apply_patch", "description": "Edit files.",
             "format": {"type": "grammar", "syntax": "lark", "definition": grammar}},
            {"type": "web_search", "external_web_access": False},
        ],
        "tool_choice": "auto",
        "parallel_tool_calls": True,
        "reasoning": {"effort": "medium"},
        "store": False,
        "include": ["reasoning.encrypted_content"],
        "prompt_cache_key": "bench-thread",
        "text": {"verbosity": "low"},
    }  # fmt: skip
    hdr = {"authorization": f"Bearer {key}", "accept": "text/event-stream"}
    return request_bytes(
        port, "/v1/responses", {k: v for k, v in body.items() if v is not None}, hdr
    )


async def measure(
    name: str, port: int, *, key: str, model: str, events: int, budget: Budget, pid: int | None
) -> PathResult:
    """Load one path listening on ``port`` (Anthropic ``/v1/messages``); ``pid``: the proxy's
    process, for CPU and memory (None for the direct path). The fake upstream's default mode
    decides the reply (``events:N``), so no path depends on forwarding a test header."""
    small, stream = requests(port, key, model)
    b = budget
    lat = [t for _, t in await sequential(port, small, b.json_n, b.json_s)]
    st = await sequential(port, stream, b.stream_n, b.stream_s, TOKEN, warmup=5)
    rps1, n1, c1, l1 = await phase(port, small, 1, b, pid)
    rps16, n16, c16, l16 = await phase(port, small, 16, b, pid)
    sps1, s1, d1, m1 = await phase(port, stream, 1, b, pid)
    sps16, s16, d16, m16 = await phase(port, stream, 16, b, pid)
    peak = procstat.sample(pid).peak_rss_kib / 1024 if pid else None

    def per(cpu: float, n: int) -> float | None:
        return cpu / max(1, n) * 1e3 if pid else None

    return PathResult(
        name,
        json_p50_ms=pct(lat, 50) * 1e3,
        json_p99_ms=pct(lat, 99) * 1e3,
        json_n=len(lat),
        ttft_p50_ms=statistics.median(f for f, _ in st) * 1e3,
        drain_p50_ms=statistics.median(t - f for f, t in st) * 1e3,
        stream_n=len(st),
        rps_c1=rps1,
        rps_c16=rps16,
        sps_c1=sps1,
        sps_c16=sps16,
        cpu_ms_per_req=per(c1 + c16, n1 + n16),
        cpu_ms_per_stream=per(d1 + d16, s1 + s16),
        loop_cpu_ms_per_req=per(l1 + l16, n1 + n16),
        loop_cpu_ms_per_stream=per(m1 + m16, s1 + s16),
        peak_rss_mb=peak,
    )
