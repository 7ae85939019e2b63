"""Span export with the OpenTelemetry SDK: a TracerProvider, its BatchSpanProcessor and the
OTLP/HTTP exporter (protobuf). Runs in the observer process, never on the proxy's event loop.

The spans are planned by :mod:`recorder.observe.spans` after the exchange ended and are given
the ids the gateway chose when the request arrived (:mod:`recorder.observe.tracecontext`), so
that they match the ``traceparent`` the upstream was sent: the provider's id generator hands out
those ids, and ``start_span``/``end`` take the recorded times.

A collector that is down or refuses costs a warning and a counter, nothing else: the batch
processor exports from its own thread, the exporter's own retry logging is captured (its last
words become the reason in our warning), and :class:`ExportStats` counts what was lost.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.id_generator import IdGenerator, RandomIdGenerator
from opentelemetry.trace import SpanKind, Status, StatusCode

from recorder.observe.otel_config import TRACES_PATH, OtelConfig, config
from recorder.observe.spans import SpanPlan
from recorder.observe.tracecontext import TraceIds

__all__ = ["TRACES_PATH", "ExportStats", "OtelConfig", "SpanSink", "config"]

_KINDS = {"server": SpanKind.SERVER, "client": SpanKind.CLIENT}
_EXPORTER_LOGGERS = (
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "opentelemetry.exporter.otlp.common.http",
    "opentelemetry.sdk._shared_internal",
    "opentelemetry.sdk.trace.export",
)


@dataclass(slots=True)
class ExportStats:
    ended: int = 0  # spans handed to the batch processor
    exported: int = 0
    failed: int = 0  # in batches the collector did not take
    last_error: str | None = None

    @property
    def lost(self) -> int:
        return self.failed


class _FirstWords(logging.Handler):
    """Keeps the exporter's first complaint about an export (it names the cause, such as a
    refused connection; the last one only says it gave up) instead of printing it."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.message: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.WARNING and self.message is None:
            text = record.getMessage()
            self.message = text if len(text) <= 300 else text[:300] + "…"


class _Counting(SpanExporter):
    """The OTLP exporter, counted: successes, failures, and a callback on a change of state
    (first failure, recovery) so that a dead collector is reported once, not per batch."""

    def __init__(
        self, inner: SpanExporter, stats: ExportStats, words: _FirstWords,
        on_change: Callable[[bool, ExportStats], None],
    ) -> None:  # fmt: skip
        self.inner = inner
        self.stats = stats
        self.words = words
        self.on_change = on_change
        self.healthy = True
        self.lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.words.message = None
        try:
            result = self.inner.export(spans)
        except Exception as e:  # noqa: BLE001 - a broken exporter must not end the process
            self.words.message = f"{type(e).__name__}: {e}"
            result = SpanExportResult.FAILURE
        ok = result is SpanExportResult.SUCCESS
        with self.lock:
            if ok:
                self.stats.exported += len(spans)
            else:
                self.stats.failed += len(spans)
                self.stats.last_error = self.words.message or "export failed"
            changed = ok != self.healthy
            self.healthy = ok
        if changed:
            self.on_change(ok, self.stats)
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


class _PresetIds(IdGenerator):
    """Hands out the ids chosen in the gateway (set just before each span starts); random ids
    otherwise. Spans are started from one thread, so one slot each is enough."""

    def __init__(self) -> None:
        self.trace_id: int | None = None
        self.span_id: int | None = None
        self._random = RandomIdGenerator()

    def generate_trace_id(self) -> int:
        tid, self.trace_id = self.trace_id, None
        return tid or self._random.generate_trace_id()

    def generate_span_id(self) -> int:
        sid, self.span_id = self.span_id, None
        return sid or self._random.generate_span_id()


class SpanSink:
    """Emits planned spans through the SDK. ``on_change(healthy, stats)`` is called from the
    exporter's thread when exports start failing or work again."""

    def __init__(
        self,
        cfg: OtelConfig,
        on_change: Callable[[bool, ExportStats], None],
        exporter: SpanExporter | None = None,
    ) -> None:
        self.stats = ExportStats()
        words = _FirstWords()
        for name in _EXPORTER_LOGGERS:
            log = logging.getLogger(name)
            log.addHandler(words)
            log.propagate = False
        inner = exporter or OTLPSpanExporter(endpoint=cfg.endpoint)
        self._exporter = _Counting(inner, self.stats, words, on_change)
        self._ids = _PresetIds()
        self.provider = TracerProvider(
            resource=_resource(), id_generator=self._ids, shutdown_on_exit=False
        )
        self.provider.add_span_processor(BatchSpanProcessor(self._exporter))
        self.tracer = self.provider.get_tracer("tapegate", _version())

    def emit(self, plans: list[SpanPlan], ids: TraceIds) -> None:
        """Start and end each planned span (parents first) with the ids of ``ids``."""
        contexts: dict[int, trace.SpanContext] = {}
        flags = trace.TraceFlags(trace.TraceFlags.SAMPLED if ids.sampled else 0)
        state = trace.TraceState.from_header([ids.tracestate]) if ids.tracestate else None
        for p in plans:
            parent = contexts.get(p.parent_id) if p.parent_id is not None else None
            if parent is None and p.parent_id is not None:  # the caller's span (remote)
                parent = trace.SpanContext(
                    ids.trace_id, p.parent_id, is_remote=True, trace_flags=flags,
                    trace_state=state,
                )  # fmt: skip
            ctx = (
                trace.set_span_in_context(trace.NonRecordingSpan(parent))
                if parent is not None
                else otel_context.Context()
            )
            self._ids.trace_id, self._ids.span_id = ids.trace_id, p.span_id
            span = self.tracer.start_span(
                p.name, context=ctx, kind=_KINDS[p.kind],
                attributes=p.attributes, start_time=_ns(p.start),
            )  # fmt: skip
            self._ids.trace_id = self._ids.span_id = None
            for ev in p.events:
                span.add_event(ev.name, ev.attributes, timestamp=_ns(ev.t))
            if p.error is not None:
                span.set_status(Status(StatusCode.ERROR, p.error))
            span.end(end_time=_ns(p.end))
            contexts[p.span_id] = span.get_span_context()
            if span.get_span_context().trace_flags.sampled:
                self.stats.ended += 1

    def close(self, timeout: float = 5.0) -> None:
        self.provider.force_flush(int(timeout * 1000))
        self.provider.shutdown()


def _ns(t: float) -> int:
    return int(t * 1e9)


def _resource() -> Resource:
    res = Resource.create({"service.version": _version()})
    if str(res.attributes.get("service.name", "")).startswith("unknown_service"):
        res = res.merge(Resource({"service.name": "tapegate"}))
    return res


def _version() -> str:
    try:
        return metadata.version("tapegate")
    except metadata.PackageNotFoundError:
        return "0"
