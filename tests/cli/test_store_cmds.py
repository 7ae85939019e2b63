"""``recorder query / sessions / show / migrate`` over a closed database and a held one."""

from __future__ import annotations

import json
import os
import re
import stat

import pytest
from typer.testing import CliRunner

from cli import app
from recorder.store import StoreWriter
from recorder.store.query_server import QueryServer, sidecar_path
from tests.store import samples

runner = CliRunner()


def _invoke(*args: str):
    result = runner.invoke(app, list(args), catch_exceptions=False, env={"COLUMNS": "100"})
    return result


@pytest.fixture
def closed_db(tmp_path):
    db = tmp_path / "traffic.duckdb"
    w = StoreWriter(db).start()
    for ex in (samples.streaming(), samples.plain(), samples.failed()):
        w.put(ex)
    w.close()
    return db


@pytest.fixture
def held_db(tmp_path):
    """A database held read-write by a writer, with its query endpoint (as in the gateway)."""
    db = tmp_path / "held.duckdb"
    w = StoreWriter(db).start()
    server = QueryServer(db, w.query)
    server.start()
    for ex in (samples.streaming(), samples.plain(), samples.failed()):
        w.put(ex)
    assert w.flush()
    yield db
    server.stop()
    w.close()


SQL = "SELECT id, status, stream FROM exchanges ORDER BY id"
WANT = [
    {"id": "ex-failed", "status": 529, "stream": False},
    {"id": "ex-plain", "status": 200, "stream": False},
    {"id": "ex-stream", "status": 200, "stream": True},
]


