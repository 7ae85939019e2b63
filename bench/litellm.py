"""LiteLLM's proxy as a peer: start it offline against the fake upstream and measure what it adds.

Usage (from the repo root, after ``scripts/install-clients.sh --litellm``)::

    uv run python bench/litellm.py            # table for the fake upstream direct vs LiteLLM
    uv run python bench/litellm.py --quick    # fewer requests (smoke run, ~1 min)

For the benchmark driver::

    from bench.litellm import start_litellm, measure, MODEL, MASTER_KEY
    url, stop = start_litellm("http://127.0.0.1:9000/v1")   # an OpenAI-dialect upstream
    try: row = measure("litellm", url, fake_url="http://127.0.0.1:9000", key=MASTER_KEY)
    finally: stop()

LiteLLM runs in its own venv (``bench/.venv-litellm``, litellm[proxy] pinned in
bench/litellm/requirements.txt) with the offline settings of shared/research/tech.md §5. Clients
speak Anthropic ``/v1/messages``; LiteLLM translates to the upstream's ``/v1/chat/completions``
(``use_chat_completions_url_for_anthropic_messages``, else it would call ``/v1/responses``).
Everything is on 127.0.0.1, every loop is bounded in count and time.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from recorder import dialects
from recorder.auth import key_header
from recorder.ir import Dialect

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
VENV = HERE / ".venv-litellm"
LITELLM_BIN = VENV / "bin" / "litellm"
MODEL = "claude-fake"  # the model name clients send; LiteLLM maps it to openai/fake-model
MASTER_KEY = "sk-" + secrets.token_hex(24)  # LiteLLM 1.106 refuses to start without one

OFFLINE_ENV = {
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS": "True",
    "LITELLM_LOCAL_AUTOROUTER_PRESETS": "True",
    "LITELLM_LOCAL_BLOG_POSTS": "True",
    "LITELLM_LOCAL_POLICY_TEMPLATES": "True",
    "LITELLM_TELEMETRY": "False",
    "LITELLM_LOG": "ERROR",
    "LITELLM_USE_CHAT_COMPLETIONS_URL_FOR_ANTHROPIC_MESSAGES": "True",
    "NO_PROXY": "127.0.0.1,localhost",
}

CONFIG = """\
model_list:
  - model_name: {model}
    litellm_params:
      model: openai/fake-model
      api_base: {upstream}
      api_key: sk-fake
litellm_settings:
  telemetry: false
  drop_params: true
  use_chat_completions_url_for_anthropic_messages: true
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
  disable_spend_logs: true
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"{url}: process exited {proc.returncode}\n{log.read_text()[-3000:]}"
            )
        try:
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} not ready after {timeout}s\n{log.read_text()[-3000:]}")


def _stopper(proc: subprocess.Popen[bytes]) -> Callable[[], None]:
    def stop() -> None:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)

    return stop


INSTALL_HINT = "scripts/install-clients.sh --litellm"


def available() -> bool:
    return LITELLM_BIN.exists()


def start_litellm(upstream_url: str, port: int | None = None) -> tuple[str, Callable[[], None]]:
    """Start LiteLLM's proxy on 127.0.0.1 for an OpenAI-dialect upstream base URL (``.../v1``).

    Returns (base URL, stop). Clients authenticate with :data:`MASTER_KEY` and send
    ``model=MODEL``. Takes ~5 s (LiteLLM's import time); raises if the venv is missing.
    """
    url, _, stop = launch_litellm(upstream_url, port)
    return url, stop


