"""Starting the writer's child process (``python -m recorder.store.writer_process``), and the
one started early, before its settings are known (:func:`prestart`).

Only the standard library: the project's start hook (:mod:`addons.deferred_listen`, run when the
interpreter starts as mitmdump/mitmweb loading the gateway) starts the child before mitmproxy
has loaded anything, and :mod:`addons.prestart` does where that hook is not installed.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[2]  # the directory holding the recorder package

DEFAULT_DB = "traffic.duckdb"  # the recorder_db option's default
OPEN_FLAG = "--open"  # the child's argument: the database it opens before its settings come
# How long a child that was never sent its settings waits for it to end (it then closes, and
# removes, the database it opened early: see writer_process).
DISCARD_WAIT = 10.0

# A child started before its settings were known (see prestart), waiting for them.
_prestarted: subprocess.Popen[bytes] | None = None


def prestart(db: str | None = None) -> None:
    """Start a writer process now, before the recorder's settings are known: mitmproxy loads
    itself and the gateway's modules and only then configures the Recorder, and the child's
    own start (its interpreter, DuckDB, opening and migrating ``db``: ~0.3 s) overlaps those
    instead of following them. ``db`` is the database the command line names, a guess the
    settings confirm or correct (a config file may name another). The next
    :class:`~recorder.store.writer_process.WriterProcess` to start takes it and sends it its
    settings. Harmless if none does: :func:`discard_prestarted` (also at the end of the
    process) ends it, and a child that gets no settings closes what it opened early, removes
    the file if it created it, and exits without a word."""
    global _prestarted
    if _prestarted is None or _prestarted.poll() is not None:
        _prestarted = spawn(db)


def prestart_for(argv: Sequence[str]) -> None:
    """:func:`prestart` for the mitmdump/mitmweb command line ``argv`` that loads the gateway,
    unless it turns recording off (``--set recorder_db=``)."""
    db = database_named(argv)
    if db:
        prestart(db)


def database_named(argv: Sequence[str]) -> str:
    """The ``recorder_db`` the command line sets (the last one), else the default."""
    db = DEFAULT_DB
    for arg in argv[1:]:
        for prefix in ("recorder_db=", "--set=recorder_db="):
            if arg.startswith(prefix):
                db = arg[len(prefix) :]
    return db


def discard_prestarted() -> None:
    """End the prestarted child, if any (nothing will record to it): its stdin is closed and it
    is waited for, so that a database it created early is gone when this returns."""
    global _prestarted
    proc, _prestarted = _prestarted, None
    if proc is None:
        return
    if proc.stdin is not None:
        with contextlib.suppress(OSError):
            proc.stdin.close()
    try:
        proc.wait(DISCARD_WAIT)
    except subprocess.TimeoutExpired:
        pass
    reap(proc)


atexit.register(discard_prestarted)  # a start refused after it: the early database goes too


def take_prestarted() -> subprocess.Popen[bytes]:
    """The prestarted child if it still runs, else a new one."""
    global _prestarted
    proc, _prestarted = _prestarted, None
    return proc if proc is not None and proc.poll() is None else spawn()


def spawn(db: str | None = None) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_ROOT), env.get("PYTHONPATH")]))
    early = [OPEN_FLAG, db] if db else []
    return subprocess.Popen(
        [sys.executable, "-m", "recorder.store.writer_process", *early],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, cwd=os.getcwd(),
    )  # fmt: skip


def reap(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    for pipe in (proc.stdin, proc.stdout):
        if pipe is not None:
            with contextlib.suppress(OSError):
                pipe.close()


def remove_database(db: str) -> None:
    """Remove the database file ``db`` and its WAL (a recording never made)."""
    for path in (Path(db), Path(f"{db}.wal")):
        with contextlib.suppress(OSError):
            path.unlink()
