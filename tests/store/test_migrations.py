"""Migrations: idempotent, ordered, and the schema as a snapshot that reads well in a diff."""

from __future__ import annotations

import duckdb
import pytest
from syrupy.extensions.json import JSONSnapshotExtension

from recorder.store.migrations import MIGRATIONS, migrate, pending


@pytest.fixture
def snapshot_json(snapshot):
    return snapshot.with_defaults(extension_class=JSONSnapshotExtension)


def test_migrate_twice_applies_once():
    con = duckdb.connect(":memory:")
    assert migrate(con) == [fn.__name__ for fn in MIGRATIONS]
    assert migrate(con) == []
    assert pending(con) == []
    names = [
        r[0] for r in con.execute("SELECT name FROM schema_migrations ORDER BY name").fetchall()
    ]
    assert names == sorted(fn.__name__ for fn in MIGRATIONS)


def test_migration_names_are_numbered_in_order():
    numbers = [int(fn.__name__[1:4]) for fn in MIGRATIONS]
    assert all(fn.__name__[0] == "m" for fn in MIGRATIONS)
    assert numbers == sorted(numbers) == list(range(1, len(numbers) + 1))


def test_pending_on_a_blank_database():
    assert pending(duckdb.connect(":memory:")) == [fn.__name__ for fn in MIGRATIONS]


def test_schema_snapshot(snapshot_json):
    con = duckdb.connect(":memory:")
    migrate(con)
    relations = [
        r[0]
        for r in con.execute(
            "SELECT table_name FROM information_schema.tables ORDER BY table_type, table_name"
        ).fetchall()
    ]
    schema = {
        name: {row[0]: row[1] for row in con.execute(f"DESCRIBE {name}").fetchall()}
        for name in relations
    }
    assert schema == snapshot_json


def test_old_rows_get_the_one_stop_reason_vocabulary():
    con = duckdb.connect(":memory:")
    first = MIGRATIONS.index(next(fn for fn in MIGRATIONS if "stop_reason" in fn.__name__))
    for fn in MIGRATIONS[:first]:  # a database recorded before the vocabulary was one
        fn(con)
    old = ["stop", "length", "tool_calls", "function_call", "model_context_window_exceeded"]
    kept = ["end_turn", "tool_use", "content_filter", "refusal", None]
    for i, stop in enumerate(old + kept):
        con.execute("INSERT INTO exchanges (id, stop_reason) VALUES (?, ?)", [f"e{i}", stop])
    for fn in MIGRATIONS[first:]:
        fn(con)
    rows = con.execute("SELECT stop_reason FROM exchanges ORDER BY id").fetchall()
    assert [r[0] for r in sorted(rows, key=lambda r: str(r[0]))] == sorted(
        ["end_turn", "max_tokens", "tool_use", "tool_use", "context_window_exceeded", *kept],
        key=str,
    )


def test_bodies_recorded_before_the_pieces_are_read_as_before():
    con = duckdb.connect(":memory:")
    first = MIGRATIONS.index(next(fn for fn in MIGRATIONS if "body_pieces" in fn.__name__))
    for fn in MIGRATIONS[:first]:  # a database recorded with whole bodies in the table
        fn(con)
    old = '{"model": "m", "pad": "' + "x" * 10_000 + '"}'
    con.execute(
        "INSERT INTO exchanges (id, client_request_body, upstream_response_body_raw) "
        "VALUES ('old', ?, ?)",
        [old, b"\xff" * 5000],
    )
    for fn in MIGRATIONS[first:]:
        fn(con)
    con.execute("INSERT INTO exchange_rows (id) VALUES ('new')")
    con.execute("INSERT INTO body_pieces VALUES ('new', 'client_request_body', 1, 'b\"]'::BLOB)")
    con.execute("INSERT INTO body_pieces VALUES ('new', 'client_request_body', 0, '[\"a'::BLOB)")
    rows = con.execute(
        "SELECT id, client_request_body, client_request_body->>'$.model', "
        "octet_length(upstream_response_body_raw) FROM exchanges ORDER BY id"
    ).fetchall()
    assert rows == [("new", '["ab"]', None, None), ("old", old, "m", 5000)]
