"""Start-up: how long until the gateway answers, and what the ``recorder`` commands load.
``uv run python -m bench.startup [--quick] [--against DIR]``. Not a test.

In rounds (7 full, 3 quick), each round running every case once in an order that rotates, so
drift in the machine's load hits them alike; reported are the medians:

* **first answer**: from starting the process to the first answered request (an Anthropic JSON
  exchange, retried every 10 ms until something listens), for ``mitmdump -s`` a no-op addon
  (``--mode reverse:`` to the fake: mitmproxy's own start), and ``mitmdump -s addons/gateway.py``
  to the same fake (``fakes.upstream``, its own process), recording to a temp DuckDB as by
  default, and with ``recorder_db=`` (no recording). Target (issue 12): the gateway ≤ 1.5× the
  no-op.
* **commands**: wall and CPU time (user + system, of the process) and the modules' own import
  time (``-X importtime``, summed) of ``recorder --help``, a small ``recorder query`` on a closed
  database and on one a running gateway holds, and ``python -c "import addons.gateway"``;
  ``python -c pass`` is the interpreter's own start for reference.

``--against DIR`` runs every case a second time from another checkout (its own ``.venv``; e.g. a
worktree of an older commit), in the same rounds: before and after in one run.

A round before the counted ones fills the bytecode cache (kept in the run's temp directory,
``PYTHONPYCACHEPREFIX``): measured is a start as a user's every start after the first. With
``--no-bytecode-cache`` every start compiles every module from source instead, as it does where
``PYTHONDONTWRITEBYTECODE=1`` is set (as on this project's build box), which makes every start
slower, mitmproxy's own included.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.gateway import REPO, free_port, requests, start, stop

TARGET_RATIO = 1.5
NOOP_ADDON = "def load(loader):\n    pass\n"
ANSWER_TIMEOUT = 60.0


@dataclass(frozen=True)
class Tree:
    """A checkout whose commands are measured: its directory and its virtualenv's binaries."""

    label: str
    root: Path

    def bin(self, name: str) -> str:
        return str(self.root / ".venv" / "bin" / name)


# ---------------------------------------------------------------------------- first answer


def _first_answer(argv: list[str], port: int, cwd: Path, log: Path) -> float:
    """Seconds from starting ``argv`` to the first 200 answer on ``port``; the process is
    stopped afterwards."""
    req = requests(port, "bench", "claude-bench")[0]
    t0 = time.perf_counter()
    with log.open("wb") as fh:
        proc = subprocess.Popen(
            argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        while time.perf_counter() - t0 < ANSWER_TIMEOUT:
            if proc.poll() is not None:
                raise RuntimeError(f"{argv[:3]} exited with {proc.returncode}: {_tail(log)}")
            if _answered(port, req):
                return time.perf_counter() - t0
            time.sleep(0.01)
        raise RuntimeError(f"no answer on {port} after {ANSWER_TIMEOUT} s: {_tail(log)}")
    finally:
        stop(proc)


def _answered(port: int, req: bytes) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(req)
            head = s.recv(64)
    except OSError:
        return False
    return head.startswith(b"HTTP/1.1 200")


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-1500:] if log.exists() else ""


def start_cases(tree: Tree, fake: str, tmp: Path) -> dict[str, Callable[[], float]]:
    noop = tmp / "noop_addon.py"
    noop.write_text(NOOP_ADDON)

    def mitmdump(name: str, *args: str) -> Callable[[], float]:
        def run() -> float:
            port = free_port()
            argv = [tree.bin("mitmdump"), "-q", "--listen-host", "127.0.0.1", "-p", str(port),
                    *args]  # fmt: skip
            if name == "gateway":  # a fresh database each time, as a first start makes it
                db = tmp / f"{tree.label}-{port}.duckdb"
                argv += ["--set", f"recorder_db={db}"]
            return _first_answer(argv, port, tree.root, tmp / f"{tree.label}-{name}.log")

        return run

    gateway = ("-s", "addons/gateway.py", "--set", f"gateway_upstream={fake}")
    return {
        "noop": mitmdump("noop", "--mode", f"reverse:{fake}", "-s", str(noop)),
        "gateway": mitmdump("gateway", *gateway),
        "gateway_norec": mitmdump("gateway_norec", *gateway, "--set", "recorder_db="),
    }


# ---------------------------------------------------------------------------- commands


@dataclass
class Run:
    wall_s: float
    cpu_s: float
    imports_s: float  # the modules' own import time, summed (-X importtime)


def _command(tree: Tree, args: list[str], env: dict[str, str] | None = None) -> Run:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(
        [tree.bin("python"), "-X", "importtime", *args], cwd=tree.root, capture_output=True,
        env={**os.environ, **(env or {})}, timeout=120,
    )  # fmt: skip
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{args} exited with {proc.returncode}: {proc.stderr[-1500:]!r}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Run(wall, cpu, import_seconds(proc.stderr.decode(errors="replace")))


