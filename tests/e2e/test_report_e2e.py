"""``recorder report`` over what a real gateway recorded: a stream whose upstream stalled, and
one answered after a retry, shown as such."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import anthropic
import httpx
import pytest

from fakes.procs import BIN, free_port, start_service
from fakes.upstream import FakeUpstream
from tests.e2e.conftest import GATEWAY_ADDON

pytestmark = pytest.mark.e2e
MSG = [{"role": "user", "content": "hi"}]


def test_a_stall_and_a_retry_recorded_by_the_gateway(fake: FakeUpstream, tmp_path: Path) -> None:
    db = tmp_path / "traffic.duckdb"
    port = free_port()
    gw = start_service("gateway", [
        str(BIN / "mitmdump"), "-q", "-s", str(GATEWAY_ADDON), "-p", str(port),
        "--listen-host", "127.0.0.1", "--set", f"gateway_upstream={fake.url}/v1",
        "--set", "gateway_upstream_api=openai", "--set", f"recorder_db={db}",
        "--set", "gateway_retry_backoff=0.05",
    ], port=port, log_dir=tmp_path)  # fmt: skip
    try:
        httpx.head(gw.url, timeout=30.0).raise_for_status()
        headers = {"x-tapegate-session": "s-report", "x-fake-mode": "events:12+stall:6:1500"}
        c = anthropic.Anthropic(base_url=gw.url, api_key="x", default_headers=headers)
        with c.messages.stream(model="claude-x", max_tokens=50, messages=MSG) as s:
            s.get_final_message()
        fake.script("error:529", "text")
        session = {"x-tapegate-session": "s-report"}
        retried = anthropic.Anthropic(base_url=gw.url, api_key="x", default_headers=session)
        retried.messages.create(model="claude-x", max_tokens=5, messages=MSG)
    finally:
        gw.stop()
    out = tmp_path / "r.html"
    run = subprocess.run(
        [str(BIN / "recorder"), "report", "s-report", "--db", str(db), "-o", str(out)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    html = out.read_text()
    first, second = html.split('<section class="exchange"')[1:]
    # the upstream's pause shows on both legs, about as long as it was
    stalls = [float(x) for x in re.findall(r"stall (\d\.\d\d)s</text>", first)]
    assert len(stalls) == 2 and all(1.4 <= s < 3.0 for s in stalls), stalls
    assert "retries</b> 1" in second and "↻ 1 retry before this answer" in second
    assert "stall" not in second
