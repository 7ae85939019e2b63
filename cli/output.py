"""Print a QueryResult as a rich table, JSON rows or CSV (the three ``--format`` choices)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from rich.table import Table

from recorder.store.results import QueryResult

CELL_LIMIT = 120  # a table is for eyes; use --format json for whole bodies


def as_json(result: QueryResult) -> str:
    """A JSON array of row objects; JSON-typed columns are nested as JSON, not strings."""
    is_json = [t == "JSON" for t in result.types]
    rows = [
        {c: _parse(v) if j else v for c, j, v in zip(result.columns, is_json, row, strict=True)}
        for row in result.rows
    ]
    return json.dumps(rows, ensure_ascii=False, indent=2)


def as_csv(result: QueryResult) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(result.columns)
    for row in result.rows:
        writer.writerow(["" if v is None else _scalar(v) for v in row])
    return buf.getvalue()


def as_table(result: QueryResult, title: str | None = None) -> Table:
    table = Table(title=title, show_lines=False)
    for c in result.columns:
        table.add_column(c, overflow="fold")
    for row in result.rows:
        table.add_row(*("NULL" if v is None else _cut(_scalar(v)) for v in row))
    return table


def _parse(v: Any) -> Any:
    if not isinstance(v, str):
        return v
    try:
        return json.loads(v)
    except ValueError:
        return v


def _scalar(v: Any) -> str:
    return v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)


def _cut(s: str) -> str:
    return s if len(s) <= CELL_LIMIT else s[:CELL_LIMIT] + "…"
