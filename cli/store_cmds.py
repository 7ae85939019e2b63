"""Commands over the recording: ``query``, ``sessions``, ``show``, ``migrate``.

Each works whether or not a gateway holds the database: it opens the file read-only, and when
DuckDB says another process holds it, asks that process (see recorder.store.query_server).
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from cli.app import app
from cli.progress import spinner

DEFAULT_DB = Path("traffic.duckdb")
DbOption = Annotated[
    Path,
    typer.Option("--db", envvar="RECORDER_DB", help="DuckDB file (the gateway's recorder_db)."),
]


class OutputFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


# A database that must exist already (every command but migrate): a missing one is a usage
# error (exit 2), like any other bad argument.
ExistingDbOption = Annotated[
    Path,
    typer.Option(
        "--db", envvar="RECORDER_DB", help="DuckDB file (the gateway's recorder_db).",
        exists=True, dir_okay=False,
    ),
]  # fmt: skip

FormatOption = Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")]


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def store_failed(e: Exception) -> typer.Exit:
    """A database that cannot be read, in one line: exit 2 when the user's input is wrong (a
    file that is no database, a wrong statement), 1 when reading it failed (a gateway that
    holds it does not answer)."""
    from recorder.store import NotADatabase, QueryError

    return _fail(str(e), 2 if isinstance(e, NotADatabase | QueryError) else 1)


def _print(
    result: object, fmt: OutputFormat, title: str | None = None, keep: tuple[str, ...] = ()
) -> None:
    from cli.output import as_csv, as_json, as_table
    from recorder.store import QueryResult

    assert isinstance(result, QueryResult)
    if fmt is OutputFormat.json:
        typer.echo(as_json(result))
    elif fmt is OutputFormat.csv:
        typer.echo(as_csv(result), nl=False)
    else:
        console = _console()
        console.print(as_table(result, title, console.width, keep))


@app.command(
    epilog='Example: recorder query "select model, sum(output_tokens) from exchanges group by 1"'
)
def query(
    sql: Annotated[str, typer.Argument(help="One read statement, e.g. 'SELECT * FROM usage'.")],
    db: ExistingDbOption = DEFAULT_DB,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Run SQL over the recorded traffic.

    Tables: exchanges, events, chunks, tool_calls, backend_sessions."""
    from recorder.store import StoreError
    from recorder.store import query as run

    try:
        with spinner("querying"):
            result = run(db, sql)
    except StoreError as e:  # a wrong statement, a file that is no database: usage errors
        raise store_failed(e) from e
    except Exception as e:  # duckdb's own errors (syntax, unknown column) read well as they are
        raise _fail(f"{type(e).__name__}: {e}") from e
    _print(result, fmt)


SESSIONS_TABLE = """
    SELECT id, strftime(last_at, '%m-%d %H:%M') AS "last", exchanges AS n, models,
           input_tokens AS "in", output_tokens AS "out", errors AS err
    FROM sessions ORDER BY last_at DESC LIMIT ?"""
# When the recording holds Claude Code CLI runs (the claude-cli backend): beside each id, the
# CLI session its newest turn ran in (the first 8 characters; json/csv: every one, whole) and
# what the CLI said its turns cost. ``last`` goes to the end, the first column left out when
# 80 columns are too few for session ids of 36 characters.
SESSIONS_TABLE_CLI = """
    SELECT id,
           coalesce((SELECT left(b.backend_session, 8) FROM backend_sessions b
                     WHERE coalesce(b.session_id, b.exchange_id) = s.id
                     ORDER BY b.started_at DESC LIMIT 1), '') AS cli,
           exchanges AS n, models, input_tokens AS "in", output_tokens AS "out", errors AS err,
           round(cost_usd, 4) AS usd, strftime(last_at, '%m-%d %H:%M') AS "last"
    FROM sessions s ORDER BY last_at DESC LIMIT ?"""
HAS_CLI = "SELECT count(*) FROM (SELECT 1 FROM backend_sessions LIMIT 1)"


@app.command(epilog="Example: recorder sessions --limit 10 --format json")
def sessions(
    db: ExistingDbOption = DEFAULT_DB,
    limit: Annotated[int, typer.Option(help="Newest N sessions.", min=0)] = 50,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """List sessions: id, last time, exchanges, models, tokens, errors.

    With the Claude Code CLI as a backend, also the CLI session of each and its cost."""
    from recorder.store import StoreError
    from recorder.store import query as run

    # The table fits 80 columns with session ids whole; json/csv get every column of the view.
    sql = "SELECT * FROM sessions ORDER BY last_at DESC LIMIT ?"
    try:
        if fmt is OutputFormat.table:
            sql = SESSIONS_TABLE_CLI if _has_cli_runs(db) else SESSIONS_TABLE
        result = run(db, sql, [limit])
    except StoreError as e:
        raise store_failed(e) from e
    _print(result, fmt, title="sessions", keep=("last", "cli"))


def _has_cli_runs(db: Path) -> bool:
    """The recording holds claude-cli runs (False too for a file older than that table,
    which the gateway migrates when it opens it)."""
    from recorder.store import QueryError
    from recorder.store import query as run

    try:
        rows = run(db, HAS_CLI).rows
    except QueryError:  # an unmigrated file: no such table, no such runs
        return False
    return bool(rows and rows[0] and rows[0][0])


@app.command(epilog="Example: recorder show SESSION_OR_EXCHANGE_ID (ids: recorder sessions)")
def show(
    id: Annotated[str, typer.Argument(help="An exchange id or a session id.")],
    db: ExistingDbOption = DEFAULT_DB,
    full: Annotated[bool, typer.Option(help="Do not shorten long texts.")] = False,
) -> None:
    """Print an exchange, or a whole session, as a readable conversation."""
    from recorder.show import render_exchanges
    from recorder.store import StoreError, load_exchanges

    try:
        with spinner(f"reading {id}"):
            exchanges = load_exchanges(db, "id = ?", [id]) or load_exchanges(
                db, "session_id = ?", [id]
            )
    except StoreError as e:
        raise store_failed(e) from e
    if not exchanges:
        raise _fail(f"no exchange or session {id!r} in {db}")
    _console().print(render_exchanges(exchanges, limit=None if full else 1000))


@app.command(epilog="Example: recorder migrate --db traffic.duckdb")
def migrate(db: DbOption = DEFAULT_DB) -> None:
    """Create or upgrade the database schema (the gateway also does this when it starts)."""
    from recorder.store import StoreError
    from recorder.store.migrations import migrate_file

    try:
        applied = migrate_file(str(db))
    except StoreError as e:
        raise store_failed(e) from e
    typer.echo(f"applied: {', '.join(applied)}" if applied else "schema is up to date")


def _console() -> Console:
    """A terminal's own width (or $COLUMNS); other piped output is not squeezed into 80."""
    console = Console()
    if console.is_terminal or "COLUMNS" in os.environ:
        return console
    return Console(width=160)
