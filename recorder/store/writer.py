"""One background thread that owns the DuckDB file and appends exchanges in batches.

Why this shape (measured, tech.md §3–4): one INSERT per SSE event on the proxy's event loop cut
SSE throughput 12x; ``executemany`` costs as much per row as separate statements; the Appender on
one long-lived connection does ~100k+ rows/s. So callers only ``put()`` an Exchange on a queue
(a few hundred nanoseconds); the thread wakes at the first item, gathers whatever arrives during
``flush_interval`` (default 50 ms), converts everything to rows and appends them to all tables
inside ONE transaction. A batch is all-or-nothing, so a crash never leaves an exchange without
its events. Committed batches survive ``kill -9`` (DuckDB's WAL); at most the last interval is
lost.

No single exchange can stop the writer: whatever the gateway accepted, it stores. An exchange
whose rows cannot be built is stored as a *failed row* (:func:`~recorder.store.rows.failed_rows`:
what is known, bodies as raw bytes, the reason in ``error`` and ``extra.unstorable``; counted in
``unstorable``). A batch DuckDB refuses is retried with every JSON body demoted to its raw column
(DuckDB's JSON parser is stricter than Python's), then one exchange at a time, each refused one
as its failed row, and one that cannot be stored even so is skipped and counted (``skipped``).
Only a failure of the database itself (I/O, a fatal or internal DuckDB error, :data:`FATAL`;
a commit DuckDB cannot make, or memory it lacks even at ``memory_ceiling``,
:class:`DatabaseFailure`) stops the writer, and no exchange is counted as skipped for it: it
keeps the error in ``failed`` and calls ``on_error``; every later ``put()`` raises
:class:`StoreError`. The Recorder addon turns that into loud log lines and 503 answers: traffic
is never let through unrecorded while the operator believes it is being taped.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import queue
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from recorder.exchange import Exchange
from recorder.store import rows as rowmod
from recorder.store.migrations import migrate
from recorder.store.results import QueryResult, StoreError, run_query
from recorder.store.sessions import session_id_for

log = logging.getLogger(__name__)

DEFAULT_FLUSH_INTERVAL = 0.05


class DatabaseFailure(Exception):
    """DuckDB could not commit rows it took (out of memory even at the ceiling): the database
    failed, not the rows. The writer stops (see :data:`FATAL`); the writer process is restarted
    and sent the exchanges again."""


# Errors of the database, not of the rows: no other row would fare better.
FATAL = (duckdb.IOException, duckdb.FatalException, duckdb.InternalException)
_NOT_THE_ROWS = (*FATAL, DatabaseFailure)
_APPEND_SLICE = 2000  # rows per append_rows call: about 1 ms of holding the GIL
# A batch ends early past this many bytes of bodies and stream: its rows are all in memory at
# once, and a few large exchanges are plenty for one transaction.
BATCH_BYTES = 64 << 20
_MEMORY_SETTINGS = (
    "SET allocator_background_threads = true",
    # DuckDB buffers appended row groups up to a fifth of the machine's memory before it
    # writes them (1.2 GB here: the writer's peak with large exchanges).
    "SET write_buffer_row_group_memory_limit = '64MB'",
)
# Why the writer checkpoints by itself, with its memory limit lifted (measured, DuckDB 2.0):
# a string longer than a few KB lives in overflow blocks, and a checkpoint that rewrites a row
# group pins those of the whole row group at once. What a checkpoint needs therefore grows with
# the bodies recorded since the row group began (122,880 rows), whatever memory_limit says:
# 128 MB were exhausted by six 20 MB requests, or by a few hundred agent requests of 200 KB.
# Bodies are therefore stored in pieces shorter than that (rows.cut_bodies, migration m005),
# which a checkpoint writes and evicts block by block; what can still be long is a stream's
# event or raw chunk, a tool call's arguments, headers. A checkpoint that runs out of memory
# invalidates the database (and a commit's automatic one failed the commit while reporting a
# rollback error, which read as a refused row: every later exchange was "NOT RECORDED"). So
# commits leave checkpointing alone; after a batch whose WAL passed CHECKPOINT_BYTES the
# writer checkpoints with the limit lifted to the ceiling, and sets it back (DuckDB then
# evicts down to it: the memory returns).
CHECKPOINT_BYTES = 16 << 20  # DuckDB's own default threshold
# What a checkpoint pins: the long strings of the last row group of each table (the only one an
# append-only table rewrites). The writer keeps count of them (_Pinned) and lifts the limit by
# about that much, no more: a lifted limit is memory DuckDB fills with cached blocks (lifted to
# the ceiling, 2,000 agent requests of 180 KB took the writer from 90 MB to 880 MB; under a
# bounded lift, 240 MB).
ROW_GROUP_ROWS = 122_880  # DuckDB's
LONG_STRING = 4096  # bytes from which DuckDB keeps a string in overflow blocks (about)
_LIFT_SLACK = 64 << 20
# After a batch this large the writer gives back what it no longer needs (_give_back): DuckDB's
# cached table blocks, the C heap's free pages. Measured with twenty 24 MB exchanges: the writer
# stayed 30-40 MB above its memory before them, DuckDB's cache of the blocks it had just written.
TRIM_BYTES = 8 << 20
# What DuckDB may keep cached while it sheds its cache: a block or so of room, so that the
# lowered limit is not short of what it holds pinned (a query that would start in that moment
# waits: StoreWriter.query).
_SHED_SLACK = 1 << 20
_TABLES = {
    "exchange_rows": rowmod.EXCHANGE_COLUMNS,  # the view ``exchanges`` adds the body pieces
    "body_pieces": rowmod.PIECE_COLUMNS,
    "events": rowmod.EVENT_COLUMNS,
    "chunks": rowmod.CHUNK_COLUMNS,
    "tool_calls": rowmod.TOOL_CALL_COLUMNS,
    "backend_sessions": rowmod.BACKEND_SESSION_COLUMNS,
}


@dataclass(slots=True)
class _Barrier:
    done: threading.Event


class _Stop:
    pass


@dataclass(slots=True)
class _Skip:
    """A frame the writer process could not even read: counted in order with the exchanges."""

    reason: str


class StoreWriter:
    """Owns one read-write connection; ``put`` from any thread, ``query`` from any thread."""

    def __init__(
        self,
        path: str | Path,
        *,
        flush_interval: float = DEFAULT_FLUSH_INTERVAL,
        on_error: Callable[[BaseException], None] | None = None,
        threads: int | None = None,
        on_commit: Callable[[int], None] | None = None,
        memory_limit: str | None = None,
        memory_ceiling: str | None = None,
    ) -> None:
        self.path = str(path)
        self.threads = threads  # DuckDB worker threads; None: DuckDB's default (one per core)
        # DuckDB's memory_limit ("128MB"); None: DuckDB's default (80% of the machine's RAM),
        # up to which its buffer pool keeps every block it wrote (see writer_process).
        self.memory_limit = memory_limit
        # What the limit is lifted to for large batches and checkpoints (see CHECKPOINT_BYTES);
        # None: half the machine's memory. Beyond it, the database has failed.
        self.memory_ceiling = memory_ceiling or default_ceiling()
        self._lifted = False
        self._pinned: _Pinned | None = None  # known once the writer thread measured it
        self.flush_interval = flush_interval
        self.on_error = on_error
        self.failed: BaseException | None = None
        self.written = 0  # exchanges committed (failed rows included)
        self.unstorable = 0  # of those, stored as failed rows
        self.skipped = 0  # exchanges (or unreadable frames) that could not be stored at all
        # Called on the writer thread after each batch with the number of items put so far that
        # are settled (written or skipped), in put order: the writer process acknowledges with it.
        self.on_commit = on_commit
        self._q: queue.SimpleQueue[Exchange | _Skip | _Barrier | _Stop] = queue.SimpleQueue()
        self._replayed: set[str] = set()  # ids that an earlier writer may have committed
        # Bytes of bodies and streams put and not yet written (see :meth:`wait_below`).
        self._queued_bytes = 0
        self._queued_lock = threading.Condition()
        self._con: duckdb.DuckDBPyConnection | None = None
        self._cursor_lock = threading.Lock()
        # Queries running now (query() from other threads): the cache is not shed under them,
        # and one does not start while it is (the limit is down for that moment).
        self._queries = 0
        self._shedding = threading.Lock()
        self._appenders: dict[str, Any] = {}  # table -> Appender on the writer thread's cursor
        self._thread: threading.Thread | None = None

    def start(self) -> StoreWriter:
        if self._con is None:
            self.open()
        self._thread = threading.Thread(target=self._loop, name="tapegate-writer", daemon=True)
        self._thread.start()
        return self

    def open(self) -> None:
        """Open and migrate the database, without the writer thread (:meth:`start` starts it);
        :meth:`close` closes it again. StoreError when it cannot be opened."""
        try:
            self._con = duckdb.connect(self.path)
        except duckdb.IOException as e:
            raise StoreError(open_failure(self.path, str(e))) from e
        if self.threads is not None:
            self._con.execute(f"SET threads = {int(self.threads)}")
        # DuckDB's allocator keeps the pages of freed memory (measured: twenty 30 MB exchanges
        # left the writer at 1.3 GB, for good); a background thread gives them back within
        # seconds, so that large exchanges cost memory only while they are written.
        for setting in _MEMORY_SETTINGS:
            with contextlib.suppress(duckdb.Error):  # a DuckDB that lacks one: its default
                self._con.execute(setting)
        try:
            # The writer checkpoints by itself (see _checkpoint): a commit never does. Not
            # optional, unlike the settings above: a commit's checkpoint can invalidate the file.
            self._con.execute("SET checkpoint_threshold = '1TB'")
            # A WAL left by a writer that died was replayed into memory just now (under
            # DuckDB's default limit): write it out before the limit comes down.
            self._checkpoint(self._con, force=False)
            self._set_limit(self._con, self.memory_limit)
            self._lifted = False
        except duckdb.Error as e:
            self._con.close()
            self._con = None
            raise StoreError(f"cannot open {self.path} for recording: {_reason(e)}") from e
        migrate(self._con)

    # ------------------------------------------------------------------ caller side

    def put(self, ex: Exchange, replayed: bool = False) -> None:
        """Enqueue; never blocks, never touches DuckDB. Raises StoreError once writing failed.
        ``replayed``: sent again after an earlier writer died; skipped if that one stored it."""
        if self.failed is not None:
            raise StoreError(f"recording to {self.path} failed: {self.failed}")
        if replayed:
            self._replayed.add(ex.id)
        with self._queued_lock:
            self._queued_bytes += _bulk(ex)
        self._q.put(ex)

    def wait_below(self, limit: int, timeout: float = 1.0) -> None:
        """Wait while more than ``limit`` bytes of put exchanges wait to be written: a reader of
        a pipe (the writer process) stops reading, so that what is behind waits there, packed,
        rather than here, unpacked (the gateway then refuses new traffic: see WriterProcess)."""
        with self._queued_lock:
            while self._queued_bytes > limit and self.failed is None:
                self._queued_lock.wait(timeout)

    def skip(self, reason: str) -> None:
        """Count an item that never became an Exchange, in order with the others."""
        self._q.put(_Skip(reason))

    @property
    def settled(self) -> int:
        return self.written + self.skipped

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until everything put so far is committed (or the writer failed)."""
        if self._thread is None or not self._thread.is_alive():
            return self.failed is None
        barrier = _Barrier(threading.Event())
        self._q.put(barrier)
        return barrier.done.wait(timeout) and self.failed is None

    def close(self, timeout: float = 30.0) -> None:
        """Flush, stop the thread, close the file (a clean shutdown loses nothing)."""
        if self._thread is not None and self._thread.is_alive():
            self._q.put(_Stop())
            self._thread.join(timeout)
        if self._con is not None:
            if self.failed is None:
                # DuckDB's checkpoint at close would run under the plain limit: run it here
                # (should it fail, the WAL keeps everything for the next opening).
                with contextlib.suppress(duckdb.Error):
                    self._checkpoint(self._con, force=True)
            self._con.close()
            self._con = None

    def query(self, sql: str, params: list[Any] | None = None) -> QueryResult:
        """Run a read query on a fresh cursor of the writer's connection (any thread)."""
        if self._con is None:
            raise StoreError(f"{self.path} is closed")
        with self._shedding:
            self._queries += 1
        try:
            with self._cursor_lock:  # creating a cursor touches the shared connection object
                cur = self._con.cursor()
            try:
                return run_query(cur, sql, params)
            finally:
                cur.close()
        finally:
            with self._shedding:
                self._queries -= 1

    # ------------------------------------------------------------------ writer thread

    def _loop(self) -> None:
        assert self._con is not None
        cur = self._con.cursor()
        # Measured here, not in start(): its queries (~35 ms) need not delay whoever waits for
        # start() to hold the file (the gateway's start); the first batch comes after them.
        try:
            self._pinned = _Pinned.measure(cur)
        except duckdb.Error as e:  # unknown: checkpoints lift the limit to the ceiling
            log.warning(f"tapegate: the writer lifts its memory limit fully: {_reason(e)}")
        stop = False
        while not stop:
            batch, barriers, size, stop = self._gather()
            if batch and self.failed is None:
                self._write(cur, batch)
            # Nothing of the batch may outlive it: the thread now waits for the next one,
            # maybe for hours, and a large exchange held meanwhile is memory never returned.
            batch.clear()
            with self._queued_lock:
                self._queued_bytes -= size
                self._queued_lock.notify_all()
            if size > TRIM_BYTES and self.failed is None:
                self._give_back(cur)
            for b in barriers:
                b.done.set()
        cur.close()

    def _gather(self) -> tuple[list[Exchange | _Skip], list[_Barrier], int, bool]:
        """The next batch: what arrives during ``flush_interval`` after the first item, up to
        BATCH_BYTES; (batch, barriers, its bytes, whether a Stop came)."""
        batch: list[Exchange | _Skip] = []
        barriers: list[_Barrier] = []
        stop = False
        item = self._q.get()
        deadline = time.monotonic() + self.flush_interval
        size = 0
        while True:
            match item:
                case _Stop():
                    stop = True
                case _Barrier():
                    barriers.append(item)
                case _:
                    batch.append(item)
                    size += _bulk(item)
            if size > BATCH_BYTES:
                break  # write now; the rest waits for the next batch
            if stop or barriers:
                more, size = self._drain(barriers, size)
                batch += more
                break  # drain what is already queued, then write now
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                item = self._q.get(timeout=remaining)
            except queue.Empty:
                break
        return batch, barriers, size, stop

    def _drain(self, barriers: list[_Barrier], size: int) -> tuple[list[Exchange | _Skip], int]:
        out: list[Exchange | _Skip] = []
        while size <= BATCH_BYTES:
            try:
                item = self._q.get_nowait()
            except queue.Empty:
                return out, size
            if isinstance(item, _Barrier):
                barriers.append(item)
            elif isinstance(item, Exchange | _Skip):
                out.append(item)
                size += _bulk(item)
            else:
                self._q.put(item)  # a Stop: handle it on the next turn
                return out, size
        return out, size

    def _write(self, cur: duckdb.DuckDBPyConnection, batch: list[Exchange | _Skip]) -> None:
        exchanges: list[Exchange] = []
        for item in batch:
            if isinstance(item, _Skip):
                self._skip(item.reason)
            else:
                exchanges.append(item)
        try:
            if self._replayed:
                exchanges = self._not_yet_stored(cur, exchanges)
            converted = [self._convert(ex) for ex in exchanges]
            self._check_long_json(cur, converted)
            try:
                self._append(cur, converted)
            except _NOT_THE_ROWS:
                raise
            except Exception:  # noqa: BLE001 - DuckDB refused a row: find which, store the rest
                for r in converted:
                    r.exchange = rowmod.demote_json_bodies(r.exchange)
                try:
                    self._append(cur, converted)
                except _NOT_THE_ROWS:
                    raise
                except Exception:  # noqa: BLE001
                    for ex, r in zip(exchanges, converted, strict=True):
                        self._append_one(cur, ex, r)
                    converted = []
            self.written += len(converted)
            self._checkpoint(cur, force=False)
        except Exception as e:  # the database failed: the thread must report, not die silently
            self.failed = e
            if self.on_error is not None:
                self.on_error(e)
            return
        finally:
            self._lower(cur)
        if self.on_commit is not None:
            self.on_commit(self.settled)

    def _not_yet_stored(
        self, cur: duckdb.DuckDBPyConnection, exchanges: list[Exchange]
    ) -> list[Exchange]:
        ids = [ex.id for ex in exchanges if ex.id in self._replayed]
        if not ids:
            return exchanges
        self._replayed.difference_update(ids)
        marks = ", ".join("?" * len(ids))
        sql = f"SELECT DISTINCT id FROM exchange_rows WHERE id IN ({marks})"  # noqa: S608
        stored = {row[0] for row in cur.execute(sql, ids).fetchall()}
        self.written += len(stored)  # committed by the writer before: settled all the same
        return [ex for ex in exchanges if ex.id not in stored]

    def _convert(self, ex: Exchange) -> rowmod.Rows:
        """The exchange's rows, or its failed row when they cannot be built."""
        # The codecs (through the registry) load with the first exchange, not with the writer:
        # the gateway waits for the writer process to open its file, never for them.
        from recorder.summary import settle

        try:  # here, off the proxy's thread: both parse what the proxy taped
            settle(ex)
            ex.session_id = session_id_for(ex)
            return rowmod.to_rows(ex)
        except Exception as e:  # noqa: BLE001 - no exchange may stop the writer
            self.unstorable += 1
            log.error(f"tapegate: exchange {ex.id!r} stored as failed: {_reason(e)}")
            return rowmod.failed_rows(ex, _reason(e))

    def _append_one(self, cur: duckdb.DuckDBPyConnection, ex: Exchange, r: rowmod.Rows) -> None:
        try:
            self._append(cur, [r])
            self.written += 1
            return
        except _NOT_THE_ROWS:
            raise
        except Exception as e:  # noqa: BLE001
            reason = _reason(e)
        try:
            self._append(cur, [rowmod.failed_rows(ex, reason)])
        except _NOT_THE_ROWS:
            raise
        except Exception as e:  # noqa: BLE001
            self._skip(f"exchange {ex.id!r}: {reason}; its failed row: {_reason(e)}")
            return
        self.written += 1
        self.unstorable += 1
        log.error(f"tapegate: exchange {ex.id!r} stored as failed: {reason}")

    def _skip(self, reason: str) -> None:
        self.skipped += 1
        log.error(f"tapegate: NOT RECORDED ({self.skipped} so far): {reason}")

    def _append(self, cur: duckdb.DuckDBPyConnection, converted: list[rowmod.Rows]) -> None:
        """Append ``converted`` in one transaction. Short of memory under the plain limit it
        tries again lifted; short of it at the ceiling, or a commit that fails, is the
        database failing (:class:`DatabaseFailure`): never a reason to refuse these rows."""
        try:
            self._append_once(cur, converted)
        except DatabaseFailure:
            if self._lifted:
                raise
            self._lift(cur)
            self._append_once(cur, converted)

    def _check_long_json(
        self, cur: duckdb.DuckDBPyConnection, converted: list[rowmod.Rows]
    ) -> None:
        """:func:`check_long_json` with the limit lifted by eight times the text when that
        may be needed (parsing a body of 24 MB took DuckDB 128 MB), or when the plain limit
        fell short; the append runs under the plain limit."""
        asked = (rowmod.long_json_bodies(r.exchange).values() for r in converted)
        need = 8 * sum(len(text) for texts in asked for text in texts)
        plain = _bytes(self.memory_limit)
        if plain is not None and need > plain // 4:  # parsing twice costs more than lifting
            self._lift(cur, need)
        try:
            check_long_json(cur, converted, last_try=self._lifted)
        except duckdb.OutOfMemoryException:
            self._lift(cur, need)
            check_long_json(cur, converted, last_try=True)
        self._lower(cur)

    def _append_once(self, cur: duckdb.DuckDBPyConnection, converted: list[rowmod.Rows]) -> None:
        tables: dict[str, list[tuple[Any, ...]]] = {t: [] for t in _TABLES}
        for r in converted:
            row, pieces = rowmod.cut_bodies(r.exchange)
            tables["exchange_rows"].append(row)
            tables["body_pieces"] += pieces
            tables["events"] += r.events
            tables["chunks"] += r.chunks
            tables["tool_calls"] += r.tool_calls
            tables["backend_sessions"] += r.backend_sessions
        cur.begin()
        try:
            for table, columns in _TABLES.items():
                rows = tables[table]
                if rows:
                    # One appender per table for the writer's life: making one costs more than
                    # appending a batch of rows to it (0.6 ms for ``exchanges``, measured), and
                    # it works inside each batch's transaction, rollback included.
                    app = self._appenders.get(table)
                    if app is None:
                        app = self._appenders[table] = cur.appender(table, columns=list(columns))
                    # In slices: converting rows holds the GIL, and the proxy's event loop
                    # may take it back between two slices instead of after the whole batch.
                    for i in range(0, len(rows), _APPEND_SLICE):
                        app.append_rows(rows[i : i + _APPEND_SLICE])
                    app.flush()
        except BaseException as e:
            self._appenders.clear()  # their state after a failure is not worth trusting
            with contextlib.suppress(duckdb.Error):  # a failed statement may have ended it
                cur.rollback()
            if isinstance(e, duckdb.OutOfMemoryException):
                raise DatabaseFailure(_reason(e)) from e
            raise
        try:
            cur.commit()
        except duckdb.Error as e:  # the rows were taken: a commit fails for want of resources
            self._appenders.clear()
            with contextlib.suppress(duckdb.Error):  # DuckDB ended the transaction already
                cur.rollback()
            if isinstance(e, FATAL):
                raise
            raise DatabaseFailure(f"the commit failed: {_reason(e)}") from e
        if self._pinned is not None:
            self._pinned.add(tables)

    # ------------------------------------------------------------------ memory

    def _checkpoint(self, cur: duckdb.DuckDBPyConnection, *, force: bool) -> None:
        """Checkpoint with the limit lifted, if ``force`` or the WAL passed CHECKPOINT_BYTES."""
        try:
            wal = Path(self.path + ".wal").stat().st_size
        except OSError:
            wal = 0
        if not wal or (wal < CHECKPOINT_BYTES and not force):
            return
        need = None if self._pinned is None else self._pinned.need()
        self._lift(cur, need)
        cur.execute("CHECKPOINT")

    # ``cur``: the writer thread's cursor (the connection itself belongs to ``query``'s
    # thread-safe cursor making); the limit is the database's, whichever connection sets it.

    @staticmethod
    def _set_limit(cur: duckdb.DuckDBPyConnection, limit: str | None) -> None:
        if limit is None:
            cur.execute("RESET memory_limit")
        else:
            size = limit.replace("'", "")  # a size such as "128MB", never SQL
            cur.execute(f"SET memory_limit = '{size}'")

    def _lift(self, cur: duckdb.DuckDBPyConnection, by: int | None = None) -> None:
        """Lift the limit to the ceiling, or by ``by`` bytes (and a slack) when that is less."""
        target = self.memory_ceiling
        plain, ceiling = _bytes(self.memory_limit), _bytes(self.memory_ceiling)
        if by is not None and plain is not None and ceiling is not None:
            target = f"{min(plain + by + _LIFT_SLACK, ceiling) // 1_000_000}MB"
        self._set_limit(cur, target)
        self._lifted = True

    def _give_back(self, cur: duckdb.DuckDBPyConnection) -> None:
        """After a large batch: evict the table blocks DuckDB keeps cached (they are in the
        file; a later read loads them again), then return the C heap's free pages."""
        self._shed(cur)
        _give_back_memory()

    def _shed(self, cur: duckdb.DuckDBPyConnection) -> None:
        """Lower the limit to what DuckDB holds besides cached table blocks (its in-memory
        rows, which it would have to spill to a temporary file), then set it back: DuckDB
        evicts down to a limit as it is set, and frees what it evicts."""
        with self._shedding:
            if self._queries or self._lifted:
                return  # a query's blocks are not evicted under it; lifted: not ours to touch
            found = cur.execute(
                "SELECT coalesce(sum(memory_usage_bytes), 0), "
                "coalesce(sum(memory_usage_bytes) FILTER (WHERE tag = 'BASE_TABLE'), 0) "
                "FROM duckdb_memory()"
            ).fetchone()
            used, cached = (int(found[0]), int(found[1])) if found else (0, 0)
            if cached <= _SHED_SLACK:
                return
            floor = used - cached + _SHED_SLACK
            try:
                self._set_limit(cur, f"{-(-floor // 1024)}KiB")
            except duckdb.Error as e:  # pinned blocks: it evicted what it could
                log.debug(f"tapegate: the writer kept some of DuckDB's cache: {_reason(e)}")
            finally:
                self._set_limit(cur, self.memory_limit)

    def _lower(self, cur: duckdb.DuckDBPyConnection) -> None:
        """Back to the plain limit; DuckDB evicts what it holds beyond it."""
        if not self._lifted:
            return
        try:
            self._set_limit(cur, self.memory_limit)
        except duckdb.Error as e:  # it could not evict enough: lifted until the next batch
            log.warning(f"tapegate: the writer's memory limit stays lifted: {_reason(e)}")
            return
        self._lifted = False


