"""Tables for a person: they fit the terminal, ids are never broken, numbers are rounded."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from cli.output import as_csv, as_json, as_table, fit, rounded
from recorder.store import QueryResult

UUID = "803cefa6-079e-4265-bd2b-74b2044cc2f7"
RESULT = QueryResult(
    ["id", "session_id", "started_at", "model", "error", "duration", "ttft_ms"],
    ["VARCHAR", "VARCHAR", "TIMESTAMP", "VARCHAR", "VARCHAR", "DOUBLE", "DOUBLE"],
    [
        [UUID, "h:4cebef8ddd19abc9", "2026-12-04T19:44:22.732246", "claude-sonnet-5",
         "upstream said: " + "overloaded " * 12, 0.17616245499993965, 1234.5678],
        ["e108042a-9521-461a-92c6-23ec9bdc8cf0", None, "2026-12-04T19:44:23.000001", None, None,
         12.04999, None],
    ],
)  # fmt: skip


def render(result: QueryResult, width: int) -> list[str]:
    out = io.StringIO()
    Console(file=out, width=width).print(as_table(result, width=width))
    return out.getvalue().splitlines()


@pytest.mark.parametrize("width", [80, 120])
def test_a_table_fits_and_keeps_ids_whole(width: int) -> None:
    lines = render(RESULT, width)
    assert max(map(len, lines)) <= width
    rows = [line for line in lines if line.startswith((UUID, "e108042a"))]
    assert len(rows) == 2  # one line per row
    assert "h:4cebef8ddd19abc9" in rows[0]
    assert "2026-12-04 19:44:22" in rows[0] and ".732246" not in rows[0]  # to the second


def test_numbers_are_rounded_for_eyes_and_ms_have_one_decimal() -> None:
    row = next(line for line in render(RESULT, 160) if line.startswith(UUID))
    assert "0.176" in row and "0.17616245499993965" not in row
    assert "1,234.6" in row
    assert "…" in row  # the long error is shortened, not wrapped


def test_what_does_not_fit_is_left_out_and_named() -> None:
    lines = render(RESULT, 60)
    assert max(map(len, lines)) <= 60
    assert any(UUID in line for line in lines)
    assert any("left out to fit 60 columns: " in line for line in lines)


def test_headers_of_whole_columns_stay_readable_without_rows() -> None:
    """An empty ``select * from exchanges`` headed its id, time and number columns '…'."""
    empty = QueryResult(RESULT.columns, RESULT.types, [])
    assert render(empty, 60)[0].split() == [c for c in RESULT.columns]
    for width in (30, 40):
        names = render(empty, width)[0].split()
        assert names[0] == "id" and "…" not in names and all(len(n) >= 2 for n in names)


def test_json_and_csv_keep_full_precision() -> None:
    assert "0.17616245499993965" in as_json(RESULT)
    assert "0.17616245499993965" in as_csv(RESULT)


def test_fit_gives_from_the_column_with_most_to_spare_and_never_below_least() -> None:
    assert fit([36, 20, 40], [36, 6, 6], 200) == [36, 20, 40]
    widths = fit([36, 20, 40], [36, 6, 6], 80)
    assert widths[0] == 36 and sum(widths) + 4 <= 80 and min(widths[1:]) >= 6
    assert fit([36, 30, 30], [36, 30, 30], 80) == [36, 30, 0]


@pytest.mark.parametrize(
    "value, text",
    [(0.17616245499993965, "0.176"), (3.0, "3"), (12.04999, "12.0"), (123456.789, "123,456.8")],
)
def test_rounded(value: float, text: str) -> None:
    assert rounded(value) == text
