"""No hang: the live gateway's deadlines (first byte, idle, total) against an upstream that sends
a JSON head and stalls, trickles a byte at a time, or never finishes; the client gets a 504 or
its dialect's mid-stream error naming the option, and the exchange is recorded with it. Each
deadline is a second or two here; the defaults are minutes (docs: the options' help)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import anthropic
import httpx
import openai
import pytest

from fakes.procs import BIN, Service, free_port, start_service
from fakes.upstream import FakeUpstream
from tests.e2e.conftest import GATEWAY_ADDON, Gw, extra, record

pytestmark = pytest.mark.e2e

MSG = [{"role": "user", "content": "hi"}]
IDLE, FIRST_BYTE, TOTAL = 1.0, 2.0, 4.0


def _gateway(fake: FakeUpstream, d: Path, db: Path | None) -> Service:
    routes = d / "routes.yaml"
    routes.write_text(
        f"routes:\n  - name: to-openai\n    match: {{header: {{x-route: to-openai}}}}\n"
        f"    upstream: {fake.url}/v1\n    api: openai\n"
    )
    port = free_port()
    argv = [
        str(BIN / "mitmdump"), "-q", "-s", str(GATEWAY_ADDON), "-p", str(port),
        "--listen-host", "127.0.0.1",
        "--set", f"gateway_upstream={fake.url}",
        "--set", f"gateway_config={routes}",
        "--set", "gateway_retries=0",
        "--set", f"gateway_idle_timeout={IDLE:g}",
        "--set", f"gateway_first_byte_timeout={FIRST_BYTE:g}",
        "--set", f"gateway_total_timeout={TOTAL:g}",
        "--set", f"recorder_db={db or ''}",
    ]  # fmt: skip
    svc = start_service("gateway", argv, port=port, log_dir=d)
    httpx.head(svc.url, timeout=30.0).raise_for_status()  # the addon is loaded
    return svc


@pytest.fixture(scope="module")
def gw(fake: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gw]:
    d = tmp_path_factory.mktemp("timeouts")
    svc = _gateway(fake, d, d / "traffic.duckdb")
    yield Gw(svc, d / "traffic.duckdb")
    svc.stop()


@pytest.fixture(scope="module")
def lean(fake: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gw]:
    """Recording off: a pass-through stream is not even parsed, only its events counted."""
    d = tmp_path_factory.mktemp("timeouts-lean")
    svc = _gateway(fake, d, None)
    yield Gw(svc, None)
    svc.stop()


def ant(gw: Gw, mode: str, route: str | None = None) -> anthropic.Anthropic:
    headers = {"x-fake-mode": mode} | ({"x-route": route} if route else {})
    return anthropic.Anthropic(
        base_url=gw.url, api_key="k", max_retries=0, timeout=30.0, default_headers=headers
    )


def oai(gw: Gw, mode: str) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=f"{gw.url}/v1",
        api_key="k",
        max_retries=0,
        timeout=30.0,
        default_headers={"x-fake-mode": mode},
    )


# ------------------------------------------------------------------ a whole (JSON) answer


@pytest.mark.parametrize(
    ("mode", "route"),
    [("hold:20000", None), ("trickle:200", None), ("hold:20000", "to-openai")],
    ids=["head-then-silence", "trickle", "head-then-silence-translated"],
)
def test_a_json_answer_that_does_not_finish_is_a_504(
    gw: Gw, clean: FakeUpstream, mode: str, route: str | None
) -> None:
    model = f"json-{mode.split(':')[0]}-{route or 'same'}"
    t0 = time.monotonic()
    with pytest.raises(anthropic.APIStatusError) as e:
        ant(gw, mode, route).messages.create(model=model, max_tokens=5, messages=MSG)
    took = time.monotonic() - t0
    assert e.value.status_code == 504, e.value
    assert e.value.body["error"]["type"] == "timeout_error"  # type: ignore[index]
    assert "gateway_idle_timeout" in e.value.message
    assert took < IDLE + 3
    row = record(gw, model)
    assert row["status"] == 504 and "gateway_idle_timeout" in row["error"]
    assert extra(row)["timeout"] == "gateway_idle_timeout"
    assert httpx.head(gw.url + "/").status_code == 200  # the gateway carries on


def test_no_response_head_is_a_504(gw: Gw, clean: FakeUpstream) -> None:
    with pytest.raises(openai.APIStatusError) as e:
        oai(gw, "slow:10000").chat.completions.create(model="no-head", messages=MSG)
    assert e.value.status_code == 504 and "gateway_first_byte_timeout" in e.value.message
    row = record(gw, "no-head")
    assert extra(row)["timeout"] == "gateway_first_byte_timeout"


# ------------------------------------------------------------------ streams


def _ant_stream(gw: Gw, mode: str, model: str, route: str | None = None) -> Exception:
    with pytest.raises(anthropic.APIStatusError) as e:
        with ant(gw, mode, route).messages.stream(model=model, max_tokens=5, messages=MSG) as s:
            s.get_final_message()
    assert e.value.body["error"]["type"] == "timeout_error"  # type: ignore[index]
    return e.value


@pytest.mark.parametrize("route", [None, "to-openai"], ids=["same", "translated"])
@pytest.mark.parametrize("mode", ["stall:2:20000", "trickle:100"], ids=["stall", "trickle"])
def test_a_stream_without_whole_events_ends_with_the_dialects_error(
    gw: Gw, clean: FakeUpstream, mode: str, route: str | None
) -> None:
    model = f"stream-{mode.split(':')[0]}-{route or 'same'}"
    t0 = time.monotonic()
    err = _ant_stream(gw, mode, model, route)
    assert "gateway_idle_timeout" in str(err)
    assert time.monotonic() - t0 < TOTAL  # the idle deadline, not the total one
    row = record(gw, model)
    assert "gateway_idle_timeout" in row["error"]
    assert extra(row)["timeout"] == "gateway_idle_timeout"


@pytest.mark.parametrize("mode", ["stall:2:20000", "trickle:100"], ids=["stall", "trickle"])
def test_a_stream_is_watched_when_nothing_records_it(
    lean: Gw, clean: FakeUpstream, mode: str
) -> None:
    with pytest.raises(openai.APIError, match="gateway_idle_timeout"):
        list(oai(lean, mode).chat.completions.create(model="lean", messages=MSG, stream=True))


def test_a_stream_that_never_ends_meets_the_total_deadline(gw: Gw, clean: FakeUpstream) -> None:
    # An event every 0.6 s (never idle for 1 s), about 19 of them: 11 s, over the 4 s total.
    t0 = time.monotonic()
    err = _ant_stream(gw, "events:12+gap:600", "endless")
    assert "gateway_total_timeout" in str(err)
    assert TOTAL - 0.5 < time.monotonic() - t0 < TOTAL + 3
    assert extra(record(gw, "endless"))["timeout"] == "gateway_total_timeout"


def test_a_steady_stream_is_not_cut(gw: Gw, clean: FakeUpstream) -> None:
    # Events 0.3 s apart for about 2.4 s: never idle for a second, within the total.
    with ant(gw, "events:3+gap:300").messages.stream(
        model="steady", max_tokens=5, messages=MSG
    ) as s:
        final = s.get_final_message()
    assert final.stop_reason == "end_turn"