def check_long_json(
    cur: duckdb.DuckDBPyConnection, converted: list[rowmod.Rows], last_try: bool = False
) -> None:
    """Ask DuckDB's JSON parser about the JSON bodies that will be stored as pieces (no JSON
    column checks them then, and Python's parser is laxer or, past 1 MB, was not asked): one
    it refuses goes to its raw column, as the JSON column's refusal would have sent it."""
    asked = [
        (r, col, text)
        for r in converted
        for col, text in rowmod.long_json_bodies(r.exchange).items()
    ]
    if not asked:
        return
    try:
        found = cur.execute(
            "SELECT list_transform(?::VARCHAR[], lambda t: coalesce(json_valid(t), false))",
            [[text for _, _, text in asked]],
        ).fetchone()
        valid = list(found[0]) if found else [False] * len(asked)
    except FATAL:
        raise
    except duckdb.OutOfMemoryException:
        if not last_try:
            raise  # lifted, the caller asks again
        log.warning("tapegate: long JSON bodies stored as raw bytes: no memory to check them")
        valid = [False] * len(asked)
    except duckdb.Error as e:  # it could not even check: stored as bytes all the same
        log.warning(f"tapegate: long JSON bodies stored as raw bytes, unchecked: {_reason(e)}")
        valid = [False] * len(asked)
    refused: dict[int, tuple[rowmod.Rows, list[str]]] = {}
    for (r, col, _), ok in zip(asked, valid, strict=True):
        if not ok:
            refused.setdefault(id(r), (r, []))[1].append(col)
    for r, cols in refused.values():
        r.exchange = rowmod.demote_json_bodies(r.exchange, tuple(cols))