@pytest.mark.parametrize("which", ["closed_db", "held_db"])
def test_query_json_works_with_and_without_a_running_writer(which, request):
    db = request.getfixturevalue(which)
    result = _invoke("query", SQL, "--db", str(db), "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == WANT


def test_sidecar_is_private_and_removed_on_stop(tmp_path):
    db = tmp_path / "s.duckdb"
    w = StoreWriter(db).start()
    server = QueryServer(db, w.query)
    server.start()
    info = json.loads(sidecar_path(db).read_text())
    assert stat.S_IMODE(os.stat(sidecar_path(db)).st_mode) == 0o600
    assert info["port"] == server.port and info["pid"] == os.getpid()
    server.stop()
    w.close()
    assert not sidecar_path(db).exists()


def test_query_with_a_wrong_token_is_refused(held_db):
    path = sidecar_path(held_db)
    info = json.loads(path.read_text())
    path.write_text(json.dumps({**info, "token": "wrong"}))
    result = _invoke("query", SQL, "--db", str(held_db))
    assert result.exit_code == 1
    assert "bad token" in result.output


@pytest.mark.parametrize("which", ["closed_db", "held_db"])
def test_writes_are_refused(which, request):
    db = request.getfixturevalue(which)
    result = _invoke("query", "DELETE FROM exchanges", "--db", str(db))
    assert result.exit_code == 2  # the statement is wrong: a usage error
    assert "only read statements" in result.output


def test_json_columns_are_nested_json_and_csv_and_table(closed_db):
    sql = "SELECT id, client_response_body FROM exchanges WHERE id = 'ex-plain'"
    rows = json.loads(_invoke("query", sql, "--db", str(closed_db), "-f", "json").output)
    assert rows[0]["client_response_body"]["stop_reason"] == "end_turn"
    csv = _invoke("query", SQL, "--db", str(closed_db), "-f", "csv").output
    assert csv.splitlines() == ["id,status,stream", "ex-failed,529,false", "ex-plain,200,false",
                                "ex-stream,200,true"]  # fmt: skip
    table = _invoke("query", SQL, "--db", str(closed_db)).output
    assert "ex-stream" in table and "status" in table


@pytest.mark.parametrize("which", ["closed_db", "held_db"])
@pytest.mark.parametrize("sql", ["SELECT nope FROM exchanges", "SELEC 1", "SELECT 1; SELECT 2"])
def test_a_wrong_statement_is_a_usage_error(which, sql, request):
    db = request.getfixturevalue(which)
    result = runner.invoke(app, ["query", sql, "--db", str(db)])
    assert result.exit_code == 2, result.output
    # DuckDB's own message as it is (it points at the mistake), no traceback
    assert result.stderr.startswith("error: ") and "Traceback" not in result.output


def test_query_errors_are_one_line(closed_db, tmp_path):
    bad = _invoke("query", "SELECT nope FROM exchanges", "--db", str(closed_db))
    assert bad.exit_code == 2 and "nope" in bad.output
    missing = _invoke("query", "SELECT 1", "--db", str(tmp_path / "none.duckdb"))
    assert missing.exit_code == 2 and "does not exist" in missing.output  # a usage error


@pytest.mark.parametrize(
    "args",
    [
        ["query", "SELECT 1"],
        ["sessions"],
        ["show", "ex-plain"],
        ["report", "ex-plain", "-o", "-"],
        ["export", "--session", "s", "CASSETTE"],
        ["migrate"],
    ],
    ids=lambda a: a[0],
)
def test_a_file_that_is_no_database_is_a_usage_error_in_every_command(tmp_path, args):
    """Exit 2 and one line, as for a missing database: query, sessions, show, report and
    migrate exited 1 for a file that is not DuckDB's (export 2)."""
    db = tmp_path / "notes.duckdb"
    db.write_text("not a database\n")
    args = [str(tmp_path / "c") if a == "CASSETTE" else a for a in args]
    result = _invoke(*args, "--db", str(db))
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and "not a valid DuckDB database file" in result.stderr
    where = tmp_path / "no-such-folder" / "x.duckdb"
    if args[0] == "migrate":  # the one command that creates its database: a folder missing
        result = _invoke("migrate", "--db", str(where))
        assert result.exit_code == 2 and result.stderr.startswith("error: "), result.output


def test_bad_arguments_of_sessions_and_report_are_usage_errors(closed_db, tmp_path):
    """A negative --limit was DuckDB's BinderException, exit 1; an -o where nothing can be
    written exited 1."""
    result = _invoke("sessions", "--limit", "-1", "--db", str(closed_db))
    assert result.exit_code == 2 and "--limit" in result.output
    out = tmp_path / "no-such-folder" / "r.html"
    result = _invoke("report", "ex-plain", "-o", str(out), "--db", str(closed_db))
    assert (
        result.exit_code == 2
        and result.stderr == f"error: cannot write {out}: No such file or directory\n"
    )


def test_stale_sidecar_says_what_to_do(tmp_path):
    db = tmp_path / "stale.duckdb"
    w = StoreWriter(db).start()  # holds the file, but nobody answers on the sidecar's port
    sidecar_path(db).write_text(json.dumps({"port": 1, "token": "t", "pid": 999999}))
    try:
        result = _invoke("query", "SELECT 1", "--db", str(db))
    finally:
        w.close()
    assert result.exit_code == 1
    assert "does not answer" in result.output


def test_sessions_lists_sessions(held_db):
    result = _invoke("sessions", "--db", str(held_db), "-f", "json")
    rows = json.loads(result.output)
    assert [(r["id"], r["exchanges"]) for r in rows] == [("ex-failed", 1), (samples.SESSION, 2)]


def _normalise(text: str) -> str:
    return re.sub(r"[ \t]+$", "", text, flags=re.M)


def test_show_session_snapshot(closed_db, snapshot):
    result = _invoke("show", samples.SESSION, "--db", str(closed_db))
    assert result.exit_code == 0, result.output
    assert _normalise(result.output) == snapshot


def test_show_exchange_with_error(held_db, snapshot):
    result = _invoke("show", "ex-failed", "--db", str(held_db))
    assert result.exit_code == 0, result.output
    assert _normalise(result.output) == snapshot


def test_show_unknown_id(closed_db):
    result = _invoke("show", "nope", "--db", str(closed_db))
    assert result.exit_code == 1 and "no exchange or session 'nope'" in result.output


def test_migrate_is_idempotent(tmp_path):
    db = tmp_path / "m.duckdb"
    first = _invoke("migrate", "--db", str(db))
    assert first.exit_code == 0 and first.output.startswith("applied: m001_tables")
    assert _invoke("migrate", "--db", str(db)).output.strip() == "schema is up to date"


@pytest.mark.parametrize("columns", [80, 120])
def test_sessions_table_fits_the_terminal_with_ids_whole(closed_db, columns):
    result = runner.invoke(app, ["sessions", "--db", str(closed_db)], env={"COLUMNS": str(columns)})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(map(len, lines)) <= columns
    assert any(line.startswith(samples.SESSION + " ") for line in lines), result.output


# ------------------------------------------------------------------ what a query loads

# Runs the recorder command line in a fresh interpreter and writes the modules it loaded to
# the file named by $MODULES_OUT.
_RUN_AND_LIST_MODULES = """\
import os, sys
sys.argv = ["recorder", *sys.argv[1:]]
import cli
try:
    cli.main()
finally:
    with open(os.environ["MODULES_OUT"], "w") as f:
        f.write(" ".join(sorted(sys.modules)))
"""


def _query_in_a_new_process(db, tmp_path):
    """(exit code, stdout, modules loaded) of ``recorder query ... --db DB -f json``."""
    import subprocess
    import sys

    listing = tmp_path / "modules.txt"
    argv = [sys.executable, "-c", _RUN_AND_LIST_MODULES, "query", "SELECT 1 AS one",
            "--db", str(db), "-f", "json"]  # fmt: skip
    env = {**os.environ, "MODULES_OUT": str(listing)}
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
    return proc.returncode, proc.stdout, listing.read_text().split()


def _heavy(modules, prefixes):
    return [m for m in modules if m.startswith(prefixes)]


def test_a_query_loads_no_codec_or_proxy(closed_db, tmp_path):
    """A query reads rows: the codecs (and the Exchange model that pulls them in) and
    mitmproxy are for the commands that rebuild conversations."""
    code, out, modules = _query_in_a_new_process(closed_db, tmp_path)
    assert code == 0 and json.loads(out) == [{"one": 1}]
    assert "duckdb" in modules  # no gateway holds the file: it is read here
    assert _heavy(modules, ("recorder.codecs", "recorder.exchange", "mitmproxy")) == []


def test_a_query_to_a_running_gateway_loads_no_database(tmp_path):
    """While a gateway holds the file, its query endpoint answers: DuckDB stays unloaded."""
    from recorder.store import QueryResult

    db = tmp_path / "held.duckdb"
    db.write_bytes(b"")  # the endpoint answers; the file itself is never opened
    asked = []

    def answer(sql, params):
        asked.append(sql)
        return QueryResult(["one"], ["INTEGER"], [[1]])

    server = QueryServer(db, answer)
    server.start()
    try:
        code, out, modules = _query_in_a_new_process(db, tmp_path)
    finally:
        server.stop()
    assert code == 0 and json.loads(out) == [{"one": 1}] and asked == ["SELECT 1 AS one"]
    assert _heavy(modules, ("duckdb", "recorder.codecs", "recorder.exchange", "mitmproxy")) == []


@pytest.fixture
def cli_db(tmp_path):
    """The samples and a conversation the claude-cli backend answered in two CLI sessions."""
    from tests.store.test_backend_sessions import _cli_exchange

    db = tmp_path / "cli.duckdb"
    w = StoreWriter(db).start()
    for ex in (samples.streaming(), samples.plain(), samples.failed()):
        w.put(ex)
    w.put(_cli_exchange("e1", samples.T0 + 10, "0ld5e55i-0000-4000-8000-000000000001", "k1", None))
    w.put(_cli_exchange("e2", samples.T0 + 20, "3f2a9c1d-0000-4000-8000-000000000002", "k2", None))
    w.close()
    return db


@pytest.mark.parametrize("columns", [80, 120])
def test_sessions_table_shows_the_cli_session_beside_the_id(cli_db, columns):
    result = runner.invoke(app, ["sessions", "--db", str(cli_db)], env={"COLUMNS": str(columns)})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(map(len, lines)) <= columns
    [chat] = [line for line in lines if line.startswith("chat ")]
    assert chat.split()[1] == "3f2a9c1d"  # the newest CLI session, beside the id
    assert any(line.startswith(samples.SESSION + " ") for line in lines), result.output
    rows = {
        r["id"]: r
        for r in json.loads(_invoke("sessions", "--db", str(cli_db), "-f", "json").output)
    }
    assert rows["chat"]["cost_usd"] == 1.0
    assert rows["chat"]["backend_sessions"] == [
        "0ld5e55i-0000-4000-8000-000000000001",
        "3f2a9c1d-0000-4000-8000-000000000002",
    ]
    assert rows[samples.SESSION]["backend_sessions"] is None


def test_a_stale_sidecar_is_not_asked_even_if_its_port_is_taken(tmp_path):
    """A sidecar left by a gateway that is gone (kill -9) names a dead process: the file is
    read here, even if another program now listens on that port."""
    import socket
    import subprocess
    import sys

    from recorder.store.query_server import answers

    db = tmp_path / "gone.duckdb"
    db.write_bytes(b"")
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    with socket.create_server(("127.0.0.1", 0)) as other:
        port = other.getsockname()[1]
        sidecar_path(db).write_text(json.dumps({"port": port, "token": "t", "pid": 1}))
        assert answers(db)  # pid 1 is alive and the port listens
        sidecar_path(db).write_text(
            json.dumps({"port": port, "token": "t", "pid": int(gone.stdout)})
        )
        assert not answers(db)
