"""The Recorder addon in a mitmproxy test context: hooks, pass-through, failure, secrets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mitmproxy import http
from mitmproxy.test import taddons, tflow, tutils

from addons.metadata import EXCHANGE
from addons.recorder_hooks import Recorder, scrub
from recorder.exchange import Exchange, HttpRequest, RecordedEvent
from recorder.store import load_exchanges, query
from recorder.store.query_server import sidecar_path
from tests.store import samples


@pytest.fixture
def db(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default recorder_db must never land in the repo
    return tmp_path / "rec.duckdb"


def _flow(path: str = "/v1/messages", body: dict | None = None, headers=(), url_query: str = ""):
    content = json.dumps(body if body is not None else {"model": "m", "messages": []}).encode()
    hdrs = http.Headers([(k.encode(), v.encode()) for k, v in headers])
    req = tutils.treq(method=b"POST", host="127.0.0.1", port=8080, path=(path + url_query).encode(),
                      headers=hdrs, content=content)  # fmt: skip
    return tflow.tflow(req=req)


def _json_response(body: dict, status: int = 200, headers=()) -> http.Response:
    hdrs = [("content-type", "application/json"), *headers]
    return http.Response.make(status, json.dumps(body), dict(hdrs))


def test_options_default_and_disable(db):
    rec = Recorder()
    with taddons.context(rec) as tctx:
        assert tctx.options.recorder_db == "traffic.duckdb"
        assert tctx.options.recorder_flush_ms == 50
        tctx.configure(rec, recorder_db="")
        assert rec.writer is None
        f = _flow()
        f.response = _json_response({})
        rec.response(f)  # disabled: nothing happens, nothing breaks
        tctx.configure(rec, recorder_db=str(db))
        assert rec.writer is not None and sidecar_path(db).exists()
        rec.done()
    assert not sidecar_path(db).exists()


def test_gateway_exchange_is_written_as_is(db):
    rec = Recorder()
    with taddons.context(rec) as tctx:
        tctx.configure(rec, recorder_db=str(db))
        f = _flow()
        f.response = _json_response({})
        f.metadata[EXCHANGE] = samples.streaming()
        rec.response(f)
        rec.error(f)  # a later error hook must not record the flow twice
        rec.done()
    assert load_exchanges(db) == [samples.streaming()]


def test_client_disconnect_keeps_partial_events(db):
    rec = Recorder()
    with taddons.context(rec) as tctx:
        tctx.configure(rec, recorder_db=str(db))
        ex = samples.streaming()
        ex.events = ex.events[:3]
        ex.t_end = None
        f = _flow()
        f.error = tflow.terr("Client disconnected.")
        f.metadata[EXCHANGE] = ex
        rec.error(f)
        rec.done()
    [got] = load_exchanges(db)
    assert got.error == "Client disconnected."
    assert len(got.events) == 3 and got.t_end is not None


def test_pass_through_json_flow(db):
    rec = Recorder()
    answer = {"id": "c", "object": "chat.completion", "model": "llama-3",
              "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"},
                           "finish_reason": "stop"}],
              "usage": {"prompt_tokens": 5, "completion_tokens": 1}}  # fmt: skip
    with taddons.context(rec) as tctx:
        tctx.configure(rec, recorder_db=str(db))
        f = _flow("/v1/chat/completions", {"model": "llama", "messages": [
            {"role": "user", "content": "hello"}]})  # fmt: skip
        f.response = _json_response(answer)
        rec.response(f)
        rec.done()
    [ex] = load_exchanges(db)
    assert (ex.id, ex.client_dialect, ex.model_requested, ex.model_answered) == (
        f.id,
        "openai",
        "llama",
        "llama-3",
    )
    assert ex.usage is not None and (ex.usage.input_tokens, ex.usage.output_tokens) == (5, 1)
    # the IR's vocabulary, as on the gateway's path (OpenAI said "stop")
    assert ex.stop_reason == "end_turn"
    assert ex.session_id is not None and ex.session_id.startswith("h:")
    assert ex.client_response is not None and json.loads(ex.client_response.body or b"") == answer


def test_pass_through_buffered_sse_flow_gets_events_on_both_legs(db):
    rec = Recorder()
    sse = "".join(f"event: {e}\ndata: {d}\n\n" for e, d in samples.CLIENT_EVENTS)
    with taddons.context(rec) as tctx:
        tctx.configure(rec, recorder_db=str(db))
        f = _flow(body={"model": "claude", "stream": True, "messages": []})
        f.response = http.Response.make(200, sse, {"content-type": "text/event-stream"})
        rec.response(f)
        rec.done()
    [ex] = load_exchanges(db)
    assert ex.stream and ex.stop_reason == "tool_use" and ex.model_answered == "gpt-5.5"
    legs = [e.leg for e in ex.events]
    assert legs.count("client") == legs.count("upstream") == len(samples.CLIENT_EVENTS)
    calls = query(db, "SELECT name, arguments FROM tool_calls").rows
    assert calls == [["Bash", '{"command": "ls"}']]


def test_flow_that_failed_before_any_response_is_recorded(db):
    rec = Recorder()
    with taddons.context(rec) as tctx:
        tctx.configure(rec, recorder_db=str(db))
        f = _flow()
        f.error = tflow.terr("Connection refused")
        rec.error(f)
        rec.done()
    [ex] = load_exchanges(db)
    assert ex.error == "Connection refused" and ex.client_response is None


def test_a_pass_through_request_that_never_arrived_whole_is_the_clients_error(db):
    # Issue 11: a malformed chunked body under a request the gateway had refused at its head
    # (a Host naming another service) was recorded as that 403, never sent, and no client error.
    rec = Recorder()
    with taddons.context(rec) as tctx:
        tctx.configure(rec, recorder_db=str(db))
        f = _flow()
        f.request.timestamp_end = None
        f.response = _json_response({"type": "error"}, status=403)
        f.error = tflow.terr("HTTP/1 protocol error: illegal chunk header: bytearray(b'ZZZ')")
        rec.error(f)
        rec.done()
    [ex] = load_exchanges(db)
    assert ex.error is not None and ex.error.startswith("client request incomplete: HTTP/1")
    assert ex.extra["client_error"] is True and ex.client_response is None
    assert ex.client_request is not None and ex.client_request.method == "POST"
    assert ex.client_request.url.endswith("/v1/messages")


@pytest.mark.parametrize(
    ("path", "shape"), [("/v1/messages", "anthropic"), ("/v1/chat/completions", "openai")]
)
def test_writer_failure_refuses_traffic_with_503_in_dialect(db, path, shape):
    rec = Recorder()
    with taddons.context(rec) as tctx:
        tctx.configure(rec, recorder_db=str(db))
        assert rec.writer is not None
        rec.writer.failed = OSError("disk full")
        f = _flow(path)
        rec.request(f)
        rec.done()
    assert f.response is not None and f.response.status_code == 503
    body = json.loads(f.response.content or b"")
    if shape == "anthropic":
        assert body["type"] == "error" and "disk full" in body["error"]["message"]
    else:
        assert "disk full" in body["error"]["message"]


SECRETS = ["sk-ant-api03-SECRETKEY", "Bearer sk-proj-BEARERSECRET", "session=COOKIESECRET",
           "URLKEYSECRET", "SETCOOKIESECRET"]  # fmt: skip
CANARY = "CANARYVALUE-visible-header"


def _secret_flows():
    headers = [("x-api-key", SECRETS[0]), ("Authorization", SECRETS[1]), ("Cookie", SECRETS[2]),
               ("x-canary", CANARY)]  # fmt: skip
    passthrough = _flow(headers=headers, url_query=f"?key={SECRETS[3]}&beta=true")
    passthrough.response = _json_response({"ok": 1}, headers=[("set-cookie", SECRETS[4])])
    gateway = _flow()
    gateway.response = _json_response({})
    ex = samples.plain(id="gw")
    ex.client_request = HttpRequest(
        "POST", f"http://127.0.0.1:8080/v1/messages?api_key={SECRETS[3]}", headers, b"{}"
    )  # fmt: skip — deliberately NOT redacted
    ex.events = [RecordedEvent("client", 0, 0.0, None, "{}")]
    gateway.metadata[EXCHANGE] = ex
    return [passthrough, gateway]


def _bytes_on_disk(db: Path) -> bytes:
    return b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*") if p.is_file())


def test_no_secret_reaches_the_database_file(db):
    rec = Recorder()
    with taddons.context(rec) as tctx:
        tctx.configure(rec, recorder_db=str(db))
        for f in _secret_flows():
            rec.response(f)
        assert rec.writer is not None and rec.writer.flush()
        live = _bytes_on_disk(db)  # database + WAL while the gateway runs
        rec.done()
    closed = _bytes_on_disk(db)  # after the checkpoint on close
    assert CANARY.encode() in live  # the grep can see header values at all
    for secret in SECRETS:
        assert secret.encode() not in live
        assert secret.encode() not in closed
    text = query(db, "SELECT string_agg(CAST(COLUMNS(*) AS VARCHAR), ' ') FROM exchanges").rows
    assert not any(s in json.dumps(text) for s in SECRETS)
    assert "[redacted]" in json.dumps(text)
    assert all(isinstance(ex, Exchange) for ex in load_exchanges(db))


def test_a_finished_flow_shows_no_secret_to_whatever_logs_it() -> None:
    f = tflow.tflow(resp=True)
    f.request.path = "/v1/messages?client_secret=s1&beta=true"
    f.request.headers["x-auth-token"] = "s2"
    f.response.headers["set-cookie"] = "s3"
    scrub(f)
    assert f.request.path == "/v1/messages?client_secret=[redacted]&beta=true"
    assert f.request.headers["x-auth-token"] == "[redacted]"
    assert f.response.headers["set-cookie"] == "s3"  # not sent yet: the client needs it
    assert f.request.headers["content-length"]  # the rest untouched


def test_what_could_not_be_stored_is_summed_up_at_shutdown(db, caplog):
    from recorder.store.writer_process import EXCHANGE as FRAME_KIND
    from recorder.store.writer_process import frame

    rec = Recorder()
    with taddons.context(rec) as tctx:
        tctx.configure(rec, recorder_db=str(db))
        assert rec.writer is not None
        rec.writer._send(frame(FRAME_KIND, b"not an exchange"), exchange=True)
        rec.writer.put(samples.plain())
        assert rec.writer.flush()
        # the same counts while it runs, for the health check
        assert rec.counts() == {
            "stored": 1, "failed_rows": 0, "not_recorded": 1, "writer_restarts": 0,
            "unconfirmed": 0,
        }  # fmt: skip
        rec.done()
    assert "1 could not be stored at all and 0 only as failed rows" in caplog.text
    assert rec.counts() is None  # no database is written any more