def launch_litellm(
    upstream_url: str, port: int | None = None
) -> tuple[str, subprocess.Popen[bytes], Callable[[], None]]:
    """:func:`start_litellm`, also handing back the process (its pid, for ``bench.procstat``)."""
    if not available():
        raise FileNotFoundError(f"{LITELLM_BIN} missing: run {INSTALL_HINT}")
    port = port or free_port()
    work = Path(tempfile.mkdtemp(prefix="litellm-"))
    cfg = work / "config.yaml"
    cfg.write_text(CONFIG.format(model=MODEL, upstream=upstream_url))
    log = work / "litellm.log"
    env = {**os.environ, **OFFLINE_ENV, "LITELLM_MASTER_KEY": MASTER_KEY}
    with log.open("wb") as fh:
        proc = subprocess.Popen(
            [LITELLM_BIN, "--config", cfg, "--host", "127.0.0.1", "--port", str(port)],
            cwd=work, env=env, stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    stop = _stopper(proc)
    try:
        _wait_http(url + "/health/liveliness", proc, log, timeout=90)
    except BaseException:
        stop()
        raise
    return url, proc, stop


def start_fake_upstream() -> tuple[str, Callable[[], None]]:
    """The project's fake upstream in its own process (so it does not share our GIL)."""
    port = free_port()
    log = Path(tempfile.mkdtemp(prefix="fake-")) / "fake.log"
    with log.open("wb") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "fakes.upstream", "--port", str(port), "--no-log"],
            cwd=REPO, stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    stop = _stopper(proc)
    try:
        _wait_http(url + "/v1/models", proc, log, timeout=30)
    except BaseException:
        stop()
        raise
    return url, stop


# ---------------------------------------------------------------------------- measurements


@dataclass(frozen=True)
class Target:
    """Where to send and in which dialect: ``anthropic`` (/v1/messages) or ``openai`` (direct).
    The request is one both dialects read alike (``max_tokens`` is required by the first,
    accepted by the second); its endpoint, key header and required headers are the registry's."""

    name: str
    url: str
    dialect: Dialect
    key: str
    model: str

    def request(self, *, stream: bool, mode: str) -> tuple[str, dict[str, str], dict[str, object]]:
        entry = dialects.entry(self.dialect)
        headers = {"x-fake-mode": mode, "content-type": "application/json"}
        headers |= dict([key_header(entry.key_style, self.key), *entry.required_headers])
        body: dict[str, object] = {
            "model": self.model,
            "messages": [{"role": "user", "content": "hi"}],
            "stream": stream,
            "max_tokens": 64,
        }
        return self.url + entry.chat_path, headers, body


def _is_token(line: str) -> bool:
    return line.startswith("data:") and (
        '"text_delta"' in line
        or ('"content":"' in line.replace(" ", "") and '"content":""' not in line.replace(" ", ""))
    )


def _pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))] if xs else float("nan")


def json_latency(t: Target, n: int) -> list[float]:
    """Sequential non-streaming requests; seconds each (after 5 warm-ups)."""
    url, headers, body = t.request(stream=False, mode="text")
    out = []
    with httpx.Client(timeout=30, trust_env=False) as c:
        for i in range(n + 5):
            t0 = time.perf_counter()
            c.post(url, headers=headers, json=body).raise_for_status()
            if i >= 5:
                out.append(time.perf_counter() - t0)
    return out


def stream_timing(
    t: Target, fake_url: str, n: int, events: int, gap_ms: float
) -> tuple[list[float], list[float]]:
    """(time to first token, total stream time) per request, seconds (after 2 warm-ups).

    The mode is queued on the fake (``/_fake/script``) rather than sent as ``x-fake-mode``,
    because LiteLLM does not forward client headers upstream.
    """
    mode = f"events:{events}+gap:{gap_ms:g}"
    httpx.post(fake_url + "/_fake/script", json={"modes": [mode] * (n + 2)}, trust_env=False)
    url, headers, body = t.request(stream=True, mode=mode)
    ttft, total = [], []
    with httpx.Client(timeout=60, trust_env=False) as c:
        for i in range(n + 2):
            t0 = time.perf_counter()
            first = None
            with c.stream("POST", url, headers=headers, json=body) as r:
                r.raise_for_status()
                for line in r.iter_lines():
                    if first is None and _is_token(line):
                        first = time.perf_counter() - t0
            if i >= 2:
                total.append(time.perf_counter() - t0)
                ttft.append(first if first is not None else float("nan"))
    return ttft, total


