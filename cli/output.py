"""Print a QueryResult as a rich table, JSON rows or CSV (the three ``--format`` choices)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any, Literal

from rich import box
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


def as_table(
    result: QueryResult, title: str | None = None, width: int = 160, keep: tuple[str, ...] = ()
) -> Table:
    """For a person at a terminal ``width`` columns wide: one line per row, ids whole (they are
    copied into ``recorder show`` / ``export --session``), numbers, times and the columns named
    in ``keep`` whole too, numbers rounded to what a person reads, times to the second; the
    widest other cells are shortened with "…" until the table fits, and if it still does not,
    the last columns are left out and the caption says which. ``--format json|csv`` keep all."""
    types = result.types
    ms = [c.endswith("_ms") for c in result.columns]
    cells = [
        [_cell(v, t, m) for v, t, m in zip(row, types, ms, strict=True)] for row in result.rows
    ]
    natural, least = [], []
    for i, (name, typ) in enumerate(zip(result.columns, types, strict=True)):
        values = max([0, *(len(r[i]) for r in cells)])
        whole = _is_id(name) or name in keep or typ in _NUMERIC or typ.startswith("TIMESTAMP")
        natural.append(max(len(name), values, 1))
        # A column's name keeps a few characters too: with no rows (or small numbers) a
        # whole column shrank to 1 and its header read '…'.
        named = min(len(name), MIN_WIDTH)
        least.append(max(values, named) if whole else min(natural[-1], MIN_WIDTH))
    widths = fit(natural, least, width)
    shown = [i for i, w in enumerate(widths) if w > 0]
    left_out = [result.columns[i] for i in range(len(widths)) if widths[i] == 0]
    caption = f"left out to fit {width} columns: {', '.join(left_out)}" if left_out else None
    table = Table(
        title=title, caption=caption, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
        padding=(0, 1, 0, 0),
    )  # fmt: skip
    for i in shown:
        justify: Literal["left", "right"] = "right" if types[i] in _NUMERIC else "left"
        table.add_column(
            result.columns[i], justify=justify, no_wrap=True, overflow="ellipsis", width=widths[i]
        )
    for row in cells:
        table.add_row(*(row[i] for i in shown))
    return table


GAP = 2  # between two columns: the right padding of one and the divider
MIN_WIDTH = 6  # a text column is not shortened below this


def fit(natural: list[int], least: list[int], budget: int) -> list[int]:
    """Column widths (0: left out) whose sum with the gaps between them is at most ``budget``:
    the widest column that may still give (down to its ``least``) gives one character at a
    time; if all are at their least, the last columns but the first are left out."""
    widths = list(natural)

    def total() -> int:
        shown = [w for w in widths if w > 0]
        return sum(shown) + GAP * (len(shown) - 1)

    while total() > budget:
        shrinkable = [i for i, w in enumerate(widths) if least[i] < w]
        if shrinkable:
            widest = max(shrinkable, key=lambda i: widths[i] - least[i])
            widths[widest] -= 1
            continue
        last = max((i for i, w in enumerate(widths) if w > 0 and i > 0), default=None)
        if last is None:
            break  # one column wider than the terminal: shown whole all the same
        widths[last] = 0
    return widths


_NUMERIC = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UBIGINT", "UINTEGER",
            "FLOAT", "DOUBLE", "REAL"}  # fmt: skip


def _is_id(column: str) -> bool:
    return column == "id" or column.endswith("_id")


def _cell(v: Any, typ: str, ms: bool = False) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, float):
        return f"{v:,.1f}" if ms else rounded(v)
    if typ.startswith("TIMESTAMP") and isinstance(v, str):
        return v.replace("T", " ")[:19]  # ISO text: to the second
    if isinstance(v, list) and all(isinstance(x, str) for x in v):
        return ", ".join(v)
    return _cut(_scalar(v))


def rounded(v: float) -> str:
    """A float as a person reads it: one decimal from 10 on (milliseconds), three significant
    digits below; never ``0.17616245499993965``."""
    if v != v or v in (float("inf"), float("-inf")):
        return str(v)
    if abs(v) >= 10:
        return f"{v:,.1f}"
    return f"{v:.3g}"


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
