from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

import cli  # noqa: F401  (registers the commands)
from cli.app import app
from replay.cassette import load
from tests.replay.conftest import ANTHROPIC, OPENAI, recorded_body
from tests.replay.recording import record

runner = CliRunner()


def test_verify_passes_on_the_examples() -> None:
    result = runner.invoke(app, ["verify", str(ANTHROPIC.parent)])
    assert result.exit_code == 0, result.output
    assert "anthropic-hello#1: ok" in result.output and "cassettes verified" in result.output


def test_verify_fails_with_a_diff(monkeypatch: pytest.MonkeyPatch) -> None:
    from recorder import translate

    real = translate.StreamTranslator.feed
    monkeypatch.setattr(
        translate.StreamTranslator, "feed", lambda self, c: real(self, c).replace(b"Hello", b"Bye")
    )
    result = runner.invoke(app, ["verify", str(OPENAI)])
    assert result.exit_code == 1
    assert (
        "openai-hello#1: DIFFERS" in result.output
        and '+              "content": "Bye"' in result.output
    )


def test_verify_without_cassettes(tmp_path: Path) -> None:
    result = runner.invoke(app, ["verify", str(tmp_path)])
    assert result.exit_code == 2
    assert (
        result.stderr
        == f"error: no cassette at {tmp_path} (no cassette.json in it or its folders)\n"
    )


def test_verify_of_a_path_that_holds_no_cassette_is_a_usage_error(tmp_path: Path) -> None:
    """A typo among the paths verified the others and exited 0: CI checked fewer cassettes."""
    for wrong in (tmp_path / "nothere", tmp_path):
        result = runner.invoke(app, ["verify", str(ANTHROPIC), str(wrong)])
        assert result.exit_code == 2, result.output
        assert result.stderr.startswith(f"error: no cassette at {wrong} (")
        assert "verified" not in result.output


def test_verify_of_an_unreadable_cassette_is_a_usage_error(tmp_path: Path) -> None:
    """As replay and faults say of it (exit 2), not a failed check (it exited 1)."""
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "cassette.json").write_text("{")
    result = runner.invoke(app, ["verify", str(broken), str(ANTHROPIC)])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"error: {broken}/cassette.json: not valid JSON")
    assert "1/2 cassettes verified, 1 unreadable" in result.output
    for command in (["replay", str(broken)], ["faults", str(broken)]):
        assert runner.invoke(app, command).exit_code == 2


