"""The writer thread: round trip to Exchange values, batching, views, failure reporting."""

from __future__ import annotations

import dataclasses
import threading

import duckdb
import pytest

from recorder.exchange import Exchange, HttpRequest
from recorder.store import StoreError, StoreWriter, load_exchanges, query
from tests.store import samples


@pytest.fixture
def db(tmp_path):
    return tmp_path / "t.duckdb"


def _write(db, *exchanges: Exchange) -> None:
    w = StoreWriter(db).start()
    for ex in exchanges:
        w.put(ex)
    w.close()


def test_round_trip_gives_equal_exchanges(db):
    originals = [samples.streaming(), samples.plain(), samples.failed()]
    _write(db, *(dataclasses.replace(ex) for ex in originals))
    loaded = load_exchanges(db)
    assert [ex.id for ex in loaded] == ["ex-stream", "ex-plain", "ex-failed"]
    for got, want in zip(loaded, originals, strict=True):
        assert got == want


def test_load_exchanges_where_with_params_and_open_connection(db):
    _write(db, samples.streaming(), samples.plain(), samples.failed())
    con = duckdb.connect(str(db), read_only=True)
    try:
        got = load_exchanges(con, "status >= ?", [500])
    finally:
        con.close()
    assert [ex.id for ex in got] == ["ex-failed"]
    assert got[0].upstream_response is not None
    assert got[0].upstream_response.body == b"upstream said no\xff"


def test_bodies_json_as_json_others_as_bytes(db):
    _write(db, samples.failed(), samples.plain())
    rows = query(
        db,
        "SELECT id, client_response_body->>'$.type' AS t, upstream_response_body, "
        "upstream_response_body_raw IS NULL AS raw_null FROM exchanges ORDER BY id",
    ).rows
    assert rows == [["ex-failed", "error", None, False], ["ex-plain", "message", rows[1][2], True]]


def test_events_and_chunks_tables(db):
    _write(db, samples.streaming())
    per_leg = query(db, "SELECT leg, count(*), max(seq) FROM events GROUP BY leg ORDER BY leg").rows
    assert per_leg == [["client", 10, 9], ["upstream", 5, 4]]
    first = query(db, "SELECT event, data->>'$.type' FROM events WHERE leg='client' AND seq=0").rows
    assert first == [["message_start", "message_start"]]
    chunks = query(db, "SELECT seq, octet_length(data) FROM chunks ORDER BY seq").rows
    assert chunks[0] == [0, 100]


def test_views_answer_common_questions(db):
    _write(db, samples.streaming(), samples.plain(), samples.failed())
    sessions = query(db, "SELECT id, exchanges, models, input_tokens FROM sessions ORDER BY id")
    assert sessions.rows == [
        [samples.SESSION, 2, ["claude-sonnet-5", "gpt-5.5"], 230],
        ["ex-failed", 1, None, None],
    ]
    usage = query(db, "SELECT day, model, exchanges, output_tokens FROM usage").rows
    assert usage == [["2025-11-22", "claude-sonnet-5", 1, 3], ["2025-11-22", "gpt-5.5", 1, 17],
                     ["2025-11-22", None, 1, None]]  # fmt: skip
    calls = query(db, "SELECT exchange_id, idx, call_id, name, arguments FROM tool_calls").rows
    assert calls == [["ex-stream", 0, "toolu_1", "Bash", '{"command": "ls"}']]
    timings = query(db, "SELECT ttfb_ms, ttft_ms, duration_ms FROM timings WHERE id='ex-stream'")
    assert timings.rows == [[10.0, 17.0, 60.0]]


def test_put_is_cheap_and_flush_waits_for_commit(db):
    w = StoreWriter(db, flush_interval=10.0).start()  # long interval: flush must not wait it out
    try:
        w.put(samples.plain())
        assert w.flush(timeout=5)
        assert w.query("SELECT count(*) FROM exchanges").rows == [[1]]
    finally:
        w.close()


def test_many_threads_put_concurrently(db):
    w = StoreWriter(db, flush_interval=0.01).start()

    def produce(n: int) -> None:
        for i in range(50):
            w.put(samples.plain(id=f"t{n}-{i}"))

    threads = [threading.Thread(target=produce, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    w.close()
    assert query(db, "SELECT count(DISTINCT id) FROM exchanges").rows == [[400]]


def test_invalid_json_for_duckdb_is_kept_as_raw(db):
    ex = samples.plain()
    assert ex.client_request is not None
    ex.client_request.body = b'{"a": "\\ud800"}'  # Python accepts a lone surrogate, DuckDB does not
    _write(db, ex)
    assert load_exchanges(db)[0].client_request == ex.client_request


def test_write_failure_is_reported_and_put_refuses(db):
    errors: list[BaseException] = []
    w = StoreWriter(db, on_error=errors.append).start()
    try:
        bad = samples.plain()
        bad.client_request = HttpRequest("POST", "http://x", [], b"")
        bad.extra = {"x": object()}  # serialised with str(), fine
        bad.started_at = float("nan")  # cannot become a timestamp: the batch fails
        w.put(bad)
        assert not w.flush(timeout=5)
        assert errors and w.failed is errors[0]
        with pytest.raises(StoreError, match="recording to .* failed"):
            w.put(samples.plain())
    finally:
        w.close()


def test_secrets_are_redacted_again_before_writing(db):
    ex = samples.plain()
    assert ex.client_request is not None
    ex.client_request.headers = [("x-api-key", "sk-ant-LEAK"), ("Authorization", "Bearer LEAK2")]
    ex.client_request.url = "http://127.0.0.1:8080/v1/messages?key=LEAK3"
    _write(db, ex)
    got = load_exchanges(db)[0].client_request
    assert got is not None
    assert got.headers == [("x-api-key", "[redacted]"), ("Authorization", "[redacted]")]
    assert got.url.endswith("?key=[redacted]")
