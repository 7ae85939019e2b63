"""The live gateway for the reliability suite: ``mitmdump -s addons/gateway.py`` recording into a
DuckDB file in the test's directory, plus helpers to read what it recorded and its memory."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from fakes.procs import BIN, REPO, Service, free_port, start_service

GATEWAY_ADDON = REPO / "addons" / "gateway.py"
# Lines in the gateway's log that mean something went wrong inside it (a hook that raised is
# logged by mitmproxy with its traceback; the gateway logs its own catches the same way).
CRASH_MARKERS = ("Traceback (most recent call last)", "Addon error", "addon error")


@dataclass
class Gateway:
    svc: Service
    db: Path

    @property
    def url(self) -> str:
        return self.svc.url

    def log(self) -> str:
        try:
            return self.svc.log.read_text(errors="replace")
        except OSError:
            return ""

    def crashes(self) -> list[str]:
        """Log lines that mark an exception inside the gateway, with some context."""
        lines = self.log().splitlines()
        return [
            "\n".join(lines[max(0, i - 2) : i + 12])
            for i, line in enumerate(lines)
            if any(m in line for m in CRASH_MARKERS)
        ]

    def pids(self) -> list[int]:
        """The gateway and its children (the recorder's writer process)."""
        out = [self.svc.proc.pid]
        try:
            kids = subprocess.run(
                ["pgrep", "-P", str(self.svc.proc.pid)], capture_output=True, text=True, check=False
            ).stdout.split()
        except OSError:
            kids = []
        return out + [int(k) for k in kids]

    def rss_mb(self) -> tuple[float, float]:
        """Resident memory, MB, of the gateway process and of its children (the recorder's
        writer process)."""
        main, *kids = self.pids()
        return rss_mb(main), sum(rss_mb(pid) for pid in kids)

    def stop(self) -> None:
        self.svc.stop()


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def start(
    log_dir: Path, sets: Sequence[str], db: Path | None = None, name: str = "gateway"
) -> Gateway:
    """A recording gateway, ready (its addon loaded: ``HEAD /`` answers)."""
    db = db or log_dir / "traffic.duckdb"
    port = free_port()
    argv: list[str | os.PathLike[str]] = [
        BIN / "mitmdump", "-s", GATEWAY_ADDON, "-p", str(port), "--listen-host", "127.0.0.1",
        "--set", f"recorder_db={db}",
    ]  # fmt: skip
    for s in sets:
        argv += ["--set", s]
    svc = start_service(name, argv, port=port, log_dir=log_dir)
    deadline = time.monotonic() + 60
    while True:  # mitmdump listens before its scripts are loaded
        try:
            if httpx.head(svc.url, timeout=10.0).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or not svc.alive():
            svc.stop()
            raise RuntimeError(f"the gateway did not get ready:\n{svc.log_tail()}")
        time.sleep(0.1)
    return Gateway(svc, db)


def query(db: Path, sql: str) -> list[dict[str, Any]]:
    """``recorder query`` on ``db``: answered by the running gateway, or from the file."""
    out = subprocess.run(
        [str(BIN / "recorder"), "query", sql, "--db", str(db), "--format", "json"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    if out.returncode != 0:
        raise RuntimeError(f"recorder query failed: {out.stderr}")
    rows: list[dict[str, Any]] = json.loads(out.stdout)
    return rows


def wait_count(db: Path, sql: str, n: int, timeout: float = 30.0) -> int:
    """``select count(*) ...`` until it reaches ``n`` (the writer commits in batches)."""
    deadline = time.monotonic() + timeout
    while True:
        got = int(next(iter(query(db, sql)[0].values())))
        if got >= n or time.monotonic() > deadline:
            return got
        time.sleep(0.2)
