"""Read the database: SQL queries and whole Exchanges, whether or not a gateway holds the file.

:func:`open_reader` asks the process that holds the file (the running gateway) through its
sidecar file and loopback endpoint when that endpoint answers (see
:mod:`recorder.store.query_server`); otherwise it opens the file read-only, and if DuckDB says
another process holds it after all, asks that process. Both paths return the same
:class:`QueryResult`, so every command works the same either way. DuckDB and the Exchange
model are imported only where they are used: a query to a running gateway loads neither.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from recorder.store.query_server import answers, remote_query
from recorder.store.results import NotADatabase, QueryResult, run_query

if TYPE_CHECKING:
    import duckdb

    from recorder.exchange import Exchange


class Reader(Protocol):
    def query(self, sql: str, params: list[Any] | None = None) -> QueryResult: ...


class LocalReader:
    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con

    def query(self, sql: str, params: list[Any] | None = None) -> QueryResult:
        return run_query(self.con, sql, params)


class RemoteReader:
    def __init__(self, db: str | Path) -> None:
        self.db = db

    def query(self, sql: str, params: list[Any] | None = None) -> QueryResult:
        return remote_query(self.db, sql, params or [])


@contextmanager
def open_reader(source: str | Path | duckdb.DuckDBPyConnection) -> Iterator[Reader]:
    """A reader over a connection (used as is) or a path (via the gateway, or read-only)."""
    if not isinstance(source, str | Path):
        yield LocalReader(source)
        return
    if not Path(source).exists():
        raise NotADatabase(f"no database at {source}")
    if answers(source):
        yield RemoteReader(source)
        return
    import duckdb

    try:
        con = duckdb.connect(str(source), read_only=True)
    except duckdb.IOException as e:  # another process holds the file read-write
        if "lock" not in str(e).lower():  # not a DuckDB file, or one of a newer DuckDB
            raise NotADatabase(str(e)) from e
        con = None
    except duckdb.ConnectionException:  # this very process holds it read-write (tests, bench)
        con = None
    if con is None:
        yield RemoteReader(source)
        return
    try:
        yield LocalReader(con)
    finally:
        con.close()


def query(
    source: str | Path | duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None
) -> QueryResult:
    with open_reader(source) as reader:
        return reader.query(sql, params)


def load_exchanges(
    source: str | Path | duckdb.DuckDBPyConnection,
    where: str | None = None,
    params: list[Any] | tuple[Any, ...] = (),
) -> list[Exchange]:
    """Rebuild full Exchanges (both legs, bodies as bytes, events, chunks), oldest first.

    ``where`` is a SQL condition on the ``exchanges`` table, e.g. ``"session_id = ?"``.
    """
    from recorder.store import rows as rowmod  # the codecs, through Exchange: not for a query

    condition = f"WHERE {where}" if where else ""
    with open_reader(source) as reader:
        rows = reader.query(
            f"SELECT * FROM exchanges {condition} ORDER BY started_unix, id", list(params)
        ).dicts()
        if not rows:
            return []
        ids = [r["id"] for r in rows]
        events = reader.query(
            "SELECT * FROM events WHERE exchange_id IN (SELECT unnest(?)) "
            "ORDER BY exchange_id, pos",
            [ids],
        ).dicts()
        chunks = reader.query(
            "SELECT * FROM chunks WHERE exchange_id IN (SELECT unnest(?)) "
            "ORDER BY exchange_id, seq",
            [ids],
        ).dicts()
    by_id: dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]]]] = {i: ([], []) for i in ids}
    for e in events:
        by_id[e["exchange_id"]][0].append(e)
    for c in chunks:
        by_id[c["exchange_id"]][1].append(c)
    return [rowmod.from_rows(r, *by_id[r["id"]]) for r in rows]
