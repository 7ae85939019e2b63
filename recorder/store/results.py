"""Query results as plain JSON-safe values, the same whether run here or in the gateway process.

Values keep their meaning across the wire: timestamps become ISO strings, BLOBs ``base64:...``
strings (``decode_value`` turns them back into bytes), JSON columns stay JSON text (the CLI prints
them as nested JSON in ``--format json``). Only read statements are accepted: a SELECT (also
DESCRIBE, SHOW, SUMMARIZE, FROM ...), EXPLAIN or PRAGMA, one statement per call.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import math
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported where a query runs: the gateway process itself never loads DuckDB
    import duckdb


class StoreError(Exception):
    """The database cannot be read or written; the message says why and what to do."""


class NotADatabase(StoreError):
    """The file given as the database is none: missing, or not a DuckDB file (the user's
    argument to fix, like a wrong statement; unlike a database held by a gateway that does
    not answer)."""


class QueryError(StoreError):
    """The statement itself is wrong (a syntax error, an unknown table or column, not a read):
    the user's input to fix, unlike a database that cannot be read."""


@dataclass(slots=True)
class QueryResult:
    columns: list[str]
    types: list[str]
    rows: list[list[Any]]

    def to_json(self) -> dict[str, Any]:
        return {"columns": self.columns, "types": self.types, "rows": self.rows}

    @classmethod
    def from_json(cls, payload: dict[str, Any]) -> QueryResult:
        return cls(list(payload["columns"]), list(payload["types"]), list(payload["rows"]))

    def dicts(self) -> list[dict[str, Any]]:
        """Rows as dicts, BLOB values back to bytes."""
        blob = [t == "BLOB" for t in self.types]
        return [
            {
                c: decode_value(v) if b else v
                for c, b, v in zip(self.columns, blob, row, strict=True)
            }
            for row in self.rows
        ]


_READ_STATEMENTS = ("SELECT", "EXPLAIN", "PRAGMA")  # duckdb.StatementType names


def run_query(
    con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None
) -> QueryResult:
    """Run one read statement on ``con`` and return JSON-safe rows.

    ``con`` must be used by this thread only: the writer hands each query a fresh cursor.
    """
    import duckdb  # loaded already: ``con`` is one of its connections

    # What the statement gets wrong is the user's to fix (QueryError); the rest (I/O, memory)
    # is the database's.
    wrong = (duckdb.ProgrammingError, duckdb.DataError, duckdb.NotSupportedError)
    try:
        statements = con.extract_statements(sql)
    except wrong as e:
        raise QueryError(f"{type(e).__name__}: {e}") from e
    if len(statements) != 1:
        raise QueryError(f"expected one SQL statement, got {len(statements)}")
    if statements[0].type.name not in _READ_STATEMENTS:
        raise QueryError(f"only read statements are allowed here, not {statements[0].type.name}")
    try:
        con.execute(sql, params or None)
        desc = con.description or []
        rows = con.fetchall()
    except wrong as e:
        raise QueryError(f"{type(e).__name__}: {e}") from e
    return QueryResult(
        [d[0] for d in desc],
        [str(d[1]) for d in desc],
        [[jsonable(v) for v in row] for row in rows],
    )


def jsonable(v: Any) -> Any:
    match v:
        case None | bool() | int() | str():
            return v
        case float():
            return v if math.isfinite(v) else str(v)
        case bytes() | bytearray() | memoryview():
            return "base64:" + base64.b64encode(bytes(v)).decode()
        case dt.datetime() | dt.date() | dt.time():
            return v.isoformat()
        case dt.timedelta():
            return v.total_seconds()
        case decimal.Decimal() | uuid.UUID():
            return str(v)
        case list() | tuple():
            return [jsonable(x) for x in v]
        case dict():
            return {str(k): jsonable(x) for k, x in v.items()}
        case _:
            return str(v)


def decode_value(v: Any) -> Any:
    if isinstance(v, str) and v.startswith("base64:"):
        return base64.b64decode(v[len("base64:") :])
    return v