def test_export_builds_the_where_clause_and_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}
    body = load(OPENAI).interactions[0].upstream.response.body  # type: ignore[union-attr]

    def load_exchanges(db: str, where: str | None = None, params: Any = ()) -> list[Any]:
        seen.update(db=db, where=where, params=params)
        msgs = [{"role": "user", "content": "hi"}]
        return [
            record(
                "openai", "openai", {"model": "gpt-5-mini", "messages": msgs}, upstream_body=body
            )
        ]

    fake = types.ModuleType("recorder.store.reader")
    fake.load_exchanges = load_exchanges  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "recorder.store.reader", fake)
    db = tmp_path / "traffic.duckdb"
    db.write_bytes(b"")
    out = tmp_path / "cassettes" / "x"
    result = runner.invoke(
        app,
        [
            "export",
            "--db",
            str(db),
            "--session",
            "s'1",
            "--id",
            "a",
            "--id",
            "b",
            "--where",
            "status = 200",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert seen["where"] == "(status = 200) AND session_id = ? AND id IN (?, ?)"
    assert seen["params"] == ["s'1", "a", "b"]
    assert "wrote 1 interaction to" in result.output
    assert load(out).interactions[0].client_dialect == "openai"


def test_export_from_a_real_store(tmp_path: Path) -> None:
    writer_mod = pytest.importorskip("recorder.store.writer")
    body = load(OPENAI).interactions[0].upstream.response.body  # type: ignore[union-attr]
    chunks = [c for _, c in load(OPENAI).interactions[1].upstream.response.stream.chunks()]  # type: ignore[union-attr]
    msgs = [{"role": "user", "content": "hi"}]
    one = record(
        "anthropic",
        "openai",
        {"model": "claude-sonnet-5", "max_tokens": 9, "messages": msgs},
        upstream_body=body,
        id="one",
        started_at=1.0,
    )
    two = record(
        "anthropic",
        "openai",
        {"model": "claude-sonnet-5", "max_tokens": 9, "stream": True, "messages": msgs},
        upstream_chunks=chunks,
        id="two",
        started_at=2.0,
    )
    one.session_id = two.session_id = "s1"
    db = tmp_path / "traffic.duckdb"
    w = writer_mod.StoreWriter(db).start()
    for ex in (one, two):
        w.put(ex)
    w.close()
    out = tmp_path / "cassettes" / "from-db"
    result = runner.invoke(app, ["export", "--db", str(db), "--session", "s1", str(out)])
    assert result.exit_code == 0, result.output
    cas = load(out)
    assert [i.id for i in cas.interactions] == ["one", "two"]
    up = cas.interactions[1].upstream
    assert up is not None and up.response is not None and up.response.stream is not None
    assert [c for _, c in up.response.stream.chunks()] == chunks
    verified = runner.invoke(app, ["verify", str(out)])
    assert verified.exit_code == 0, verified.output


def test_export_without_database(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["export", "--db", str(tmp_path / "no.duckdb"), str(tmp_path / "c")]
    )
    assert result.exit_code == 2


def test_export_finds_the_database_in_recorder_db_like_the_other_commands(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["export", str(tmp_path / "c")], env={"RECORDER_DB": str(tmp_path / "no.duckdb")}
    )
    assert result.exit_code == 2 and "RECORDER_DB" in result.output


def test_export_refuses_to_overwrite_a_cassette_unless_told(tmp_path: Path) -> None:
    out = tmp_path / "c"
    out.mkdir()
    (out / "cassette.json").write_text("{}")
    db = tmp_path / "t.duckdb"
    from recorder.store import StoreWriter
    from tests.store import samples

    w = StoreWriter(db).start()
    w.put(samples.plain())
    w.close()
    refused = runner.invoke(app, ["export", "--db", str(db), str(out)])
    assert refused.exit_code == 2 and "--overwrite" in refused.output
    assert (out / "cassette.json").read_text() == "{}"
    replaced = runner.invoke(app, ["export", "--db", str(db), str(out), "--overwrite"])
    assert replaced.exit_code == 0, replaced.output
    assert load(out).interactions


def test_replay_rejects_bad_options() -> None:
    assert runner.invoke(app, ["replay", str(ANTHROPIC), "--as", "proxy"]).exit_code == 2
    assert runner.invoke(app, ["replay", str(ANTHROPIC), "--timing", "slow"]).exit_code == 2
    assert runner.invoke(app, ["replay", "/nonexistent/cassette"]).exit_code == 2


def test_replay_on_a_port_it_cannot_have_is_a_usage_error_not_a_traceback() -> None:
    out_of_range = runner.invoke(app, ["replay", str(ANTHROPIC), "--port", "99999"])
    assert out_of_range.exit_code == 2 and "65535" in out_of_range.output
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        taken = runner.invoke(app, ["replay", str(ANTHROPIC), "--port", str(port)])
    assert taken.exit_code == 2, taken.output
    assert taken.exception is None or isinstance(taken.exception, SystemExit)
    text = " ".join(taken.output.split())
    assert f"cannot listen on 127.0.0.1:{port}: address" in text and "--port 0" in text


def _serve(*args: str) -> subprocess.Popen[str]:
    code = "from cli import main; main()"
    return subprocess.Popen(
        [sys.executable, "-c", code, "replay", *args, "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_replay_serves_prints_url_and_stops_cleanly_on_sigterm() -> None:
    proc = _serve(str(ANTHROPIC), "--as", "gateway")
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        with httpx.Client(base_url=url) as c:
            for i in (0, 1):
                r = c.post("/v1/messages", json=recorded_body(ANTHROPIC, i, "client"))
                assert r.status_code == 200
        assert r.text.rstrip().endswith('data: {"type":"message_stop"}')
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "played 2/2 interactions, 0 misses" in err


def test_replay_strict_exit_code_when_not_fully_played() -> None:
    proc = _serve(str(OPENAI))
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        r = httpx.post(url + "/v1/chat/completions", json={"model": "nope", "messages": []})
        assert r.status_code == 404 and r.json()["error"]["code"] == "cassette_miss"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert proc.returncode == 1
    assert "was never played" in err and json.dumps("nope") in err


def test_replay_as_gateway_with_a_fault() -> None:
    proc = _serve(str(ANTHROPIC), "--as", "gateway", "--fault", "1=error@2:overloaded")
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        r = httpx.post(url + "/v1/messages", json=recorded_body(ANTHROPIC, 1, "client"))
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert r.headers["x-tapegate-fault"] == "error@2:overloaded"
    events = [line for line in r.text.splitlines() if line.startswith("event: ")]
    assert events == ["event: message_start", "event: content_block_start", "event: error"]
    error = json.loads(r.text.split("event: error\ndata: ")[1])
    assert error["error"]["type"] == "overloaded_error"
    assert "faults 1=error@2:overloaded" in err
    assert proc.returncode == 0, err  # a faulted run may leave interactions unplayed


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("explode@3", "unknown fault 'explode@3'"),
        ("0=truncate@2", "interaction 0 is not a stream"),
        ("truncate@99", "fits no interaction"),
    ],
)
def test_replay_refuses_a_fault_that_cannot_happen(fault: str, message: str) -> None:
    result = runner.invoke(app, ["replay", str(ANTHROPIC), "--fault", fault])
    assert result.exit_code == 2
    assert message in " ".join(result.output.split()).replace("│", "")


def test_faults_lists_the_places_worth_breaking(snapshot: Any) -> None:
    root = ANTHROPIC.parent
    out = []
    for args in (
        [str(root / "o2a-stream-tool")],
        [str(root / "o2a-stream-tool"), "--as", "gateway", "--events"],
        [str(root / "a2o-stream-thinking")],
        [str(ANTHROPIC)],
        [str(root / "o2a-text")],
    ):
        result = runner.invoke(app, ["faults", *args])
        assert result.exit_code == 0, result.output
        out.append(f"$ recorder faults {' '.join(args).replace(str(root) + '/', 'cassettes/')}")
        out.append(result.output.replace(str(root) + "/", "cassettes/"))
    assert "\n".join(out) == snapshot


def test_verify_labels_by_folder_and_does_not_count_skipped_as_verified(tmp_path: Path) -> None:
    import shutil

    renamed = tmp_path / "my-bug"
    shutil.copytree(ANTHROPIC, renamed)
    skipped = tmp_path / "no-dialects"
    shutil.copytree(ANTHROPIC, skipped)
    doc = json.loads((skipped / "cassette.json").read_text())
    for it in doc["interactions"]:
        it.pop("client_dialect", None)
        it.pop("upstream_dialect", None)
    (skipped / "cassette.json").write_text(json.dumps(doc))
    result = runner.invoke(app, ["verify", str(renamed), str(skipped)])
    assert result.exit_code == 0, result.output
    assert f"{renamed}#0: ok" in result.output  # where it is, not its recorded name
    assert f"{skipped}#0: skipped: dialects not recorded" in result.output
    assert "1/2 cassettes verified, 1 with nothing to compare (all skipped)" in result.output


def test_export_where_nothing_can_be_written_is_one_line(tmp_path: Path) -> None:
    """A folder that cannot be created was a FileNotFoundError traceback (exit 1), after the
    database had been read; now a usage error before it is."""
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    db = tmp_path / "none-needed.duckdb"
    db.write_text("")  # never opened: the output is checked first
    result = runner.invoke(app, ["export", "--db", str(db), str(blocker / "cas")])
    assert result.exit_code == 2, result.output
    assert f"cannot write a cassette into {blocker / 'cas'}: Not a directory" in result.output
    assert "Traceback" not in result.output and sorted(tmp_path.iterdir()) == [blocker, db]


def test_the_writability_check_leaves_nothing_behind(tmp_path: Path) -> None:
    from replay.export import check_writable

    check_writable(tmp_path / "new" / "deeper")
    assert list(tmp_path.iterdir()) == []
