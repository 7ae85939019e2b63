"""The writer thread: round trip to Exchange values, batching, views, failure reporting."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
import threading
import time

import duckdb
import pytest

from recorder import ir
from recorder.exchange import Exchange, RecordedChunk, RecordedEvent
from recorder.store import StoreError, StoreWriter, load_exchanges, query
from recorder.store import rows as rowmod
from recorder.store import writer as writer_module
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


DEEP = b"[" * 10_000 + b"]" * 10_000


def _deep_body(ex: Exchange) -> Exchange:
    assert ex.client_request is not None
    ex.client_request.body = b'{"model":"m","metadata":{"x":' + DEEP + b"}}"
    return ex


def _surrogate_model(ex: Exchange) -> Exchange:
    ex.model_requested = ex.model_sent = "\udfff"  # what json.loads makes of "\\udfff"
    return ex


def _deep_event(ex: Exchange) -> Exchange:
    ex.events = [RecordedEvent("client", 0, 0.1, "message_delta", DEEP.decode())]
    return ex


def _odd_values(ex: Exchange) -> Exchange:
    ex.model_requested = {"not": "a string"}  # type: ignore[assignment]
    ex.route = "r\ud800"
    assert ex.client_request is not None
    ex.client_request.headers = [("x-odd\udcff", "v\udfff")]
    ex.notes = [ir.Note("a\ud800", "b")]
    return ex


def _nan_start(ex: Exchange) -> Exchange:
    ex.started_at = float("nan")  # cannot become a timestamp
    return ex


def _huge_usage(ex: Exchange) -> Exchange:
    ex.usage = ir.Usage(input_tokens=2**80, output_tokens=1)  # no BIGINT holds it
    return ex


def _circular_extra(ex: Exchange) -> Exchange:
    loop: dict[str, object] = {}
    loop["self"] = loop
    ex.extra = {"loop": loop}  # json cannot write it at all
    return ex


POISONS = [_deep_body, _surrogate_model, _deep_event, _odd_values, _nan_start, _huge_usage,
           _circular_extra]  # fmt: skip


@pytest.mark.parametrize("poison", POISONS, ids=lambda f: f.__name__.strip("_"))
def test_no_single_exchange_stops_the_writer(db, poison):
    errors: list[BaseException] = []
    w = StoreWriter(db, on_error=errors.append).start()
    try:
        w.put(poison(samples.plain(id="bad")))
        w.put(samples.streaming(id="after"))
        assert w.flush(timeout=10)
        assert w.failed is None and not errors
        assert w.written == 2 and w.skipped == 0
    finally:
        w.close()
    rows = query(db, "SELECT id, error, extra FROM exchanges ORDER BY started_unix").rows
    assert sorted(r[0] for r in rows) == ["after", "bad"]
    bad = next(r for r in rows if r[0] == "bad")
    if w.unstorable:  # stored as its failed row: the reason is said, the bodies are kept raw
        assert "not recorded in full" in bad[1] and "unstorable" in bad[2]
        raw = query(db, "SELECT client_request_body_raw FROM exchanges WHERE id = 'bad'").rows
        assert raw[0][0]


def test_the_deep_and_the_surrogate_are_stored_in_full(db):
    _write(db, _deep_body(samples.plain(id="deep")), _surrogate_model(samples.plain(id="s")))
    got = {ex.id: ex for ex in load_exchanges(db)}
    deep = got["deep"].client_request
    assert deep is not None and deep.body is not None and DEEP in deep.body  # as raw bytes
    assert got["s"].model_requested == "\ufffd"
    assert got["deep"].error is None and got["s"].error is None


def test_an_exchange_replayed_after_a_writer_died_is_not_stored_twice(db):
    _write(db, samples.plain(id="once"))
    w = StoreWriter(db).start()
    w.put(samples.plain(id="once"), replayed=True)  # committed before the old writer died
    w.put(samples.plain(id="new"), replayed=True)  # not committed before it died
    assert w.flush() and w.written == 2
    w.close()
    assert query(db, "SELECT id, count(*) FROM exchanges GROUP BY id ORDER BY id").rows == [
        ["new", 1],
        ["once", 1],
    ]


def test_a_database_failure_is_reported_and_put_refuses(db, monkeypatch):
    errors: list[BaseException] = []
    w = StoreWriter(db, on_error=errors.append).start()

    def disk_full(*args: object) -> None:
        raise duckdb.IOException("No space left on device")

    monkeypatch.setattr(w, "_append", disk_full)
    try:
        w.put(samples.plain())
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


def test_a_large_body_that_only_looks_like_json_is_kept_as_raw(db):
    ex = samples.plain(id="big-not-json")
    assert ex.client_request is not None
    ex.client_request.body = b'{"messages": [' + b'"x",' * 600_000 + b"oops"  # 2.4 MB, cut
    _write(db, ex, samples.plain(id="beside"))
    got = {e.id: e for e in load_exchanges(db)}
    assert got["big-not-json"].client_request == ex.client_request
    assert got["beside"].client_request == samples.plain().client_request


# DuckDB keeps a string longer than a few KB in overflow blocks, and a checkpoint that rewrites
# a row group pinned those of the whole row group at once: what a checkpoint needed grew with
# the large bodies recorded lately, whatever the memory limit. Bodies are stored in pieces
# shorter than that now (16 MB here stands for the writer process's 128 MB, with bodies scaled
# down alike).
SMALL_LIMIT = "16MB"


def test_large_bodies_are_stored_under_the_limit_without_lifting_it(db):
    # The bound itself: the ceiling is the limit, so nothing may lift it. Before bodies were
    # stored in pieces, the third or fourth checkpoint of these failed the database.
    errors: list[BaseException] = []
    w = StoreWriter(
        db, memory_limit=SMALL_LIMIT, memory_ceiling=SMALL_LIMIT, threads=1,
        on_error=errors.append,
    ).start()  # fmt: skip
    try:
        for i in range(8):  # 2 x 3 MB each, 48 MB in all
            w.put(samples.large(f"big-{i}", 3 << 20))
            assert w.flush(), w.failed
        for i in range(200):  # and the shape of agent traffic: bodies of tens of KB
            w.put(samples.large(f"m{i:03}", 50_000))
            if i % 20 == 19:
                assert w.flush(), w.failed
        assert (w.written, w.skipped, w.unstorable, w.failed, errors) == (208, 0, 0, None, [])
        used = w.query("SELECT sum(memory_usage_bytes) FROM duckdb_memory()").rows[0][0]
        assert used <= 16 << 20
    finally:
        w.close()
    got = {e.id: e for e in load_exchanges(db, "id IN ('big-7', 'm199')")}
    assert got["big-7"].client_request == samples.large("big-7", 3 << 20).client_request
    assert got["m199"].upstream_request == samples.large("m199", 50_000).upstream_request


def test_a_checkpoint_lifts_the_limit_only_by_what_it_pins(db, monkeypatch):
    # A limit lifted to the ceiling is memory DuckDB fills with cached blocks: bodies pin
    # nothing any more, long stream chunks pin about their size.
    targets: list[str | None] = []
    set_limit = StoreWriter._set_limit

    def spy(cur: duckdb.DuckDBPyConnection, limit: str | None) -> None:
        targets.append(limit)
        set_limit(cur, limit)

    monkeypatch.setattr(StoreWriter, "_set_limit", staticmethod(spy))
    w = StoreWriter(db, memory_limit=SMALL_LIMIT, memory_ceiling="64GB", threads=1).start()
    try:
        for i in range(120):  # 12 MB of bodies: the WAL passes 16 MB, checkpoints run
            w.put(samples.large(f"m{i:03}", 50_000))
            if i % 20 == 19:
                assert w.flush()
        bodies_only = list(targets)
        for i in range(3):
            w.put(_large_stream(f"s{i}", 3 << 20))
            assert w.flush()
        assert (w.written, w.failed) == (123, None)
    finally:
        w.close()
    # the plain limit, plus 64 MiB of slack and what is pinned (chunks, twice) or parsed (the
    # JSON check of a batch's long bodies, eight times): never the ceiling
    lifted = [writer_module._bytes(t) or 0 for t in targets if t != SMALL_LIMIT]
    assert bodies_only and max(lifted) <= 150_000_000
    assert "64GB" not in targets


def test_bodies_in_pieces_read_back_whole_and_as_json(db):
    ex = samples.plain(id="pieces")
    assert ex.client_request is not None and ex.upstream_response is not None
    text = json.dumps({"model": "m", "messages": [{"content": "é€😀" * 3000}]}, ensure_ascii=False)
    ex.client_request.body = text.encode()  # 27 KB, characters of 2, 3 and 4 bytes
    ex.upstream_response.body = bytes(range(256)) * 40  # not text
    _write(db, ex, samples.plain(id="short"))
    got = load_exchanges(db, "id = 'pieces'")[0]
    assert (got.client_request, got.upstream_response) == (ex.client_request, ex.upstream_response)
    rows = query(
        db,
        "SELECT client_request_body, typeof(client_request_body), "
        "client_request_body->>'$.model', md5(upstream_response_body_raw), "
        "upstream_response_body FROM exchanges WHERE id = 'pieces'",
    ).rows
    assert rows == [[text, "JSON", "m", hashlib.md5(ex.upstream_response.body).hexdigest(), None]]
    cut = query(
        db, "SELECT body, count(*), max(octet_length(data)) FROM body_pieces GROUP BY 1 ORDER BY 1"
    ).rows
    assert [r[0] for r in cut] == ["client_request_body", "upstream_response_body_raw"]
    assert all(r[2] <= rowmod.PIECE_BYTES for r in cut)
    assert query(
        db, "SELECT count(*) FROM exchange_rows WHERE client_request_body IS NULL"
    ).rows == [[1]]


def test_the_memory_limit_is_back_after_large_exchanges(db):
    w = StoreWriter(db, memory_limit=SMALL_LIMIT, threads=1).start()
    try:
        for i in range(4):
            w.put(samples.large(f"big-{i}", 3 << 20))
        assert w.flush()
        limit = w.query("SELECT current_setting('memory_limit')").rows
        used = w.query("SELECT sum(memory_usage_bytes) FROM duckdb_memory()").rows[0][0]
        assert limit == w.query("SELECT '15.2 MiB'").rows
        # commits never checkpoint (the writer does, lifted): DuckDB took the setting
        threshold = w.query("SELECT current_setting('checkpoint_threshold')").rows[0][0]
        assert "GiB" in threshold or "TiB" in threshold
        assert used <= 16 << 20
        assert w.written == 4
    finally:
        w.close()


def test_a_commit_the_database_cannot_make_fails_the_writer_and_skips_nothing(db):
    # At its ceiling the writer cannot store what it was given: that is the database failing
    # (the writer process is restarted and sent the batch again), never exchanges "not
    # recorded" one after another while the writer carries on.
    errors: list[BaseException] = []
    settled: list[int] = []
    w = StoreWriter(
        db, memory_limit=SMALL_LIMIT, memory_ceiling=SMALL_LIMIT, threads=1,
        on_error=errors.append, on_commit=settled.append,
    ).start()  # fmt: skip
    try:
        for i in range(8):
            if w.failed is not None:
                break
            w.put(_large_stream(f"big-{i}", 3 << 20))
            w.flush()
        assert w.failed is not None and errors == [w.failed]
        assert w.skipped == 0
        assert "memory" in str(w.failed).lower() or "pin" in str(w.failed).lower()
        assert not settled or settled[-1] == w.written  # nothing failed was acknowledged
    finally:
        w.close()


def _large_stream(id: str, size: int) -> Exchange:
    """A streamed exchange whose upstream read one chunk of ``size`` bytes: raw chunks are
    stored whole (unlike bodies), so these still need the limit lifted for a checkpoint."""
    ex = samples.streaming(id=id)
    ex.chunks = [RecordedChunk(0, 0.01, b"x" * size)]
    return ex


def _until(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_the_writer_holds_no_exchange_once_it_is_written(db):
    # It then waits for the next one, maybe for hours: a 20 MB request held meanwhile is
    # memory that never goes back (the last exchange of a batch was held by the thread).
    w = StoreWriter(db, threads=1).start()
    try:
        ex = samples.large("held", 1 << 20)
        w.put(ex)
        assert _until(lambda: w.written == 1)
        # this test's name and getrefcount's argument: nobody else
        assert _until(lambda: sys.getrefcount(ex) == 2), sys.getrefcount(ex)
    finally:
        w.close()


def test_after_a_large_batch_duckdbs_cache_and_the_c_heap_are_given_back(db, monkeypatch):
    trims: list[int] = []
    monkeypatch.setattr(writer_module, "_give_back_memory", lambda: trims.append(1))
    w = StoreWriter(db, memory_limit="128MB", threads=1).start()

    def cached() -> int:
        found = w.query(
            "SELECT coalesce(sum(memory_usage_bytes), 0) FROM duckdb_memory() "
            "WHERE tag = 'BASE_TABLE'"
        ).rows
        return int(found[0][0])

    try:
        for i in range(20):  # small: nothing to give back
            w.put(samples.plain(id=f"small-{i}"))
        assert w.flush() and trims == []
        large = [samples.large(f"big-{i}", 8 << 20) for i in range(2)]
        for ex in large:  # 2 x 2 x 8 MB of bodies: DuckDB cached ~30 MB of them
            w.put(ex)
        assert w.flush() and w.written == 22
        assert trims and len(trims) <= 2
        assert cached() <= 2 << 20, cached()  # 11 MB were left cached
        limit = w.query("SELECT current_setting('memory_limit')").rows
        assert limit == w.query("SELECT '122.0 MiB'").rows  # 128 MB, back as it was
    finally:
        w.close()
    assert len(load_exchanges(db, "id = 'big-1'")[0].client_request.body) > 8 << 20  # type: ignore[union-attr]