def import_seconds(importtime: str) -> float:
    """The total of ``-X importtime``'s top-level cumulative times (seconds)."""
    total = 0
    for line in importtime.splitlines():
        parts = line.split("|")
        if line.startswith("import time:") and len(parts) == 3 and parts[1].strip().isdigit():
            if not parts[2].startswith("  "):  # top level: one space before the name
                total += int(parts[1])
    return total / 1e6


RECORDER = "import sys; sys.argv[0] = 'recorder'; import cli; cli.main()"


def command_cases(tree: Tree, closed_db: Path, held_db: Path) -> dict[str, Callable[[], Run]]:
    sql = "SELECT id, status, model FROM exchanges LIMIT 16"
    return {
        "python": lambda: _command(tree, ["-c", "pass"]),
        "recorder --help": lambda: _command(tree, ["-c", RECORDER, "--help"]),
        "recorder query (closed db)": lambda: _command(
            tree, ["-c", RECORDER, "query", sql, "--db", str(closed_db)]
        ),
        "recorder query (gateway running)": lambda: _command(
            tree, ["-c", RECORDER, "query", sql, "--db", str(held_db)]
        ),
        "import addons.gateway": lambda: _command(tree, ["-c", "import addons.gateway"]),
    }


# ---------------------------------------------------------------------------- driver


def _record_some(tree: Tree, fake: str, tmp: Path, db: Path, n: int = 16) -> Any:
    """A gateway recording ``n`` exchanges into ``db``, left running (its process)."""
    port = free_port()
    argv = [tree.bin("mitmdump"), "-q", "--listen-host", "127.0.0.1", "-p", str(port),
            "-s", "addons/gateway.py", "--set", f"gateway_upstream={fake}",
            "--set", f"recorder_db={db}"]  # fmt: skip
    log = tmp / f"{tree.label}-held.log"
    proc = start(argv, port, log, timeout=60, cwd=tree.root)  # its own addons/gateway.py
    req = requests(port, "bench", "claude-bench")[0]
    for _ in range(n):
        if not _answered(port, req):
            stop(proc)
            raise RuntimeError(f"the recording gateway did not answer: {_tail(log)}")
    return proc


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.startup", description=__doc__)
    ap.add_argument("--quick", action="store_true", help="3 rounds instead of 7")
    ap.add_argument("--rounds", type=int, help="rounds (default 7, quick 3)")
    ap.add_argument("--against", metavar="DIR", help="another checkout, measured in the same run")
    ap.add_argument(
        "--no-bytecode-cache", action="store_true",
        help="every start compiles every module from source (what PYTHONDONTWRITEBYTECODE=1, "
        "set on some CI boxes, makes each start do); default: a bytecode cache, as a user's "
        "every start after the first",
    )  # fmt: skip
    args = ap.parse_args()
    rounds = args.rounds or (3 if args.quick else 7)
    trees = [Tree("this", REPO)]
    if args.against:
        trees.append(Tree("against", Path(args.against).resolve()))
    load = os.getloadavg()
    t_start = time.monotonic()
    starts: dict[str, list[float]] = {}
    runs: dict[str, list[Run]] = {}
    with tempfile.TemporaryDirectory(prefix="tapegate-bench-startup-") as d:
        tmp = Path(d)
        _bytecode(cached=not args.no_bytecode_cache, prefix=tmp / "pycache")
        fake_port = free_port()
        fake = f"http://127.0.0.1:{fake_port}"
        fake_proc = start([sys.executable, "-m", "fakes.upstream", "--port", str(fake_port),
                           "--no-log"], fake_port, tmp / "fake.log")  # fmt: skip
        held = []
        try:
            cases: dict[str, Callable[[], Any]] = {}
            for tree in trees:
                closed, live = (
                    tmp / f"{tree.label}-closed.duckdb",
                    tmp / f"{tree.label}-live.duckdb",
                )
                stop(_record_some(tree, fake, tmp, closed))
                held.append(_record_some(tree, fake, tmp, live))
                for name, fn in start_cases(tree, fake, tmp).items():
                    cases[f"{tree.label}|start|{name}"] = fn
                for name, fn in command_cases(tree, closed, live).items():
                    cases[f"{tree.label}|cmd|{name}"] = fn
            order = list(cases)
            for key in order:  # a round not counted: the bytecode cache, the page cache
                cases[key]()
            for i in range(rounds):
                print(f"round {i + 1}/{rounds} ...", file=sys.stderr, flush=True)
                k = i % len(order)
                for key in order[k:] + order[:k]:
                    value = cases[key]()
                    if isinstance(value, Run):
                        runs.setdefault(key, []).append(value)
                    else:
                        starts.setdefault(key, []).append(value)
        finally:
            for proc in held:
                stop(proc)
            stop(fake_proc)
    result = summarise(starts, runs, [t.label for t in trees])
    summary = (
        f"{'quick' if args.quick else 'full'} run, {rounds} rounds, "
        f"{'no bytecode cache' if args.no_bytecode_cache else 'bytecode cached'}, "
        f"{time.monotonic() - t_start:.0f} s; load average {load[0]:.2f} before, "
        f"{os.getloadavg()[0]:.2f} after; {os.cpu_count()} CPUs"
        + (f"; against {args.against}" if args.against else "")
    )
    print(tables(result))
    print(f"\n{summary}")
    out_dir = REPO / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"startup-{time.strftime('%Y%m%d-%H%M%S')}{'-quick' if args.quick else ''}.json"
    raw = {
        "starts": starts,
        "runs": {k: [asdict(r) for r in v] for k, v in runs.items()},
    }
    out.write_text(json.dumps({"summary": summary, **result, "raw": raw}, indent=2) + "\n")
    print(f"saved {out.relative_to(REPO)}")


