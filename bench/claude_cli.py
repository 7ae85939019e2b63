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
                       seeded with the history (what happens after a gateway restart).

Per turn: time to first token (the first text delta) and to the end of the answer, medians over
the rounds, and the backend's added time against ``direct`` in the same run. The CLI's own
start-up (~0.5 s of CPU) dominates every path; the backend's cost is what is left.

``--resources``: what one CLI process costs (peak RSS, CPU seconds, from GNU time wrapped around
it) and how a burst of K simultaneous turns behaves (K = 1, 2, 4, 8, 16: wall time until all
answered, median turn time): the measurement behind the default ``claude_cli_max_concurrency``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fakes.claude_code import CLAUDE_BIN, FAKE_API_KEY, QUIET_ENV, installed_version
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


async def run(turns: int, rounds: int) -> dict[str, Timing]:
    fake = FakeUpstream(log=False)
    await fake.serve()
    results = {name: Timing() for name in ("direct", "backend", "backend_seeded")}
    with tempfile.TemporaryDirectory(prefix="bench-claude-cli-") as tmp:
        root = Path(tmp)
        env = env_for(root / "home", fake)
        settings = CliSettings(str(CLAUDE_BIN), root / "sessions", timeout=120)
        reuse = ClaudeCliBackend(settings, env)
        seeded = ClaudeCliBackend(settings, env)

        def forget() -> None:
            seeded.sessions = SessionStore()

        order = ["direct", "backend", "backend_seeded"]
        for r in range(rounds):
            for name in order[r % 3 :] + order[: r % 3]:  # rotate: drift hits all alike
                if name == "direct":
                    await direct(turns, root / "home", root / f"direct-{r}", fake, results[name])
                elif name == "backend":
                    await backend(turns, reuse, results[name])
                else:
                    await backend(turns, seeded, results[name], forget=forget)
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
    def ms(values: list[float]) -> float:
        return statistics.median(values) * 1000

    rows = [
        "| turn | direct TTFT | backend TTFT (added) | seeded TTFT (added) "
        "| direct total | backend total (added) | seeded total (added) |",
        "|---|---|---|---|---|---|---|",
    ]
    d, b, s = results["direct"], results["backend"], results["backend_seeded"]
    for t in range(turns):
        dt, bt, st = ms(d.ttft[t]), ms(b.ttft[t]), ms(s.ttft[t])
        dT, bT, sT = ms(d.total[t]), ms(b.total[t]), ms(s.total[t])
        rows.append(
            f"| {t + 1} | {dt:.0f} ms | {bt:.0f} ms ({bt - dt:+.0f}) | {st:.0f} ms ({st - dt:+.0f})"
            f" | {dT:.0f} ms | {bT:.0f} ms ({bT - dT:+.0f}) | {sT:.0f} ms ({sT - dT:+.0f}) |"
        )
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--turns", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--json", type=Path, help="also save the raw timings here")
    ap.add_argument("--resources", action="store_true", help="RSS, CPU and bursts instead")
    args = ap.parse_args()
    if installed_version() is None:
        raise SystemExit("Claude Code is not installed: scripts/install-clients.sh")
    if args.resources:
        asyncio.run(run_resources())
        return
    results = asyncio.run(run(args.turns, args.rounds))
    print(f"Claude Code {installed_version()}, {args.rounds} rounds, medians\n")
    print(report(results, args.turns))
    if args.json:
        raw = {k: {"ttft": v.ttft, "total": v.total} for k, v in results.items()}
        args.json.write_text(json.dumps(raw, indent=1))


if __name__ == "__main__":
    main()