async def _throughput(
    t: Target, concurrency: int, seconds: float, cap: int
) -> tuple[float, list[float]]:
    url, headers, body = t.request(stream=False, mode="text")
    lat: list[float] = []
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=30, limits=limits, trust_env=False) as c:

        async def worker() -> None:
            while time.perf_counter() < deadline and len(lat) < cap:
                t0 = time.perf_counter()
                (await c.post(url, headers=headers, json=body)).raise_for_status()
                lat.append(time.perf_counter() - t0)

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - t0
    return len(lat) / elapsed, lat


def measure(
    name: str,
    url: str,
    *,
    fake_url: str,
    key: str,
    model: str = MODEL,
    dialect: Dialect = "anthropic",
    quick: bool = False,
) -> dict[str, float]:
    """All figures for one target in front of the fake at ``fake_url``: ms (rps for throughput)."""
    t = Target(name, url, dialect, key, model)
    n_json, n_stream, events, gap, secs = (
        (50, 10, 20, 5.0, 3.0) if quick else (300, 30, 20, 5.0, 8.0)
    )
    js = json_latency(t, n_json)
    ttft, total = stream_timing(t, fake_url, n_stream, events, gap)
    rps1, lat1 = asyncio.run(_throughput(t, 1, secs, 5000))
    rps16, lat16 = asyncio.run(_throughput(t, 16, secs, 20000))
    return {
        "json_p50": _pct(js, 50) * 1e3,
        "json_p99": _pct(js, 99) * 1e3,
        "ttft_p50": statistics.median(ttft) * 1e3,
        "stream_p50": statistics.median(total) * 1e3,
        "events": events,
        "rps_c1": rps1,
        "p99_c1": _pct(lat1, 99) * 1e3,
        "rps_c16": rps16,
        "p99_c16": _pct(lat16, 99) * 1e3,
    }


def table(direct: dict[str, float], peers: dict[str, dict[str, float]]) -> str:
    rows = [
        "| target | JSON p50 (added) | JSON p99 (added) | TTFT p50 (added) | added / SSE event "
        "| rps c=1 (p99) | rps c=16 (p99) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, m in {"direct": direct, **peers}.items():
        per_event = (
            (m["stream_p50"] - m["ttft_p50"]) - (direct["stream_p50"] - direct["ttft_p50"])
        ) / (m["events"] - 1)
        rows.append(
            f"| {name} | {m['json_p50']:.2f} ms (+{m['json_p50'] - direct['json_p50']:.2f}) "
            f"| {m['json_p99']:.2f} ms (+{m['json_p99'] - direct['json_p99']:.2f}) "
            f"| {m['ttft_p50']:.2f} ms (+{m['ttft_p50'] - direct['ttft_p50']:.2f}) "
            f"| {per_event:+.3f} ms "
            f"| {m['rps_c1']:.0f} ({m['p99_c1']:.1f} ms) "
            f"| {m['rps_c16']:.0f} ({m['p99_c16']:.1f} ms) |"
        )
    return "\n".join(rows)


def main() -> None:
    quick = "--quick" in sys.argv
    fake_url, stop_fake = start_fake_upstream()
    try:
        t0 = time.monotonic()
        url, stop_litellm = start_litellm(fake_url + "/v1")
        print(f"litellm ready in {time.monotonic() - t0:.1f}s at {url}", file=sys.stderr)
        try:
            direct = measure(
                "direct", fake_url, fake_url=fake_url, key="sk-fake", model="fake-model",
                dialect="openai", quick=quick,
            )  # fmt: skip
            lite = measure("litellm", url, fake_url=fake_url, key=MASTER_KEY, quick=quick)
        finally:
            stop_litellm()
    finally:
        stop_fake()
    print("direct = OpenAI chat to the fake; litellm = Anthropic /v1/messages -> LiteLLM -> fake")
    print(table(direct, {"litellm 1.106.2": lite}))


if __name__ == "__main__":
    main()
