"""Seeing the traffic end to end: the real gateway with the live console on, spans exported to a
real OTLP/HTTP receiver (protobuf decoded with opentelemetry-proto) and the message log,
driven by the official SDKs against the fake upstream."""

from __future__ import annotations

import json
import re
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import anthropic
import httpx
import pytest

from fakes.otlp import OtlpReceiver, ReceivedSpan, down_url
from fakes.procs import BIN, Service, free_port, start_service
from fakes.upstream import FakeUpstream
from tests.e2e.conftest import GATEWAY_ADDON

pytestmark = pytest.mark.e2e

TOOLS = [{"name": "get_weather", "description": "w", "input_schema": {"type": "object"}}]
MSG = [{"role": "user", "content": "hi"}]
CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"


def _gateway(d: Path, fake: FakeUpstream, sets: list[str], name: str = "gateway") -> Service:
    port = free_port()
    argv = [
        str(BIN / "mitmdump"), "-s", str(GATEWAY_ADDON), "-p", str(port),
        "--listen-host", "127.0.0.1",
        "--set", f"gateway_upstream={fake.url}/v1", "--set", "gateway_upstream_api=openai",
        "--set", "gateway_retries=0", "--set", f"recorder_db={d / f'{name}.duckdb'}",
    ]  # fmt: skip
    for s in sets:
        argv += ["--set", s]
    env = {"OTEL_BSP_SCHEDULE_DELAY": "100", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "2"}
    svc = start_service(name, argv, port=port, log_dir=d, env=env)
    # the listener is up before the addons are loaded: the first answer waits for them
    httpx.head(svc.url, timeout=30.0).raise_for_status()
    return svc


@pytest.fixture(scope="module")
def otlp() -> Iterator[OtlpReceiver]:
    rx = OtlpReceiver().start()
    yield rx
    rx.stop()


