"""What the claude-cli backend adds to a turn, against running ``claude -p`` by hand.

Run: ``uv run python -m bench.claude_cli [--turns 5] [--rounds 5]``. Needs the pinned Claude Code
(``clients/``); everything stays on 127.0.0.1 (its Anthropic traffic goes to the local fake).

A conversation of ``--turns`` turns, played ``--rounds`` times in alternating order by:

* ``direct``           ``claude -p PROMPT`` per turn, ``--resume`` from turn 2 (the best a
                       script calling the CLI by hand does);
* ``backend``          the backend (``recorder.claude_cli``) given the whole conversation each
                       turn, as a chat client sends it: it resumes the CLI session (only the new
                       turn is written);
* ``backend_seeded``   the same without session reuse: every turn starts a new CLI session
                       seeded with the history (a conversation the gateway does not know);
* ``gateway``          the whole gateway: ``mitmdump -s addons/gateway.py --set
                       gateway_upstream=claude-cli``, recording to a temporary DuckDB, asked by
                       an OpenAI Chat client (streaming, over HTTP) with the whole conversation
                       each turn: it resumes the CLI session;
* ``gateway_seeded``   the same gateway without session reuse (the request's ``user`` differs
                       every turn, and conversations of different users are kept apart).

Per turn: time to first token (the first text delta, or the first chunk with content for the
gateway's client) and to the end of the answer, medians over the rounds, and each path's added
time and ratio against ``direct`` in the same run. The CLI's own start-up (~0.5 s of CPU)
dominates every path; the backend's cost is what is left. The raw timings are saved under
``bench/results/`` (``--json`` elsewhere).

``--resources``: what one CLI process costs (peak RSS, CPU seconds, from GNU time wrapped around
it) and how a burst of K simultaneous turns behaves (K = 1, 2, 4, 8, 16: wall time until all
answered, median turn time): the measurement behind the default ``claude_cli_max_concurrency``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.gateway import free_port, stop, wait_listening
from fakes.claude_code import CLAUDE_BIN, FAKE_API_KEY, QUIET_ENV, installed_version
from fakes.procs import REPO
from fakes.upstream import FakeUpstream
from recorder import ir
from recorder.claude_cli.invocation import CliPolicy, cli_env
from recorder.claude_cli.pool import CliPool
from recorder.claude_cli.sessions import SessionStore
from recorder.claude_cli.turn import ClaudeCliBackend, CliSettings
from recorder.codecs import openai as openai_codec
from recorder.context import Context

FAKE_TEXT = "Hello world!"


@dataclass
class Timing:
    ttft: list[list[float]] = field(default_factory=list)  # [turn][round] seconds
    total: list[list[float]] = field(default_factory=list)

    def add(self, turn: int, ttft: float, total: float) -> None:
        while len(self.ttft) <= turn:
            self.ttft.append([])
            self.total.append([])
        self.ttft[turn].append(ttft)
        self.total[turn].append(total)


def env_for(home: Path, fake: FakeUpstream) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "ANTHROPIC_BASE_URL": fake.url,
        "ANTHROPIC_API_KEY": FAKE_API_KEY,
        **QUIET_ENV,
    }


async def direct(turns: int, home: Path, work: Path, fake: FakeUpstream, out: Timing) -> None:
    env = cli_env(env_for(home, fake), CliPolicy())
    sid = str(uuid.uuid4())
    work.mkdir(parents=True, exist_ok=True)
    for turn in range(turns):
        argv = [
            str(CLAUDE_BIN),
            "-p",
            f"question {turn + 1}",
            "--output-format",
            "stream-json",
            "--verbose",
            "--include-partial-messages",
            "--tools",
            "",
            "--setting-sources",
            "",
            "--model",
            "sonnet",
            *(["--session-id", sid] if turn == 0 else ["--resume", sid]),
        ]
        t0 = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            cwd=work,
            env=env,
        )
        assert proc.stdout is not None
        ttft = None
        async for raw in proc.stdout:
            if ttft is None and b'"text_delta"' in raw:
                ttft = time.perf_counter() - t0
        await proc.wait()
        total = time.perf_counter() - t0
        assert ttft is not None and proc.returncode == 0, "claude -p failed"
        out.add(turn, ttft, total)


async def backend(
    turns: int, b: ClaudeCliBackend, out: Timing, *, forget: Callable[[], None] | None = None
) -> None:
    messages: list[dict[str, Any]] = []
    for turn in range(turns):
        messages.append({"role": "user", "content": f"question {turn + 1}"})
        if forget is not None:
            forget()
        ctx = Context(client="openai", upstream="anthropic")
        req = openai_codec.request_to_ir({"model": "sonnet", "messages": messages})
        t0 = time.perf_counter()
        ttft = None
        t = b.turn_for(req, ctx)
        async with contextlib.aclosing(t.events()) as events:
            async for ev in events:
                if ttft is None and isinstance(ev, ir.TextDelta):
                    ttft = time.perf_counter() - t0
                assert not isinstance(ev, ir.StreamError), ev
        total = time.perf_counter() - t0
        assert ttft is not None
        out.add(turn, ttft, total)
        messages.append({"role": "assistant", "content": FAKE_TEXT})


def start_gateway(root: Path, fake: FakeUpstream) -> tuple[subprocess.Popen[bytes], int]:
    """The gateway with the CLI as its upstream, recording; the CLI's environment as ``direct``
    gets it (the gateway passes its allow-listed part on)."""
    port = free_port()
    mitmdump = str(Path(sys.executable).parent / "mitmdump")
    argv = [
        mitmdump, "-q", "--listen-host", "127.0.0.1", "-p", str(port),
        "-s", "addons/gateway.py",
        "--set", "gateway_upstream=claude-cli",
        "--set", f"claude_cli_path={CLAUDE_BIN}",
        "--set", f"claude_cli_workdir={root / 'gateway-sessions'}",
        "--set", f"recorder_db={root / 'gateway.duckdb'}",
        "--set", f"confdir={root / 'mitmproxy'}",
    ]  # fmt: skip
    env = {**os.environ, **env_for(root / "home", fake)}
    env["PATH"] = os.environ.get("PATH", "/usr/bin:/bin")
    for name in [k for k in env if k.lower().endswith("_proxy")]:
        del env[name]  # as for direct: the CLI talks to the local fake, nothing else
    log = root / "gateway.log"
    with log.open("wb") as fh:
        proc = subprocess.Popen(
            argv, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=fh,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        wait_listening(port, proc, log, 60)
    except BaseException:
        stop(proc)
        raise
    return proc, port


async def gateway(
    turns: int, client: httpx.AsyncClient, out: Timing, *, user: str | None = None
) -> None:
    """One conversation through the gateway; ``user`` set: a new one per turn (no reuse)."""
    messages: list[dict[str, Any]] = []
    for turn in range(turns):
        messages.append({"role": "user", "content": f"question {turn + 1}"})
        body: dict[str, Any] = {"model": "sonnet", "messages": messages, "stream": True}
        if user is not None:
            body["user"] = f"{user}-{turn}-{uuid.uuid4()}"
        t0 = time.perf_counter()
        ttft = None
        text = ""
        async with client.stream("POST", "/v1/chat/completions", json=body) as resp:
            assert resp.status_code == 200, (resp.status_code, await resp.aread())
            async for line in resp.aiter_lines():
                if not line.startswith("data: {"):
                    continue
                chunk = json.loads(line[6:])
                delta = (chunk.get("choices") or [{}])[0].get("delta") or {}
                if delta.get("content"):
                    ttft = ttft or time.perf_counter() - t0
                    text += delta["content"]
        total = time.perf_counter() - t0
        assert ttft is not None and text == FAKE_TEXT, text
        out.add(turn, ttft, total)
        messages.append({"role": "assistant", "content": text})


PATHS = ("direct", "backend", "backend_seeded", "gateway", "gateway_seeded")


async def run(turns: int, rounds: int) -> dict[str, Timing]:
    fake = FakeUpstream(log=False)
    await fake.serve()
    results = {name: Timing() for name in PATHS}
    with tempfile.TemporaryDirectory(prefix="bench-claude-cli-") as tmp:
        root = Path(tmp)
        env = env_for(root / "home", fake)
        settings = CliSettings(str(CLAUDE_BIN), root / "sessions", timeout=120)
        reuse = ClaudeCliBackend(settings, env)
        seeded = ClaudeCliBackend(settings, env)

        def forget() -> None:
            seeded.sessions = SessionStore()

        proc, port = await asyncio.to_thread(start_gateway, root, fake)
        try:
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{port}", timeout=120, trust_env=False
            ) as client:
                await gateway(1, client, Timing())  # warm-up: the CLI's check, the writer
                order = list(PATHS)
                for r in range(rounds):
                    k = r % len(order)
                    for name in order[k:] + order[:k]:  # rotate: drift hits all alike
                        out = results[name]
                        if name == "direct":
                            await direct(turns, root / "home", root / f"direct-{r}", fake, out)
                        elif name == "backend":
                            await backend(turns, reuse, out)
                        elif name == "backend_seeded":
                            await backend(turns, seeded, out, forget=forget)
                        elif name == "gateway":
                            await gateway(turns, client, out)
                        else:
                            await gateway(turns, client, out, user=f"round-{r}")
        finally:
            await asyncio.to_thread(stop, proc)
    return results


async def resources(root: Path, fake: FakeUpstream) -> None:
    """Peak RSS and CPU per CLI process; bursts of K simultaneous turns."""
    log = root / "time.log"
    wrapper = root / "claude-timed"
    wrapper.write_text(
        f'#!/bin/sh\nexec /usr/bin/time -a -o {log} -f "%M %U %S %e" {CLAUDE_BIN} "$@"\n'
    )
    wrapper.chmod(0o755)
    env = env_for(root / "home", fake)
    print(
        "| simultaneous turns | wall until all answered | median turn | peak RSS per CLI "
        "| CPU s per CLI |"
    )
    print("|---|---|---|---|---|")
    for k in (1, 2, 4, 8, 16):
        log.write_text("")
        b = ClaudeCliBackend(
            CliSettings(str(wrapper), root / f"burst-{k}", timeout=300),
            env,
            CliPool(max_concurrency=k, queue_timeout=300),
        )
        fake.log = False
        t0 = time.perf_counter()
        times = await asyncio.gather(*(one_turn(b) for _ in range(k)))
        wall = time.perf_counter() - t0
        rows = [line.split() for line in log.read_text().splitlines() if line.strip()]
        rss = statistics.median(int(r[0]) for r in rows) / 1024
        cpu = statistics.median(float(r[1]) + float(r[2]) for r in rows)
        print(
            f"| {k} | {wall:.2f} s | {statistics.median(times):.2f} s | {rss:.0f} MB | {cpu:.2f} |"
        )


async def one_turn(b: ClaudeCliBackend) -> float:
    ctx = Context(client="openai", upstream="anthropic")
    req = openai_codec.request_to_ir(
        {"model": "sonnet", "messages": [{"role": "user", "content": "hi"}]}
    )
    t0 = time.perf_counter()
    async with contextlib.aclosing(b.turn_for(req, ctx).events()) as events:
        async for ev in events:
            assert not isinstance(ev, ir.StreamError), ev
    return time.perf_counter() - t0


async def run_resources() -> None:
    fake = FakeUpstream(log=False)
    await fake.serve()
    with tempfile.TemporaryDirectory(prefix="bench-claude-cli-") as tmp:
        await resources(Path(tmp), fake)


def report(results: dict[str, Timing], turns: int) -> str:
    """Two tables (time to first token, time to the answer's end): per turn, ``direct``'s
    median and each path's median with its added ms and its ratio to ``direct``; then the
    median over turns 2.. (where reuse matters) of the per-turn ratios."""

    def ms(values: list[float]) -> float:
        return statistics.median(values) * 1000

    paths = [p for p in PATHS if p != "direct" and results[p].total]
    d = results["direct"]
    out: list[str] = []
    for title, pick in (("time to first token", "ttft"), ("time to the end", "total")):
        rows = [
            f"**{title}** (median ms; added ms and ratio against direct)\n",
            "| turn | direct | " + " | ".join(paths) + " |",
            "|---|---|" + "---|" * len(paths),
        ]
        ratios: dict[str, list[float]] = {p: [] for p in paths}
        for t in range(turns):
            base = ms(getattr(d, pick)[t])
            cells = []
            for p in paths:
                v = ms(getattr(results[p], pick)[t])
                if t > 0:
                    ratios[p].append(v / base)
                cells.append(f"{v:.0f} ({v - base:+.0f}, ×{v / base:.2f})")
            rows.append(f"| {t + 1} | {base:.0f} | " + " | ".join(cells) + " |")
        if turns > 1:
            cells = [f"×{statistics.median(ratios[p]):.2f}" for p in paths]
            rows.append("| 2.. (median ratio) | ×1 | " + " | ".join(cells) + " |")
        out.append("\n".join(rows))
    return "\n\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--turns", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--json", type=Path, help="save the raw timings here (default: bench/results/)")
    ap.add_argument("--resources", action="store_true", help="RSS, CPU and bursts instead")
    args = ap.parse_args()
    if installed_version() is None:
        raise SystemExit("Claude Code is not installed: scripts/install-clients.sh")
    if args.resources:
        asyncio.run(run_resources())
        return
    results = asyncio.run(run(args.turns, args.rounds))
    load = os.getloadavg()[0]
    print(f"Claude Code {installed_version()}, {args.rounds} rounds, load {load:.1f}\n")
    print(report(results, args.turns))
    path = (
        args.json
        or REPO / "bench" / "results" / f"claude_cli-{time.strftime('%Y%m%d-%H%M%S')}.json"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = {k: {"ttft": v.ttft, "total": v.total} for k, v in results.items()}
    path.write_text(
        json.dumps({"version": installed_version(), "load": load, "paths": raw}, indent=1)
    )
    print(f"\nsaved: {path}")


if __name__ == "__main__":
    main()