class _Pinned:
    """Bytes of long strings (LONG_STRING and more) in each table's last row group: about what
    a checkpoint that rewrites it pins at once. Counted from the file when it is opened, then
    from the rows appended."""

    def __init__(self, rows: dict[str, int], long: dict[str, int]) -> None:
        self.rows = rows
        self.long = long

    @classmethod
    def measure(cls, con: duckdb.DuckDBPyConnection) -> _Pinned:
        rows: dict[str, int] = {}
        long: dict[str, int] = {}
        for table in _TABLES:
            found = con.execute(f"SELECT count(*) FROM {table}").fetchone()  # noqa: S608
            rows[table] = n = int(found[0]) if found else 0
            columns = con.execute(
                "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = ? "
                "AND data_type IN ('VARCHAR', 'JSON', 'BLOB')",
                [table],
            ).fetchall()
            sizes = [f"octet_length({c})" if t == "BLOB" else f"strlen({c})" for c, t in columns]
            terms = " + ".join(
                f"coalesce(CASE WHEN {s} >= {LONG_STRING} THEN {s} END, 0)" for s in sizes
            )
            first = n - n % ROW_GROUP_ROWS
            sql = f"SELECT sum({terms or 0}) FROM {table} WHERE rowid >= {first}"  # noqa: S608
            total = con.execute(sql).fetchone()
            long[table] = int(total[0] or 0) if total else 0
        return cls(rows, long)

    def add(self, tables: dict[str, list[tuple[Any, ...]]]) -> None:
        for table, appended in tables.items():
            if not appended:
                continue
            before = self.rows.get(table, 0)
            after = self.rows[table] = before + len(appended)
            if before // ROW_GROUP_ROWS != after // ROW_GROUP_ROWS:
                self.long[table] = 0  # a new row group began (counting this batch whole: more)
            self.long[table] = self.long.get(table, 0) + _long_bytes(table, appended)

    def need(self) -> int:
        return 2 * sum(self.long.values())


