"""The Recorder addon's ``recorder_cassette``: a live run written as a cassette, next to or
instead of DuckDB; refuses to overwrite; never lets a secret into the files."""

from __future__ import annotations

import json
from pathlib import Path

import anthropic
import httpx2
import pytest
from mitmproxy import exceptions
from mitmproxy.test import taddons, tflow

from addons.metadata import EXCHANGE
from addons.recorder_hooks import Recorder
from fakes.upstream import FakeUpstream
from recorder.store import load_exchanges
from replay.cassette import load
from replay.export import STAGING_DIR
from replay.transport import CassetteTransport
from replay.verify import verify_cassette
from tests.addons.test_recorder_hooks import CANARY, SECRETS, _flow, _json_response, _secret_flows
from tests.e2e.conftest import start_gateway
from tests.store import samples


@pytest.fixture
def tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default recorder_db must never land in the repo
    return tmp_path


def _gateway_flow(ex=None):
    f = _flow()
    f.response = _json_response({})
    f.metadata[EXCHANGE] = ex or samples.streaming()
    return f


def test_default_is_off_and_db_only(tmp):
    rec = Recorder()
    with taddons.context(rec) as tctx:
        assert tctx.options.recorder_cassette == ""
        assert tctx.options.recorder_cassette_overwrite is False
        tctx.configure(rec, recorder_db="")
        assert rec.cassette is None


def test_cassette_and_database_both_receive_the_run(tmp):
    rec = Recorder()
    cassette, db = tmp / "cassettes" / "new", tmp / "rec.duckdb"
    with taddons.context(rec) as tctx:
        tctx.configure(rec, recorder_db=str(db), recorder_cassette=str(cassette))
        late = samples.plain(id="late", started_at=samples.T0 + 5)
        rec.response(_gateway_flow(late))  # finishes first, started later
        rec.response(_gateway_flow(samples.streaming()))
        rec.done()
    c = load(cassette)
    assert c.name == "new"
    assert [i.id for i in c.interactions] == ["ex-stream", "late"]  # in start order
    assert c.interactions[0].stream and (cassette / "0000.client.sse").is_file()
    assert not (cassette / STAGING_DIR).exists()
    assert {ex.id for ex in load_exchanges(db)} == {"ex-stream", "late"}


def test_cassette_only_and_written_while_running(tmp):
    rec = Recorder()
    cassette = tmp / "new"
    with taddons.context(rec) as tctx:
        tctx.configure(rec, recorder_db="", recorder_cassette=str(cassette))
        assert rec.writer is None and rec.cassette is not None
        rec.response(_gateway_flow())
        assert rec.cassette.flush()  # what an interval tick does, without waiting for it
        assert [i.id for i in load(cassette).interactions] == ["ex-stream"]
        f = _flow("/v1/chat/completions", {"model": "llama", "messages": []})
        f.error = tflow.terr("Connection refused")  # pass-through flow without a response
        rec.error(f)
        rec.done()
    got = {i.id: i for i in load(cassette).interactions}
    assert set(got) == {"ex-stream", f.id}
    assert got[f.id].meta["error"] == "Connection refused" and got[f.id].client is not None
    assert not list(tmp.glob("*.duckdb"))


def test_a_run_that_recorded_nothing_writes_nothing(tmp):
    rec = Recorder()
    with taddons.context(rec) as tctx:
        tctx.configure(rec, recorder_db="", recorder_cassette=str(tmp / "new"))
        rec.done()
    assert not (tmp / "new").exists()


@pytest.mark.parametrize("existing", ["cassette", "other-file"])
def test_existing_directory_is_refused_unless_overwrite(tmp, existing):
    d = tmp / "old"
    d.mkdir()
    if existing == "cassette":
        (d / "cassette.json").write_text('{"version": 1, "interactions": []}')
        (d / "0007.client.sse").write_text("data: stale\n\n")
    else:
        (d / "notes.txt").write_text("mine")
    rec = Recorder()
    with taddons.context(rec) as tctx:
        with pytest.raises(exceptions.OptionsError, match="already exists and is not empty.*"
                           "recorder_cassette_overwrite=true"):  # fmt: skip
            tctx.configure(rec, recorder_db="", recorder_cassette=str(d))
        assert rec.cassette is None
        tctx.configure(rec, recorder_cassette=str(d), recorder_cassette_overwrite=True)
        rec.response(_gateway_flow())
        rec.done()
    assert [i.id for i in load(d).interactions] == ["ex-stream"]
    assert not (d / "0007.client.sse").exists()  # stale streams go with the old cassette


