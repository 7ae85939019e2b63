"""CPU time and peak memory of a process (and its descendants) from ``/proc``; Linux only.

* CPU time: ``utime + stime`` (fields 14 and 15 of ``/proc/<pid>/stat``, in clock ticks).
  Sampled before and after a load phase, the difference divided by the requests served is the
  proxy's CPU cost per request, independent of how busy the rest of the machine is.
  The root process's main thread is also sampled alone (``/proc/<pid>/task/<pid>/stat``).
* Peak RSS: ``VmHWM`` of ``/proc/<pid>/status`` (the high-water mark since the process started).

Descendants are included because some proxies (LiteLLM's CLI, uvicorn with workers) serve from a
child process; for a tree the peak is the sum of the members' peaks (an upper bound).
No dependencies beyond the standard library.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
TICK = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str]:
    """Fields after the ``(comm)`` one, which may itself hold spaces and parentheses."""
    raw = (PROC / str(pid) / "stat").read_text()
    return raw[raw.rindex(")") + 2 :].split()


def _cpu(fields: list[str]) -> float:
    # fields[0] is field 3 (state): utime = field 14 = fields[11], stime = fields[12]
    return (int(fields[11]) + int(fields[12])) / TICK


def cpu_seconds_one(pid: int) -> float:
    return _cpu(_stat_fields(pid))


def main_thread_cpu_seconds(pid: int) -> float:
    """CPU of the process's first thread only: for mitmdump and uvicorn, the event loop, whose
    saturation is what caps one proxy process (other threads, e.g. the recorder's writer,
    can use the second core)."""
    raw = (PROC / str(pid) / "task" / str(pid) / "stat").read_text()
    return _cpu(raw[raw.rindex(")") + 2 :].split())


def peak_rss_kib_one(pid: int) -> int:
    for line in (PROC / str(pid) / "status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (by parent pid), alive at the time of the call."""
    children: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int(_stat_fields(int(entry.name))[1])
        except (OSError, ValueError, IndexError):
            continue  # exited while we looked
        children.setdefault(ppid, []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo.extend(children.get(p, []))
    return tree


@dataclass(frozen=True, slots=True)
class Sample:
    cpu_s: float  # user + system seconds of the whole tree
    loop_cpu_s: float  # of the root process's main thread
    peak_rss_kib: int  # sum of VmHWM over the tree


def sample(pid: int) -> Sample:
    cpu, rss = 0.0, 0
    loop = main_thread_cpu_seconds(pid)
    for p in descendants(pid):
        try:
            cpu += cpu_seconds_one(p)
            rss += peak_rss_kib_one(p)
        except OSError:
            continue  # a child exited between listing and reading
    return Sample(cpu, loop, rss)