# The column of the many-row tables that can hold a long string (the others hold names, ids,
# numbers; a keep-alive comment is short); in the other tables (a row or so per exchange) every
# value is looked at.
_LONG_COLUMN = {
    "events": rowmod.EVENT_COLUMNS.index("data"),
    "chunks": rowmod.CHUNK_COLUMNS.index("data"),
}


def _long_bytes(table: str, rows: list[tuple[Any, ...]]) -> int:
    """Bytes of the long strings in ``rows`` (a str's bytes counted as 4 per character unless
    it is ASCII: an upper bound, cheaply)."""
    if table == "body_pieces":  # cut short
        return 0
    short = LONG_STRING // 4
    i = _LONG_COLUMN.get(table)
    if i is None:
        found = [v for r in rows for v in r if isinstance(v, bytes | str) and len(v) >= short]
    else:
        found = [r[i] for r in rows if r[i] is not None and len(r[i]) >= short]
    sizes = (len(v) if isinstance(v, bytes) or v.isascii() else 4 * len(v) for v in found)
    return sum(n for n in sizes if n >= LONG_STRING)


_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(i?)B\s*", re.IGNORECASE)


def _bytes(size: str | None) -> int | None:
    """``"128MB"`` -> 128,000,000 (DuckDB's units: MB is 1000^2, MiB 1024^2); None if unread."""
    m = _SIZE.fullmatch(size or "")
    if m is None:
        return None
    power = " KMGT".index(m[2].upper() or " ")
    return int(float(m[1]) * (1024 if m[3] else 1000) ** power)


