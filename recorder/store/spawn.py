"""Starting the writer's child process (``python -m recorder.store.writer_process``), and the
one started early, before its settings are known (:func:`prestart`).

Only the standard library: :mod:`addons.prestart` starts the child first thing while mitmproxy
loads the gateway, before the modules that talk to it (exchanges, their hand-off) have loaded.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[2]  # the directory holding the recorder package

# A child started before its settings were known (see prestart), waiting for them.
_prestarted: subprocess.Popen[bytes] | None = None


def prestart() -> None:
    """Start a writer process now, before the recorder's settings are known: mitmproxy loads
    the gateway's modules and then configures it, and the child's own start (its interpreter,
    DuckDB: ~0.2 s) overlaps the first instead of following the second. The next
    :class:`~recorder.store.writer_process.WriterProcess` to start takes it and sends it its
    settings. Harmless if none does: :func:`discard_prestarted`, or the end of the process
    closes its stdin, and a child that gets no settings exits without a word."""
    global _prestarted
    if _prestarted is None or _prestarted.poll() is not None:
        _prestarted = spawn()


def discard_prestarted() -> None:
    """Stop the prestarted child, if any (nothing will record: it holds nothing yet)."""
    global _prestarted
    proc, _prestarted = _prestarted, None
    if proc is not None:
        reap(proc)


def take_prestarted() -> subprocess.Popen[bytes]:
    """The prestarted child if it still runs, else a new one."""
    global _prestarted
    proc, _prestarted = _prestarted, None
    return proc if proc is not None and proc.poll() is None else spawn()


def spawn() -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_ROOT), env.get("PYTHONPATH")]))
    return subprocess.Popen(
        [sys.executable, "-m", "recorder.store.writer_process"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, cwd=os.getcwd(),
    )  # fmt: skip


def reap(proc: subprocess.Popen[bytes]) -> None:
    proc.kill()
    proc.wait()
    for pipe in (proc.stdin, proc.stdout):
        if pipe is not None:
            with contextlib.suppress(OSError):
                pipe.close()
