"""Span export through the SDK's batch processor and OTLP/HTTP exporter, received by a real
OTLP/HTTP endpoint that decodes the protobuf with opentelemetry-proto."""

from __future__ import annotations

import pytest

from fakes.otlp import OtlpReceiver, down_url
from recorder.errors import ConfigError
from recorder.observe import otel
from recorder.observe.facts import facts_of
from recorder.observe.reading import read
from recorder.observe.spans import plan
from recorder.observe.tracecontext import TraceStarter
from tests.store import samples

PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.fixture
def receiver():
    rx = OtlpReceiver().start()
    yield rx
    rx.stop()


def test_config_from_the_option_or_the_standard_variables():
    assert otel.config("", env={}) is None
    assert otel.config("http://c:4318", env={}) == otel.OtelConfig("http://c:4318/v1/traces")
    assert otel.config("http://c:4318/v1/traces/", env={}).endpoint == "http://c:4318/v1/traces"
    from_env = otel.config("", env={"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"})
    assert from_env == otel.OtelConfig(None)  # the exporter reads the variables itself
    assert otel.config("http://c:4318", env={"OTEL_SDK_DISABLED": "true"}) is None
    with pytest.raises(ConfigError, match="http/protobuf"):
        otel.config("http://c:4318", env={"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})
    with pytest.raises(ConfigError, match="http"):
        otel.config("c:4318", env={})


def test_every_planned_attribute_arrives_in_the_collector(receiver):
    ex = samples.streaming()
    ids = TraceStarter().start(PARENT, "congo=t61rcWkgMzE")
    r = read(ex)
    plans = plan(ex, r, facts_of(ex, r), ids, content=True)
    sink = otel.SpanSink(otel.config(receiver.url), lambda ok, stats: None)
    sink.emit(plans, ids)
    sink.close()
    got = {s.span_id: s for s in receiver.wait_spans(2)}
    assert receiver.batches[0].path == "/v1/traces"
    assert receiver.batches[0].headers["content-type"] == "application/x-protobuf"
    for p in plans:
        s = got[f"{p.span_id:016x}"]
        assert s.trace_id == "0af7651916cd43dd8448eb211c80319c"
        assert s.parent_span_id == f"{p.parent_id:016x}"
        assert (s.name, s.kind) == (p.name, p.kind)
        assert s.attributes == p.attributes  # every attribute, with its type
        assert s.start_ns == int(p.start * 1e9) and s.end_ns == int(p.end * 1e9)
        assert [(e.name, e.time_ns) for e in s.events] == [
            (e.name, int(e.t * 1e9)) for e in p.events]  # fmt: skip
        assert s.status == "unset" and s.trace_state == "congo=t61rcWkgMzE"
        assert s.resource["service.name"] == "tapegate" and s.scope == "tapegate"
    assert sink.stats.exported == 2 and sink.stats.failed == 0


def test_error_status_reaches_the_collector(receiver):
    ex = samples.failed()
    ids = TraceStarter().start(None)
    r = read(ex)
    sink = otel.SpanSink(otel.config(receiver.url), lambda ok, stats: None)
    sink.emit(plan(ex, r, facts_of(ex, r), ids), ids)
    sink.close()
    (span,) = receiver.wait_spans(1)
    assert span.parent_span_id is None
    assert (span.status, span.status_message) == ("error", "upstream 503: upstream said no")
    assert span.attributes["error.type"] == "overloaded"


@pytest.mark.parametrize("how", ["down", "refusing"])
def test_a_collector_that_is_down_costs_a_warning_and_a_counter(receiver, how, monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "1")
    url = down_url() if how == "down" else receiver.url
    receiver.fail_with = 503 if how == "refusing" else None
    changes = []
    sink = otel.SpanSink(otel.config(url), lambda ok, stats: changes.append((ok, stats.failed)))
    ex = samples.streaming()
    r = read(ex)
    for _ in range(20):
        ids = TraceStarter().start(None)
        sink.emit(plan(ex, r, facts_of(ex, r), ids), ids)
    sink.close(timeout=3)
    assert sink.stats.failed == 40 and sink.stats.exported == 0
    assert changes and changes[0][0] is False  # reported once, when it started failing
    assert len(changes) == 1
    assert sink.stats.last_error


def test_a_collector_that_comes_back_is_reported_healthy_again(receiver, monkeypatch):
    receiver.fail_with = 503
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "1")
    changes = []
    sink = otel.SpanSink(otel.config(receiver.url), lambda ok, stats: changes.append(ok))
    ex = samples.plain()
    r = read(ex)
    ids = TraceStarter().start(None)
    sink.emit(plan(ex, r, facts_of(ex, r), ids), ids)
    sink.provider.force_flush()
    receiver.fail_with = None
    sink.emit(plan(ex, r, facts_of(ex, r), ids), ids)
    sink.close()
    assert changes == [False, True]
