"""The observing addons in mitmproxy's test context: options, what they ask of the hub, the
trace context put on the upstream request, and the hub handing exchanges over."""

from __future__ import annotations

import asyncio
import io
import sys

import pytest
from mitmproxy import exceptions, http
from mitmproxy.test import taddons, tflow

from addons.metadata import EXCHANGE
from addons.observe.console import Console
from addons.observe.hub import Observers
from addons.observe.messagelog import MessageLogger
from addons.observe.telemetry import Telemetry
from recorder.exchange import Exchange, HttpRequest
from recorder.observe.console_options import Detail

PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_console_follows_the_terminal_unless_told(monkeypatch):
    hub = Observers()
    console = Console(hub)
    with taddons.context(console) as tctx:
        monkeypatch.setattr(sys, "stdout", io.StringIO())
        tctx.configure(console, gateway_console="auto")
        assert hub.wanted.console is None and not console.active
        monkeypatch.setattr(sys, "stdout", _Tty())
        tctx.configure(console, gateway_console="auto", console_detail="tools")
        assert hub.wanted.console is not None and hub.wanted.console.color
        assert hub.wanted.console.detail is Detail.tools
        tctx.configure(console, gateway_console="off")
        assert hub.wanted.console is None
        monkeypatch.setattr(sys, "stdout", io.StringIO())
        tctx.configure(console, gateway_console="on")
        assert hub.wanted.console is not None and not hub.wanted.console.color
        with pytest.raises(exceptions.OptionsError):
            tctx.configure(console, console_detail="everything")


def test_telemetry_options(monkeypatch):
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    hub = Observers()
    tel = Telemetry(hub)
    with taddons.context(tel) as tctx:
        assert hub.wanted.otel is None and tel.starter is None
        tctx.configure(tel, otel_endpoint="http://127.0.0.1:4318", otel_content=True)
        assert hub.wanted.otel is not None
        assert hub.wanted.otel.endpoint == "http://127.0.0.1:4318/v1/traces"
        assert hub.wanted.otel.content
        with pytest.raises(exceptions.OptionsError, match="http"):
            tctx.configure(tel, otel_endpoint="127.0.0.1:4318")
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
        with pytest.raises(exceptions.OptionsError, match="protobuf"):
            tctx.configure(tel, otel_endpoint="http://c:4318")


def _flow(headers: dict[str, str]) -> tuple[http.HTTPFlow, Exchange]:
    f = tflow.tflow()
    f.request = http.Request.make("POST", "http://upstream:9000/v1/chat/completions", b"{}",
                                  headers)  # fmt: skip
    ex = Exchange(id=f.id, started_at=f.request.timestamp_start)
    ex.upstream_request = HttpRequest("POST", f.request.url, list(headers.items()), b"{}")
    f.metadata[EXCHANGE] = ex
    return f, ex


def test_the_upstream_request_carries_the_trace_and_the_record_says_so():
    tel = Telemetry(Observers())
    with taddons.context(tel) as tctx:
        tctx.configure(tel, otel_endpoint="http://127.0.0.1:4318")
        f, ex = _flow({"traceparent": PARENT, "tracestate": "a=b", "x-other": "1"})
        tel.request(f)
        ids = ex.extra["trace"]
        assert ids["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
        assert ids["parent_span_id"] == "b7ad6b7169203331" and ids["t_sent"] >= 0
        want = f"00-{ids['trace_id']}-{ids['upstream_span_id']}-01"
        assert f.request.headers["traceparent"] == want
        assert f.request.headers["tracestate"] == "a=b"
        assert ("traceparent", want) in ex.upstream_request.headers
        assert ("traceparent", PARENT) not in ex.upstream_request.headers
        tel.request(f)  # once per exchange, even if a hook runs twice
        assert f.request.headers["traceparent"] == want


def test_no_trace_context_without_export_and_none_upstream_for_a_local_answer():
    tel = Telemetry(Observers())
    with taddons.context(tel) as tctx:
        tctx.configure(tel, otel_endpoint="")
        f, ex = _flow({"traceparent": PARENT})
        tel.request(f)
        assert "trace" not in ex.extra and f.request.headers["traceparent"] == PARENT
        tctx.configure(tel, otel_endpoint="http://127.0.0.1:4318")
        f, ex = _flow({})
        f.response = http.Response.make(401)
        tel.request(f)
        assert "traceparent" not in f.request.headers and "t_sent" not in ex.extra["trace"]


def test_message_log_options(tmp_path):
    hub = Observers()
    ml = MessageLogger(hub)
    with taddons.context(ml) as tctx:
        tctx.configure(ml, messagelog=str(tmp_path / "m.jsonl"), messagelog_max_mb=2,
                       messagelog_keep=3, messagelog_by_session=True)  # fmt: skip
        cfg = hub.wanted.log
        assert cfg is not None and (cfg.max_bytes, cfg.keep, cfg.by_session) == (2 << 20, 3, True)
        with pytest.raises(exceptions.OptionsError):
            tctx.configure(ml, messagelog_max_mb=0)
        tctx.configure(ml, messagelog="", messagelog_max_mb=1)
        assert hub.wanted.log is None


def test_the_hub_hands_each_exchange_over_once_and_only_while_something_looks(tmp_path):
    hub = Observers()
    ml = MessageLogger(hub)
    with taddons.context(ml, hub) as tctx:
        assert not hub.recording and hub.proc is None
        tctx.configure(ml, messagelog=str(tmp_path / "m.jsonl"))
        tctx.configure(hub)
        assert hub.recording and hub.proc is not None
        proc = hub.proc

        async def go() -> None:
            f, ex = _flow({})
            ex.client_dialect = "anthropic"
            hub.response(f)
            hub.error(f)  # the same flow again: not twice
            plain = tflow.tflow(resp=True)  # no exchange: not LLM traffic the gateway saw
            hub.response(plain)

        asyncio.run(go())
        assert proc.sent == 1
        tctx.configure(ml, messagelog="")
        tctx.configure(hub)
        assert hub.proc is None and not hub.recording
    lines = (tmp_path / "m.jsonl").read_text().splitlines()
    assert len(lines) == 1
