"""The DuckDB schema as an ordered list of migrations (the pattern of simonw/llm).

Each ``mNNN_*`` function takes a connection and brings the schema one step forward.
``migrate()`` applies, in order, every function whose name is not yet in ``schema_migrations``,
each in its own transaction. Released migrations are never edited: a change is a new function.
The schema is documented for users in ``docs/schema.md``.

Times: ``started_at`` is a UTC ``TIMESTAMP``; ``started_unix`` keeps the exact float the gateway
read (so that a stored Exchange comes back equal); every ``t_*`` column is seconds since start.
Bodies: ``*_body`` holds a body that is valid JSON, verbatim (DuckDB's JSON type keeps the text);
``*_body_raw`` holds any other body as bytes (``decode(x)`` shows text). At most one is set.
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb

Migration = Callable[[duckdb.DuckDBPyConnection], None]
MIGRATIONS: list[Migration] = []


def migration(fn: Migration) -> Migration:
    MIGRATIONS.append(fn)
    return fn


def _leg_request(prefix: str) -> str:
    return f"""
        {prefix}_method VARCHAR, {prefix}_url VARCHAR, {prefix}_headers JSON,
        {prefix}_body JSON, {prefix}_body_raw BLOB,"""


def _leg_response(prefix: str) -> str:
    return f"""
        {prefix}_headers JSON,
        {prefix}_body JSON, {prefix}_body_raw BLOB,"""


@migration
def m001_tables(con: duckdb.DuckDBPyConnection) -> None:
    # No PRIMARY KEY: the Appender checks constraints at flush, and one duplicate would fail a
    # whole batch; the Recorder writes each flow once instead.
    con.execute(f"""
        CREATE TABLE exchanges (
            id VARCHAR NOT NULL,
            started_at TIMESTAMP,
            started_unix DOUBLE,
            session_id VARCHAR,
            client_dialect VARCHAR,
            upstream_dialect VARCHAR,
            route VARCHAR,
            model VARCHAR,
            model_requested VARCHAR,
            model_sent VARCHAR,
            model_answered VARCHAR,
            stream BOOLEAN,
            status INTEGER,
            upstream_status INTEGER,
            stop_reason VARCHAR,
            error VARCHAR,
            t_upstream_first_byte DOUBLE,
            t_first_token DOUBLE,
            t_end DOUBLE,
            input_tokens BIGINT,
            output_tokens BIGINT,
            cache_read_tokens BIGINT,
            cache_creation_tokens BIGINT,
            reasoning_tokens BIGINT,
            usage_extra JSON,
            {_leg_request("client_request")}
            {_leg_request("upstream_request")}
            {_leg_response("upstream_response")}
            {_leg_response("client_response")}
            notes JSON,
            extra JSON
        )""")
    con.execute("""
        CREATE TABLE events (
            exchange_id VARCHAR NOT NULL,
            leg VARCHAR NOT NULL,
            seq INTEGER NOT NULL,
            t_offset DOUBLE,
            event VARCHAR,
            data VARCHAR,
            comment VARCHAR,
            pos INTEGER
        )""")
    con.execute("""
        CREATE TABLE chunks (
            exchange_id VARCHAR NOT NULL,
            seq INTEGER NOT NULL,
            t_offset DOUBLE,
            data BLOB
        )""")
    con.execute("""
        CREATE TABLE tool_calls (
            exchange_id VARCHAR NOT NULL,
            session_id VARCHAR,
            idx INTEGER,
            call_id VARCHAR,
            name VARCHAR,
            arguments VARCHAR
        )""")


@migration
def m002_views(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("""
        CREATE OR REPLACE VIEW sessions AS
        SELECT coalesce(session_id, id) AS id,
               min(started_at) AS first_at,
               max(started_at) AS last_at,
               count(*) AS exchanges,
               list(DISTINCT model ORDER BY model) FILTER (WHERE model IS NOT NULL) AS models,
               sum(input_tokens)::BIGINT AS input_tokens,
               sum(output_tokens)::BIGINT AS output_tokens,
               sum(cache_read_tokens)::BIGINT AS cache_read_tokens,
               sum(cache_creation_tokens)::BIGINT AS cache_creation_tokens,
               count(error) AS errors
        FROM exchanges
        GROUP BY ALL""")
    con.execute("""
        CREATE OR REPLACE VIEW usage AS
        SELECT CAST(started_at AS DATE) AS day,
               model,
               count(*) AS exchanges,
               sum(input_tokens)::BIGINT AS input_tokens,
               sum(output_tokens)::BIGINT AS output_tokens,
               sum(cache_read_tokens)::BIGINT AS cache_read_tokens,
               sum(cache_creation_tokens)::BIGINT AS cache_creation_tokens,
               sum(reasoning_tokens)::BIGINT AS reasoning_tokens,
               count(error) AS errors
        FROM exchanges
        GROUP BY ALL
        ORDER BY day, model""")
    con.execute("""
        CREATE OR REPLACE VIEW timings AS
        SELECT id, started_at, model, stream, status,
               round(t_upstream_first_byte * 1000, 3) AS ttfb_ms,
               round(t_first_token * 1000, 3) AS ttft_ms,
               round(t_end * 1000, 3) AS duration_ms
        FROM exchanges""")


# Stop reasons as a dialect's wire says them, in the IR's vocabulary. Rows recorded before the
# summary read every answer through the codecs could hold them: the recorder's pass-through path
# stored OpenAI's own finish_reason ("stop") where the gateway's stored "end_turn".
_WIRE_STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "model_context_window_exceeded": "context_window_exceeded",
}


@migration
def m003_stop_reason_vocabulary(con: duckdb.DuckDBPyConnection) -> None:
    for wire, stop in _WIRE_STOP_REASONS.items():
        con.execute("UPDATE exchanges SET stop_reason = ? WHERE stop_reason = ?", [stop, wire])


@migration
def m004_backend_sessions(con: duckdb.DuckDBPyConnection) -> None:
    # Where a stateful backend (the Claude Code CLI) left each conversation: a gateway that
    # restarts resumes a known conversation from here (recorder/claude_cli/sessions.py). One
    # row per exchange that left one; the newest row of a conversation (or name) wins.
    con.execute("""
        CREATE TABLE backend_sessions (
            exchange_id VARCHAR NOT NULL,
            started_at TIMESTAMP,
            session_id VARCHAR,
            backend VARCHAR,
            conversation VARCHAR,
            name VARCHAR,
            backend_session VARCHAR,
            cwd VARCHAR,
            leaf VARCHAR
        )""")
    # The sessions view gains the cost a backend reported (the CLI's total_cost_usd, in
    # exchanges.extra) and the backend sessions each gateway session used.
    con.execute("""
        CREATE OR REPLACE VIEW sessions AS
        SELECT coalesce(session_id, id) AS id,
               min(started_at) AS first_at,
               max(started_at) AS last_at,
               count(*) AS exchanges,
               list(DISTINCT model ORDER BY model) FILTER (WHERE model IS NOT NULL) AS models,
               sum(input_tokens)::BIGINT AS input_tokens,
               sum(output_tokens)::BIGINT AS output_tokens,
               sum(cache_read_tokens)::BIGINT AS cache_read_tokens,
               sum(cache_creation_tokens)::BIGINT AS cache_creation_tokens,
               count(error) AS errors,
               sum(TRY_CAST(json_extract(extra, '$.cost_usd') AS DOUBLE)) AS cost_usd,
               list(DISTINCT json_extract_string(extra, '$.backend_session.id')
                    ORDER BY json_extract_string(extra, '$.backend_session.id'))
                   FILTER (WHERE json_extract_string(extra, '$.backend_session.id') IS NOT NULL)
                   AS backend_sessions
        FROM exchanges
        GROUP BY ALL""")


# The body columns of ``exchanges``, in table order.
BODY_COLUMNS = tuple(
    f"{leg}_{kind}"
    for leg in ("client_request", "upstream_request", "upstream_response", "client_response")
    for kind in ("body", "body_raw")
)


def _whole_body(column: str) -> str:
    """The aggregate that puts ``column``'s pieces back together, byte for byte: a JSON body
    was cut between characters, so each piece is text; any other body is bytes."""
    # (CASE, not FILTER: an aggregate's argument is computed for every row before FILTER)
    if column.endswith("_raw"):
        piece = f"CASE WHEN body = '{column}' THEN hex(data) END"
        return f"unhex(string_agg({piece}, '' ORDER BY seq)) AS {column}"
    piece = f"CASE WHEN body = '{column}' THEN decode(data) END"
    return f"string_agg({piece}, '' ORDER BY seq) AS {column}"


def _whole_column(column: str) -> str:
    if column.endswith("_raw"):
        return f"coalesce(r.{column}, p.{column}) AS {column}"
    # Validated when it was written (the writer asks DuckDB's JSON parser, as the JSON column's
    # own check would have): TRY_ all the same, so that no row could ever break the view.
    return f"coalesce(r.{column}, TRY_CAST(p.{column} AS JSON)) AS {column}"


@migration
def m005_body_pieces(con: duckdb.DuckDBPyConnection) -> None:
    # Why (measured, DuckDB 2.0): DuckDB keeps a string longer than ~4 KB in overflow blocks,
    # and a checkpoint that rewrites a row group pins every such string of the row group at
    # once; what the writer needed grew with the large bodies recorded lately (2.3 GB for
    # twenty 20 MB requests), whatever its memory limit. Strings of a few KB live in ordinary
    # blocks, which DuckDB writes out and evicts one by one. So a body longer than
    # rows.PIECE_BYTES is stored as pieces in ``body_pieces`` (its column in the table left
    # NULL), and ``exchanges`` becomes a view that puts every body back together: readers see
    # exactly what they saw before. Rows recorded before this migration keep their bodies.
    con.execute("ALTER TABLE exchanges RENAME TO exchange_rows")
    con.execute("""
        CREATE TABLE body_pieces (
            exchange_id VARCHAR NOT NULL,
            body VARCHAR NOT NULL,
            seq INTEGER NOT NULL,
            data BLOB NOT NULL
        )""")
    pieces = ",\n               ".join(_whole_body(c) for c in BODY_COLUMNS)
    columns = ",\n            ".join(_whole_column(c) for c in BODY_COLUMNS)
    con.execute(f"""
        CREATE VIEW exchanges AS
        SELECT r.* REPLACE (
            {columns}
        )
        FROM exchange_rows r
        LEFT JOIN (
            SELECT exchange_id,
               {pieces}
            FROM body_pieces
            GROUP BY exchange_id
        ) p ON p.exchange_id = r.id""")


def migrate(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Apply the missing migrations in order; returns the names applied now (idempotent)."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(name VARCHAR PRIMARY KEY, applied_at TIMESTAMP DEFAULT current_timestamp)"
    )
    done = {row[0] for row in con.execute("SELECT name FROM schema_migrations").fetchall()}
    applied: list[str] = []
    for fn in MIGRATIONS:
        if fn.__name__ in done:
            continue
        con.begin()
        try:
            fn(con)
            con.execute("INSERT INTO schema_migrations (name) VALUES (?)", [fn.__name__])
            con.commit()
        except BaseException:
            con.rollback()
            raise
        applied.append(fn.__name__)
    return applied


def pending(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Names of migrations a database still lacks (works on a read-only connection)."""
    try:
        rows = con.execute("SELECT name FROM schema_migrations").fetchall()
    except duckdb.CatalogException:
        rows = []
    done = {r[0] for r in rows}
    return [fn.__name__ for fn in MIGRATIONS if fn.__name__ not in done]


def migrate_file(path: str) -> list[str]:
    """Open ``path`` read-write, migrate it, close it; StoreError when another process holds it."""
    from recorder.store.results import NotADatabase, StoreError

    try:
        con = duckdb.connect(path)
    except duckdb.IOException as e:
        if "lock" not in str(e).lower():  # no such folder, not a DuckDB file
            raise NotADatabase(str(e)) from e
        raise StoreError(f"{e} (a running gateway migrates its database when it starts)") from e
    try:
        return migrate(con)
    finally:
        con.close()
