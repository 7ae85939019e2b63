"""Two checkouts' gateways in the same rounds: ``uv run python -m bench.against DIR``. Not a test.

Judges "the throughput ratios at least as good as before" on a shared box, where two full runs
of ``python -m bench`` an hour apart differ by more than the change being judged. The no-op
mitmdump and the translating gateway of this checkout and of ``DIR`` (another checkout with its
own ``.venv``, e.g. ``git worktree add --detach /tmp/old COMMIT && (cd /tmp/old && uv sync)``),
with and without recording, are all up at once; each round every path serves 16 connections of
Anthropic streams, then of JSON, in an order that rotates from round to round. Reported: the
median over rounds of each path's throughput ÷ the no-op's in the same round, and the event-loop
thread's CPU per stream and per JSON request as ratios to the no-op's (which the load on the box
moves least).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.__main__ import NOOP_ADDON, Running
from bench.gateway import FULL, REPO, free_port, phase, requests, start, stop

KINDS = ("streams", "json")
GATEWAYS = {  # path -> extra options of a translating gateway in front of the Chat fake
    "translating_norec": ("--set", "recorder_db="),
    "translating": (),
}


def launch(path: str, tree: Path, fake: str, tmp: Path) -> Running:
    port = free_port()
    mitmdump = str(tree / ".venv" / "bin" / "mitmdump")
    argv = [mitmdump, "-q", "--listen-host", "127.0.0.1", "-p", str(port)]
    if path == "noop":
        addon = tmp / "noop_stream.py"
        addon.write_text(NOOP_ADDON)
        argv += ["--mode", f"reverse:{fake}", "-s", str(addon)]
    else:
        argv += ["-s", "addons/gateway.py", "--set", f"gateway_upstream={fake}/v1",
                 "--set", "gateway_upstream_api=openai", *GATEWAYS[path]]  # fmt: skip
        if path == "translating":
            argv += ["--set", f"recorder_db={tmp / f'{tree.name}-{port}.duckdb'}"]
    proc = start(argv, port, tmp / f"{path}-{port}.log", cwd=tree)
    return Running(port, proc.pid, lambda: stop(proc))


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.against", description=__doc__)
    ap.add_argument("against", type=Path, nargs="+", help="other checkouts (each with a .venv)")
    ap.add_argument("--norec", action="store_true", help="only the gateways without recording")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--round-s", type=float, default=1.2, help="seconds per path and kind")
    args = ap.parse_args()
    trees = {"now": REPO} | {p.resolve().name: p.resolve() for p in args.against}
    paths = ["translating_norec"] if args.norec else list(GATEWAYS)
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="tapegate-against-") as tmpdir:
        tmp = Path(tmpdir)
        fake_port = free_port()
        fake = f"http://127.0.0.1:{fake_port}"
        fake_argv = [sys.executable, "-m", "fakes.upstream", "--port", str(fake_port),
                     "--no-log", "--mode", "events:50"]  # fmt: skip
        fake_proc = start(fake_argv, fake_port, tmp / "fake.log")
        runs: dict[str, Running] = {}
        try:
            runs["noop"] = launch("noop", REPO, fake, tmp)
            for label, tree in trees.items():
                for path in paths:
                    runs[f"{path} {label}"] = launch(path, tree, fake, tmp)
            tput, cpu = asyncio.run(rounds(runs, args.rounds, args.round_s))
        finally:
            for run in runs.values():
                run.stop()
            stop(fake_proc)
    print(report(tput, cpu, list(trees.values())[1:], args.rounds, load, os.getloadavg()[0]))


async def rounds(
    runs: dict[str, Running], n_rounds: int, round_s: float
) -> tuple[dict[str, dict[str, list[float]]], dict[str, dict[str, float]]]:
    budget = dataclasses.replace(FULL, tput_s=round_s)
    names = list(runs)
    tput: dict[str, dict[str, list[float]]] = {k: {n: [] for n in names} for k in KINDS}
    cpu = {k: {n: [0.0, 0] for n in names} for k in KINDS}  # loop CPU seconds, exchanges
    for i in range(n_rounds):
        order = names[i % len(names) :] + names[: i % len(names)]
        for kind in KINDS:
            for name in order:
                run = runs[name]
                req = requests(run.port, run.key, "bench-model")[kind == "streams"]
                rate, n, _c, loop_cpu = await phase(run.port, req, 16, budget, run.pid)
                tput[kind][name].append(rate)
                cpu[kind][name][0] += loop_cpu
                cpu[kind][name][1] += n
    return tput, {k: {n: c[0] / max(1, c[1]) for n, c in cpu[k].items()} for k in KINDS}


def report(
    tput: dict[str, dict[str, list[float]]],
    cpu: dict[str, dict[str, float]],
    others: list[Path],
    n_rounds: int,
    load_before: float,
    load_after: float,
) -> str:
    lines = [
        f"| median of {n_rounds} rounds, 16 connections | streams/s ÷ no-op | req/s ÷ no-op "
        "| no-op's loop CPU per stream ÷ the path's | the same per JSON request |",
        "|---|---|---|---|---|",
    ]
    for name in tput["streams"]:
        if name == "noop":
            continue
        med = {
            k: statistics.median(a / b for a, b in zip(tput[k][name], tput[k]["noop"], strict=True))
            for k in KINDS
        }
        by_cpu = {k: cpu[k]["noop"] / cpu[k][name] if cpu[k][name] else 0.0 for k in KINDS}
        lines.append(
            f"| {name} | {med['streams']:.0%} | {med['json']:.0%} "
            f"| {by_cpu['streams']:.0%} | {by_cpu['json']:.0%} |"
        )
    when = time.strftime("%Y-%m-%d %H:%M")
    trees = ", ".join(f"{p.name} = {p}" for p in others)
    load = f"load average {load_before:.1f} before, {load_after:.1f} after"
    lines.append(f"\n{when}; {trees}; {load}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
