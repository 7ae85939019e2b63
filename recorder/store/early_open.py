"""The database a prestarted writer child opens before its settings come.

A child started early (:func:`recorder.store.spawn.prestart`) is told the database the
command line names; it opens and migrates it while mitmproxy and the gateway still load, so
that the gateway need not wait for it once it is configured. That name is a guess: the
settings, sent once the gateway is configured, decide. When they name another file (a config
file chose it), or never come (the start was refused, or recording turned off), the early
database is closed, and removed if the child created it: a refused start leaves no file behind.
"""

from __future__ import annotations

import os
from typing import Any

from recorder.store.results import StoreError
from recorder.store.spawn import remove_database
from recorder.store.writer import StoreWriter

# How long a child holds an early database that nobody claims: a gateway whose start stalls
# must not keep the file locked from everyone else (its settings, should they still come, open
# it again then).
HOLD_SECONDS = 60.0


class EarlyOpen:
    """A StoreWriter opened (not started) on the command line's database, with whether this
    process created the file."""

    def __init__(self, writer: StoreWriter, created: bool) -> None:
        self.writer: StoreWriter | None = writer
        self.created = created

    @classmethod
    def open(cls, db: str, **writer_args: Any) -> EarlyOpen | None:
        """``db`` opened and migrated; None when that fails (the settings' open, made again
        then, reports why: the guess may be wrong, or the file free by then)."""
        created = not os.path.lexists(db)
        writer = StoreWriter(db, **writer_args)
        try:
            writer.open()
        except (StoreError, OSError):
            if created:
                remove_database(db)
            return None
        return cls(writer, created)

    def take(self, db: str, memory_limit: str) -> StoreWriter | None:
        """The early writer if the settings name its file (and its memory limit), else None
        (and it is released)."""
        writer = self.writer
        if writer is None:
            return None
        if _same_file(writer.path, db) and writer.memory_limit == memory_limit:
            self.writer = None
            writer.path = db  # as the settings spell it, in what the writer says
            return writer
        self.release()
        return None

    def release(self) -> None:
        """Close the early database; remove it if this process created it (nothing was
        recorded into it)."""
        writer, self.writer = self.writer, None
        if writer is None:
            return
        writer.close()
        if self.created:
            remove_database(writer.path)


def _same_file(a: str, b: str) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)
