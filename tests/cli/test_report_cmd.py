"""``recorder report``: an exchange or a session from the database as an HTML file."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from cli import app
from recorder.store import StoreWriter
from tests.observe import exchanges
from tests.store import samples

runner = CliRunner()


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "traffic.duckdb"
    w = StoreWriter(path).start()
    for ex in (samples.streaming(), samples.plain(), samples.failed(), exchanges.stalled()):
        w.put(ex)
    w.close()
    return path


def _invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_an_exchange_to_a_file(db, tmp_path):
    out = tmp_path / "one.html"
    result = _invoke("report", "ex-stream", "--db", str(db), "-o", str(out))
    assert result.exit_code == 0, result.output
    assert f"wrote {out} (exchange)" in result.output
    html = out.read_text()
    assert "exchange <code>ex-stream</code>" in html and "List the files" in html


def test_a_session_to_stdout(db):
    result = _invoke("report", samples.SESSION, "--db", str(db), "-o", "-")
    assert result.exit_code == 0
    assert result.stdout.startswith("<!doctype html>")
    assert result.stdout.count('<section class="exchange"') == 3  # streaming, plain, stalled


def test_the_default_file_name_and_a_stall_threshold(db, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = _invoke("report", "ex-stall", "--db", str(db), "--stall", "60")
    assert result.exit_code == 0
    assert "stall" not in (tmp_path / "report-ex-stall.html").read_text().split("<section")[1]


def test_unknown_ids_and_bad_options_are_clear_errors(db, tmp_path):
    result = _invoke("report", "nope", "--db", str(db))
    assert result.exit_code == 1 and "no exchange or session 'nope'" in result.output
    result = _invoke("report", "x", "--db", str(tmp_path / "none.duckdb"))
    assert result.exit_code == 2 and "does not exist" in result.output  # a usage error
    bad = tmp_path / "p.json"
    bad.write_text("[1]")
    result = _invoke("report", "ex-stream", "--db", str(db), "--prices", str(bad))
    assert result.exit_code == 2 and "mapping" in result.output
    result = _invoke("report", "ex-stream", "--db", str(db), "--stall", "0")
    assert result.exit_code == 2