@pytest.fixture(scope="module")
def where(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("observe")


@pytest.fixture(scope="module")
def gw(fake: FakeUpstream, otlp: OtlpReceiver, where: Path) -> Iterator[Service]:
    sets = ["gateway_console=on", "console_detail=tools", f"otel_endpoint={otlp.url}",
            f"messagelog={where / 'messages.jsonl'}"]  # fmt: skip
    svc = _gateway(where, fake, sets)
    yield svc
    svc.stop()


def client(gw: Service, mode: str, **headers: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        base_url=gw.url, api_key="sk-client-test-1f2e", max_retries=0,
        default_headers={"x-fake-mode": mode, **headers},
    )  # fmt: skip


def spans_of(otlp: OtlpReceiver, trace_id: str, n: int = 2) -> list[ReceivedSpan]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        got = [s for s in otlp.spans if s.trace_id == trace_id]
        if len(got) >= n:
            return sorted(got, key=lambda s: s.kind != "server")
        time.sleep(0.05)
    raise AssertionError(f"spans of trace {trace_id}: {[s.name for s in otlp.spans]}")


def wait_for(path: Path, text: str, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        content = path.read_text(errors="replace") if path.exists() else ""
        if text in content:
            return content
        time.sleep(0.05)
    raise AssertionError(f"{text!r} not in {path}:\n{content[-2000:]}")


def test_a_traced_tool_call_stream_is_seen_everywhere(
    gw: Service, fake: FakeUpstream, otlp: OtlpReceiver, where: Path
) -> None:
    fake.clear()
    traceparent = f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"
    c = client(gw, "tool", traceparent=traceparent, tracestate="vendor=x1")
    with c.messages.stream(model="claude-sonnet-5", max_tokens=50, messages=MSG,
                           tools=TOOLS) as s:  # fmt: skip
        msg = s.get_final_message()
    assert msg.stop_reason == "tool_use"

    main, up = spans_of(otlp, CALLER_TRACE)
    # the gateway's span is a child of the caller's; the upstream call a child of the gateway's
    assert (main.kind, main.parent_span_id) == ("server", CALLER_SPAN)
    assert (up.kind, up.parent_span_id) == ("client", main.span_id)
    assert main.trace_state == "vendor=x1"
    # ... and the upstream was told so
    sent = fake.requests[-1].headers
    assert sent["traceparent"] == f"00-{CALLER_TRACE}-{up.span_id}-01"
    assert sent["tracestate"] == "vendor=x1"

    a = main.attributes
    session = a["gen_ai.conversation.id"]
    assert isinstance(session, str) and session.startswith("h:")
    exchange_id = a["tapegate.exchange.id"]
    ttft = a["gen_ai.response.time_to_first_chunk"]
    assert isinstance(ttft, float) and 0 < ttft * 1e9 <= main.end_ns - main.start_ns
    assert a == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "claude-sonnet-5",
        "gen_ai.request.max_tokens": 50,
        "gen_ai.request.stream": True,
        "gen_ai.response.model": "claude-sonnet-5",
        "gen_ai.response.id": msg.id,
        "gen_ai.response.finish_reasons": ["tool_use"],
        "gen_ai.response.time_to_first_chunk": ttft,
        "gen_ai.usage.input_tokens": 10,
        "gen_ai.usage.output_tokens": 3,
        "gen_ai.usage.cache_read.input_tokens": 0,
        "gen_ai.usage.cache_creation.input_tokens": 0,
        "gen_ai.conversation.id": session,
        "server.address": "127.0.0.1",
        "server.port": fake.port,
        "http.request.method": "POST",
        "http.response.status_code": 200,
        "url.path": "/v1/messages",
        "tapegate.exchange.id": exchange_id,
        "tapegate.session.id": session,
        "tapegate.client.dialect": "anthropic",
        "tapegate.upstream.dialect": "openai",
        "tapegate.route": "default",
        "tapegate.tool_calls": ["get_weather"],
    }
    assert [e.name for e in main.events] == ["gen_ai.first_token"]
    assert main.status == "unset" and main.resource["service.name"] == "tapegate"
    u = up.attributes
    assert u["gen_ai.request.model"] == "claude-sonnet-5" and u["gen_ai.provider.name"] == "openai"
    assert u["gen_ai.response.id"] == "chatcmpl-fake01"
    assert u["url.full"] == f"{fake.url}/v1/chat/completions"
    assert u["http.response.status_code"] == 200
    assert main.start_ns <= up.start_ns <= up.end_ns <= main.end_ns
    assert not any("sk-client" in json.dumps(s.attributes) for s in (main, up))

    # the console: one line naming the model and the status, the tool call under it
    log = wait_for(gw.log, "▸ get_weather {")
    line = next(x for x in log.splitlines() if "claude-sonnet-5" in x and " 200 " in x)
    assert "anthropic→openai" in line and "sse" in line and "▸ get_weather" in line
    # the message log
    logged = [json.loads(x) for x in
              wait_for(where / "messages.jsonl", exchange_id).splitlines()]  # fmt: skip
    entry = next(x for x in logged if x["id"] == exchange_id)
    assert entry["reply"]["parts"][-1]["name"] == "get_weather"
    assert entry["messages"] == [{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]


def test_an_upstream_error_is_an_error_span_and_a_marked_line(
    gw: Service, otlp: OtlpReceiver
) -> None:
    trace = "0af7651916cd43dd8448eb211c80319c"
    with pytest.raises(anthropic.RateLimitError):
        client(gw, "error:429", traceparent=f"00-{trace}-b7ad6b7169203331-01").messages.create(
            model="claude-err", max_tokens=5, messages=MSG
        )
    main, up = spans_of(otlp, trace)
    assert (main.status, main.attributes["error.type"]) == ("error", "rate_limit")
    assert main.attributes["http.response.status_code"] == 429
    assert (up.status, up.attributes["http.response.status_code"]) == ("error", 429)
    assert "rate" in main.status_message.lower() or "429" in main.status_message
    log = wait_for(gw.log, "✗ rate_limit")
    assert any("claude-err" in x and " 429 " in x for x in log.splitlines())


def test_an_untraced_request_starts_a_trace_of_its_own(
    gw: Service, fake: FakeUpstream, otlp: OtlpReceiver
) -> None:
    fake.clear()
    client(gw, "text").messages.create(model="claude-root", max_tokens=5, messages=MSG)
    sent = fake.requests[-1].headers["traceparent"]
    _, trace, span, flags = sent.split("-")
    main, up = spans_of(otlp, trace)
    assert main.parent_span_id is None and up.span_id == span and flags == "01"
    assert main.attributes["gen_ai.request.stream"] is False


def test_a_collector_that_is_down_costs_a_warning_and_a_counter_only(
    fake: FakeUpstream, where: Path
) -> None:
    """Two gateways alike but for the collector: one exports to a live receiver, the other to
    a port where nothing listens. Requests through the second are no slower."""
    rx = OtlpReceiver().start()
    live = _gateway(where, fake, [f"otel_endpoint={rx.url}"], name="live")
    dead = _gateway(where, fake, [f"otel_endpoint={down_url()}"], "dead")
    try:
        times: dict[str, list[float]] = {"live": [], "dead": []}
        for _ in range(15):
            for name, svc in (("live", live), ("dead", dead)):
                t0 = time.perf_counter()
                reply = client(svc, "text").messages.create(
                    model="claude-sonnet-5", max_tokens=5, messages=MSG
                )
                times[name].append(time.perf_counter() - t0)
                assert reply.stop_reason == "end_turn"
        log = wait_for(dead.log, "is failing")
        assert "traffic is unaffected" in log
        assert statistics.median(times["dead"]) < 2 * statistics.median(times["live"])
    finally:
        live.stop()
        dead.stop()
        rx.stop()
    # the counter, at shutdown: every span of the 15 exchanges (and of the readiness probe)
    final = re.search(r"export to \S+: 0 spans exported, (\d+) not", dead.log.read_text())
    assert final is not None and int(final[1]) >= 30
