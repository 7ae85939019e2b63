"""What looking costs: the live console and the OpenTelemetry export, against the same gateway
without them, in alternating rounds. ``uv run python -m bench.observe [--quick]``. Not a test.

Paths, all the translating gateway (Anthropic client -> OpenAI-dialect fake, 50-event streams)
recording into a temp DuckDB, as the gateway runs by default:

* ``base``     console off, no export
* ``console``  ``gateway_console=on`` (lines go to the gateway's log file: its stdout here)
* ``otel``     ``otel_endpoint=`` a local OTLP/HTTP receiver (``fakes.otlp``, its own process)
* ``all``      console, export and the message log together

All four are up at once; every round each serves 16 connections of streams, then of JSON, in an
order that rotates, so drift in the machine's load hits them alike. Reported: the medians of the
per-round throughput ratios path ÷ base, the event-loop CPU per exchange (what caps one
mitmdump; it barely moves with other load on the box) and the CPU of the gateway's whole process
tree per exchange (with its recorder and, for the observing paths, the observer process, which
runs niced: on a saturated box it yields to the traffic). Target (issue 17): the console costs at
most 2% of throughput.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.gateway import FULL, QUICK, REPO, Budget, free_port, phase, requests, start, stop

MITMDUMP = str(Path(sys.executable).parent / "mitmdump")
PATHS = ("base", "console", "otel", "all")
KINDS = ("json", "streams")
TARGET_CONSOLE = 0.02


def _sets(name: str, tmp: Path, otlp: str) -> list[str]:
    sets = ["gateway_console=off"]
    if name in ("console", "all"):
        sets = ["gateway_console=on"]
    if name in ("otel", "all"):
        sets.append(f"otel_endpoint={otlp}")
    if name == "all":
        sets.append(f"messagelog={tmp / 'messages.jsonl'}")
    return sets


def launch(name: str, fake: str, tmp: Path, otlp: str) -> tuple[int, Any]:
    port = free_port()
    d = tmp / name
    d.mkdir()
    argv = [MITMDUMP, "--listen-host", "127.0.0.1", "-p", str(port), "-s", "addons/gateway.py",
            "--set", f"gateway_upstream={fake}/v1", "--set", "gateway_upstream_api=openai",
            "--set", f"recorder_db={d / 'traffic.duckdb'}"]  # fmt: skip
    for s in _sets(name, d, otlp):
        argv += ["--set", s]
    return port, start(argv, port, d / "gateway.log")


def rounds(
    fake: str, tmp: Path, budget: Budget, otlp: str, paths: tuple[str, ...] = PATHS
) -> dict[str, Any]:
    procs: dict[str, tuple[int, Any]] = {}
    tput = {k: {n: [] for n in paths} for k in KINDS}  # type: ignore[var-annotated]
    loop_cpu = {k: {n: [0.0, 0] for n in paths} for k in KINDS}
    tree_cpu = {k: {n: [0.0, 0] for n in paths} for k in KINDS}
    try:
        for name in paths:
            procs[name] = launch(name, fake, tmp, otlp)
        per_round = dataclasses.replace(budget, tput_s=budget.rec_round_s)

        async def run() -> None:
            for i in range(budget.rec_rounds):
                order = paths[i % len(paths) :] + paths[: i % len(paths)]
                for kind in KINDS:
                    for name in order:
                        port, proc = procs[name]
                        req = requests(port, "bench", "claude-bench")[KINDS.index(kind)]
                        rate, n, c, lc = await phase(port, req, 16, per_round, proc.pid)
                        tput[kind][name].append(rate)
                        loop_cpu[kind][name][0] += lc
                        loop_cpu[kind][name][1] += n
                        tree_cpu[kind][name][0] += c
                        tree_cpu[kind][name][1] += n

        asyncio.run(run())
    finally:
        for _, proc in procs.values():
            stop(proc)

    def ratio(kind: str, name: str) -> dict[str, float]:
        rs = [a / b for a, b in zip(tput[kind][name], tput[kind]["base"], strict=True)]
        return {"median": statistics.median(rs), "min": min(rs), "max": max(rs)}

    def per(cpu: dict[str, dict[str, list[float]]]) -> dict[str, dict[str, float]]:
        return {k: {n: c / max(1, m) * 1e3 for n, (c, m) in v.items()} for k, v in cpu.items()}

    log = tmp / "console" / "gateway.log"
    lines = sum(1 for _ in log.open(errors="replace")) if log.exists() else 0
    return {
        "throughput": tput,
        "ratios": {k: {n: ratio(k, n) for n in paths if n != "base"} for k in KINDS},
        "loop_cpu_ms": per(loop_cpu),
        "tree_cpu_ms": per(tree_cpu),
        "console_lines": lines,
        "spans_received": int(httpx.get(f"{otlp}/_count", timeout=10).text),
    }


def table(r: dict[str, Any], budget: Budget) -> str:
    out = [
        f"| path | streams/s ÷ base (median of {budget.rec_rounds}) | req/s ÷ base "
        "| loop CPU ms / stream | loop CPU ms / req | tree CPU ms / stream | tree CPU ms / req |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in ["base", *r["ratios"]["streams"]]:
        cells = []
        for kind in ("streams", "json"):
            if name == "base":
                cells.append("1 (reference)")
            else:
                x = r["ratios"][kind][name]
                cells.append(f"{x['median']:.1%} ({x['min']:.0%}–{x['max']:.0%})")
        cpu, tree = r["loop_cpu_ms"], r["tree_cpu_ms"]
        out.append(f"| {name} | {cells[0]} | {cells[1]} | {cpu['streams'][name]:.3f} "
                   f"| {cpu['json'][name]:.3f} | {tree['streams'][name]:.3f} "
                   f"| {tree['json'][name]:.3f} |")  # fmt: skip
    if "console" not in r["ratios"]["streams"]:
        return "\n".join(out)
    cost = {k: 1 - r["ratios"][k]["console"]["median"] for k in ("streams", "json")}
    cpu_cost = {k: r["loop_cpu_ms"][k]["console"] / r["loop_cpu_ms"][k]["base"] - 1
                for k in ("streams", "json")}  # fmt: skip
    met = all(c <= TARGET_CONSOLE for c in cost.values())
    met_cpu = all(c <= TARGET_CONSOLE for c in cpu_cost.values())
    tree_cost = {k: r["tree_cpu_ms"][k]["console"] / r["tree_cpu_ms"][k]["base"] - 1
                 for k in ("streams", "json")}  # fmt: skip
    out.append("")
    out.append(
        f"console cost: {cost['streams']:+.1%} streams/s, {cost['json']:+.1%} req/s "
        f"(medians of the rounds): target ≤ {TARGET_CONSOLE:.0%} {'met' if met else 'NOT met'}; "
        f"event-loop CPU per exchange {cpu_cost['streams']:+.1%} / {cpu_cost['json']:+.1%}: "
        f"{'met' if met_cpu else 'NOT met'}; the process tree's CPU {tree_cost['streams']:+.1%} "
        f"/ {tree_cost['json']:+.1%} (the niced observer process)"
    )
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.observe", description=__doc__)
    ap.add_argument("--quick", action="store_true", help="smoke run, about a minute")
    ap.add_argument(
        "--only", help=f"comma-separated subset of {','.join(PATHS[1:])} (base is kept)"
    )
    ap.add_argument("--rounds", type=int, help="alternating rounds (default 10, quick 3)")
    args = ap.parse_args()
    budget = QUICK if args.quick else FULL
    if args.rounds:  # more rounds for a pair: the ratio's spread shrinks with their number
        budget = dataclasses.replace(budget, rec_rounds=args.rounds)
    paths = PATHS if not args.only else ("base", *(p for p in PATHS if p in args.only.split(",")))
    load = os.getloadavg()
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="tapegate-bench-observe-") as d:
        tmp = Path(d)
        fake_port, otlp_port = free_port(), free_port()
        fake = f"http://127.0.0.1:{fake_port}"
        fake_proc = start(
            [sys.executable, "-m", "fakes.upstream", "--port", str(fake_port), "--no-log",
             "--mode", "events:50"], fake_port, tmp / "fake.log",
        )  # fmt: skip
        otlp_proc = start([sys.executable, "-m", "fakes.otlp", "--port", str(otlp_port)],
                          otlp_port, tmp / "otlp.log")  # fmt: skip
        try:
            result = rounds(fake, tmp, budget, f"http://127.0.0.1:{otlp_port}", paths)
        finally:
            stop(fake_proc)
            stop(otlp_proc)
    print(table(result, budget))
    summary = (
        f"{'quick' if args.quick else 'full'} run, {time.monotonic() - t0:.0f} s; "
        f"load {load[0]:.2f} before, {os.getloadavg()[0]:.2f} after; "
        f"{result['console_lines']} console lines, {result['spans_received']} spans"
    )
    print(f"\n{summary}")
    results = REPO / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    out = results / f"observe-{time.strftime('%Y%m%d-%H%M%S')}{'-quick' if args.quick else ''}.json"
    out.write_text(json.dumps({"summary": summary, "budget": dataclasses.asdict(budget),
                               **result}, indent=2) + "\n")  # fmt: skip
    print(f"saved {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
