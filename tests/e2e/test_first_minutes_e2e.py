"""What a new user sees in the first minutes, through the real gateway and recorder: health
checks are answered but never become exchanges or sessions, and requests the gateway answers
itself show as local in mitmdump's flow lines."""

from __future__ import annotations

from pathlib import Path

import anthropic
import httpx
import pytest

from fakes.procs import BIN, free_port, start_service
from fakes.upstream import FakeUpstream
from recorder.store import query
from tests.e2e.conftest import GATEWAY_ADDON

pytestmark = pytest.mark.e2e


def test_health_checks_are_no_sessions_and_local_answers_look_local(
    tmp_path: Path, clean: FakeUpstream
) -> None:
    db = tmp_path / "traffic.duckdb"
    port = free_port()
    argv = [
        str(BIN / "mitmdump"), "-s", str(GATEWAY_ADDON), "-p", str(port),
        "--listen-host", "127.0.0.1",
        "--set", f"gateway_upstream={clean.url}/v1", "--set", "gateway_upstream_api=openai",
        "--set", "gateway_key=gw-key-1", "--set", f"recorder_db={db}",
        "--set", "gateway_console=off",  # mitmdump's own flow lines
    ]  # fmt: skip
    gw = start_service("gateway", argv, port=port, log_dir=tmp_path)
    try:
        assert httpx.head(gw.url + "/").status_code == 200
        assert httpx.get(gw.url + "/").json()["status"] == "ok"
        client = anthropic.Anthropic(base_url=gw.url, api_key="gw-key-1", max_retries=0)
        client.messages.create(model="claude-sonnet-5", max_tokens=20, messages=[
            {"role": "user", "content": "hi"}])  # fmt: skip
        with pytest.raises(anthropic.AuthenticationError):
            anthropic.Anthropic(base_url=gw.url, api_key="wrong", max_retries=0).models.list()
    finally:
        gw.stop()
    assert clean.requests and all(r.path != "/" for r in clean.requests)
    exchanges = query(db, "SELECT client_request_method FROM exchanges ORDER BY started_at").rows
    assert [m for (m,) in exchanges] == ["POST", "GET"]  # the chat and the refused one
    assert query(db, "SELECT count(*) FROM sessions").rows[0][0] == 2
    log = gw.log.read_text()
    home = f"http://127.0.0.1:{port}"
    assert f"HEAD {home}/" in log and f"GET {home}/v1/models" in log, log
    assert f"{clean.url}/v1/\n" not in log and f"GET {clean.url}/v1/models" not in log, log
    assert "answered 2 health checks (not recorded)" in log