def test_empty_directory_is_fine(tmp):
    (tmp / "new").mkdir()
    rec = Recorder()
    with taddons.context(rec) as tctx:
        tctx.configure(rec, recorder_db="", recorder_cassette=str(tmp / "new"))
        assert rec.cassette is not None
        rec.done()


def test_cassette_write_failure_refuses_traffic(tmp):
    rec = Recorder()
    with taddons.context(rec) as tctx:
        tctx.configure(rec, recorder_db="", recorder_cassette=str(tmp / "new"))
        assert rec.cassette is not None
        rec.cassette.failed = OSError("read-only file system")
        f = _flow()
        rec.request(f)
        rec.done()
    assert f.response is not None and f.response.status_code == 503
    assert "read-only file system" in json.loads(f.response.content or b"")["error"]["message"]


def _bytes_in(d: Path) -> bytes:
    return b"".join(p.read_bytes() for p in d.rglob("*") if p.is_file())


def test_no_secret_reaches_the_cassette(tmp):
    rec = Recorder()
    cassette = tmp / "new"
    with taddons.context(rec) as tctx:
        tctx.configure(rec, recorder_db="", recorder_cassette=str(cassette))
        for f in _secret_flows():
            rec.response(f)
        rec.done()
    data = _bytes_in(cassette)
    assert CANARY.encode() in data  # the grep can see header values at all
    assert b"[redacted]" in data
    for secret in SECRETS:
        assert secret.encode() not in data


# ------------------------------------------------------------------ end to end (mitmdump)

UPSTREAM_KEY = "sk-upstream-cafe0123456789"
CLIENT_KEY = "fake-client-key-CLIENTSECRET77"
TOOLS = [{"name": "get_weather", "description": "w", "input_schema": {"type": "object"}}]


def _final_message(client: anthropic.Anthropic) -> anthropic.types.Message:
    with client.messages.stream(
        model="claude-sonnet-5",
        max_tokens=50,
        messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=TOOLS,  # type: ignore[arg-type]
    ) as s:
        return s.get_final_message()


@pytest.mark.e2e
def test_gateway_records_a_cassette_that_verifies_and_replays(tmp_path: Path) -> None:
    cassette = tmp_path / "cassettes" / "new"
    fake = FakeUpstream().start()
    try:
        fake.script("tool")  # through the queue, so no test header lands in the cassette
        gw = start_gateway(
            tmp_path,
            [
                f"gateway_upstream={fake.url}/v1",
                "gateway_upstream_api=openai",
                "gateway_upstream_key_env=TAPEGATE_TEST_UPSTREAM_KEY",
                "gateway_retries=0",
                f"recorder_cassette={cassette}",
            ],
            env={"TAPEGATE_TEST_UPSTREAM_KEY": UPSTREAM_KEY},
        )
        try:
            live = _final_message(
                anthropic.Anthropic(base_url=gw.url, api_key=CLIENT_KEY, max_retries=0)
            )
        finally:
            gw.stop()  # SIGTERM -> done: the cassette is complete
        assert gw.proc.returncode == 0, gw.log_tail()
    finally:
        fake.stop()
    assert live.stop_reason == "tool_use"

    result = verify_cassette(cassette)
    assert result.ok and len(result.checks) == 1 and not result.checks[0].skipped, result.report()
    data = _bytes_in(cassette)
    assert UPSTREAM_KEY.encode() not in data and CLIENT_KEY.encode() not in data

    t = CassetteTransport(cassette, role="gateway")  # the test was the gateway's client
    replayed = _final_message(
        anthropic.Anthropic(
            base_url="http://replay.invalid",
            api_key="x",
            max_retries=0,
            http_client=httpx2.Client(transport=t),
        )  # fmt: skip
    )
    t.check()
    assert replayed.model_dump() == live.model_dump()