def _bytecode(cached: bool, prefix: Path) -> None:
    """How the processes measured find their modules' bytecode (they inherit this environment):
    from a cache filled by the first round, kept out of the checkouts (PYTHONPYCACHEPREFIX), as a
    user's Python writes one beside the sources; or compiled at every start."""
    if cached:
        os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
        os.environ["PYTHONPYCACHEPREFIX"] = str(prefix)
    else:
        os.environ["PYTHONDONTWRITEBYTECODE"] = "1"
        os.environ.pop("PYTHONPYCACHEPREFIX", None)


def summarise(
    starts: dict[str, list[float]], runs: dict[str, list[Run]], labels: list[str]
) -> dict[str, Any]:
    med = statistics.median
    out: dict[str, Any] = {"trees": labels, "first_answer_s": {}, "commands": {}, "ratios": {}}
    for key, values in starts.items():
        out["first_answer_s"][key] = {"median": med(values), "min": min(values), "max": max(values)}
    for key, rs in runs.items():
        out["commands"][key] = {
            "wall_s": med(r.wall_s for r in rs),
            "cpu_s": med(r.cpu_s for r in rs),
            "imports_s": med(r.imports_s for r in rs),
        }
    for label in labels:
        noop = starts.get(f"{label}|start|noop")
        for name in ("gateway", "gateway_norec"):
            gw = starts.get(f"{label}|start|{name}")
            if noop and gw:  # per round, then the median: both met the same load
                per_round = [g / n for g, n in zip(gw, noop, strict=True)]
                out["ratios"][f"{label}|{name}/noop"] = {
                    "median": med(per_round), "min": min(per_round), "max": max(per_round),
                }  # fmt: skip
    return out


def tables(r: dict[str, Any]) -> str:
    lines = [
        "| first answered request | " + " | ".join(r["trees"]) + " |",
        "|---|" + "---|" * len(r["trees"]),
    ]
    for name in ("noop", "gateway", "gateway_norec"):
        cells = []
        for label in r["trees"]:
            s = r["first_answer_s"].get(f"{label}|start|{name}")
            ratio = r["ratios"].get(f"{label}|{name}/noop")
            cell = "—" if s is None else f"{s['median']:.2f} s"
            if ratio is not None:
                cell += f" ({ratio['median']:.2f}× no-op, {ratio['min']:.2f}–{ratio['max']:.2f})"
            cells.append(cell)
        lines.append(f"| {_START_LABELS[name]} | " + " | ".join(cells) + " |")
    met = [
        f"{label}: {'met' if v['median'] <= TARGET_RATIO else 'NOT met'} ({v['median']:.2f}×)"
        for key, v in r["ratios"].items()
        for label in [key.split("|")[0]]
        if key.endswith("|gateway/noop")
    ]
    lines.append("")
    lines.append(f"target: gateway ≤ {TARGET_RATIO}× no-op mitmdump — " + "; ".join(met))
    lines += [
        "",
        "| command (medians) | "
        + " | ".join(f"{t}: wall / CPU / imports" for t in r["trees"])
        + " |",
        "|---|" + "---|" * len(r["trees"]),
    ]
    names = sorted({k.split("|", 2)[2] for k in r["commands"]}, key=_COMMAND_ORDER.index)
    for name in names:
        cells = []
        for label in r["trees"]:
            c = r["commands"].get(f"{label}|cmd|{name}")
            cells.append(
                "—" if c is None else
                f"{c['wall_s'] * 1e3:.0f} / {c['cpu_s'] * 1e3:.0f} / {c['imports_s'] * 1e3:.0f} ms"
            )  # fmt: skip
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


_START_LABELS = {
    "noop": "mitmdump -s a no-op addon",
    "gateway": "mitmdump -s addons/gateway.py, recording",
    "gateway_norec": "the same, recorder_db= (no recording)",
}
_COMMAND_ORDER = [
    "python",
    "recorder --help",
    "recorder query (closed db)",
    "recorder query (gateway running)",
    "import addons.gateway",
]

if __name__ == "__main__":
    main()
