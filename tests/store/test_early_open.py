"""A prestarted writer child opens the command line's database before its settings come: the
settings confirm it (kept, nothing opened twice) or correct it (another file); a start that
never sends them leaves no file it created behind, and never touches one it did not."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from recorder.store import load_exchanges, spawn
from recorder.store.early_open import EarlyOpen
from recorder.store.writer_process import SETTINGS, WriterProcess, frame
from tests.store import samples

REPO = Path(__file__).resolve().parents[2]


def _child(db: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "recorder.store.writer_process", spawn.OPEN_FLAG, str(db)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO,
    )  # fmt: skip


def _settings(db: Path) -> bytes:
    body = {"path": str(db), "flush_interval": 0.05, "replayed": 0, "memory_limit": "128MB"}
    return frame(SETTINGS, json.dumps(body).encode())


def _until_open(pid: int, db: Path) -> None:
    """Wait until process ``pid`` has ``db`` open. Looked up in /proc, not by opening the file
    here: that would take its lock at the moment the child tries to."""
    fds = Path(f"/proc/{pid}/fd")
    if not fds.exists():
        pytest.skip("needs /proc")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if any(os.readlink(fd) == os.path.realpath(db) for fd in fds.iterdir()):
                return
        time.sleep(0.02)
    raise AssertionError(f"{db} was never opened")


def _prestarted_pid() -> int:
    assert spawn._prestarted is not None
    return spawn._prestarted.pid


@pytest.mark.parametrize(
    ("argv", "db"),
    [
        (["mitmdump", "-s", "addons/gateway.py"], "traffic.duckdb"),
        (
            ["mitmdump", "--set", "recorder_db=a.duckdb", "--set", "recorder_db=b.duckdb"],
            "b.duckdb",
        ),
        (["mitmweb", "--set=recorder_db=/x/y.duckdb"], "/x/y.duckdb"),
        (["mitmdump", "--set", "recorder_db="], ""),
        (["mitmdump", "--set", "recorder_dbx=a"], "traffic.duckdb"),
    ],
)
def test_the_database_the_command_line_names(argv: list[str], db: str) -> None:
    assert spawn.database_named(argv) == db


def test_a_child_never_given_its_settings_removes_the_database_it_created(tmp_path):
    db = tmp_path / "early.duckdb"
    child = _child(db)
    _until_open(child.pid, db)
    out, err = child.communicate(b"", timeout=60)  # the gateway's start was refused
    assert (child.returncode, out, err) == (0, b"", b"")
    assert not db.exists() and not Path(f"{db}.wal").exists()


def test_a_database_that_was_there_is_kept_and_untouched(tmp_path):
    db = tmp_path / "kept.duckdb"
    w = WriterProcess(db).start()
    w.put(samples.streaming(id="before"))
    assert w.flush()
    w.close()
    child = _child(db)
    _until_open(child.pid, db)
    child.communicate(b"", timeout=60)
    assert child.returncode == 0
    assert [ex.id for ex in load_exchanges(db)] == ["before"]


def test_settings_naming_the_same_file_take_the_early_one(tmp_path):
    db = tmp_path / "same.duckdb"
    spawn.prestart(str(db))
    _until_open(_prestarted_pid(), db)
    w = WriterProcess(db).start()  # takes the prestarted child: its settings name the file
    try:
        w.put(samples.streaming(id="s"))
        assert w.flush() and w.written == 1
    finally:
        w.close()
    assert [ex.id for ex in load_exchanges(db)] == ["s"]


def test_settings_naming_another_file_release_the_early_one(tmp_path):
    guessed, chosen = tmp_path / "guessed.duckdb", tmp_path / "chosen.duckdb"
    spawn.prestart(str(guessed))
    _until_open(_prestarted_pid(), guessed)
    w = WriterProcess(chosen).start()
    try:
        assert not guessed.exists()  # created early, released before the real one opened
        w.put(samples.streaming(id="s"))
        assert w.flush()
    finally:
        w.close()
    assert [ex.id for ex in load_exchanges(chosen)] == ["s"]


def test_discarding_a_prestarted_child_waits_until_its_database_is_gone(tmp_path):
    db = tmp_path / "discarded.duckdb"
    spawn.prestart(str(db))
    _until_open(_prestarted_pid(), db)
    spawn.discard_prestarted()
    assert not db.exists() and not Path(f"{db}.wal").exists()


def test_a_guess_that_cannot_be_opened_is_left_to_the_settings(tmp_path):
    assert EarlyOpen.open(str(tmp_path / "no" / "such" / "dir.duckdb")) is None
    not_a_db = tmp_path / "notes.txt"
    not_a_db.write_text("not a database\n")
    assert EarlyOpen.open(str(not_a_db)) is None
    assert not_a_db.read_text() == "not a database\n"