def default_ceiling() -> str:
    """Half the machine's memory (DuckDB's own default limit is 80%)."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return "4GB"
    return f"{max(total // 2, 256 << 20) >> 20}MB"


def _reason(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}"[:500]


_HOLDER = re.compile(r"Could not set lock on file .*\(PID (\d+)\)")


def open_failure(path: str, why: str) -> str:
    """Why ``path`` cannot be recorded to, in one line: DuckDB lets one process write a file,
    and the usual holder is another gateway recording there."""
    held = _HOLDER.search(why)
    if held is None:
        return f"cannot open {path} for recording: {why}"
    return (
        f"cannot record to {path}: process {held[1]} has it open (another gateway recording "
        "there?): stop it, or record elsewhere with --set recorder_db=OTHER.duckdb"
    )


def _bulk(item: Exchange | _Skip) -> int:
    """About how many bytes of rows ``item`` becomes (its bodies and taped stream)."""
    if isinstance(item, _Skip):
        return 0
    n = 0
    for leg in (item.client_request, item.upstream_request, item.upstream_response):
        if leg is not None and leg.body:
            n += len(leg.body)
    if item.client_response is not None and item.client_response.body:
        n += len(item.client_response.body)
    if item.taped:
        n += sum(len(chunk) for _, _, chunk in item.taped)
    return n


def _give_back_memory() -> None:
    """Return the C heap's free pages to the system (glibc; elsewhere nothing to do): the rows
    of a large batch were freed, but glibc keeps the pages of big blocks it reuses (after a
    24 MB block is freed, glibc serves blocks up to that size from its heap, not from mmap)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
