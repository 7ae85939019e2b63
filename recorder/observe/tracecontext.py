"""W3C trace context for one exchange, decided when its request arrives (in the gateway).

The exchange's spans are built after it ends, in the observer process (off the proxy's event
loop), but the upstream request leaves long before: so the ids are chosen here, up front. The
gateway's span joins the caller's trace when the request carries a ``traceparent`` (else it
starts one), and the upstream request carries a ``traceparent`` naming the gateway's upstream
span, so that a traced upstream joins the same trace. Parsing and writing the headers is the
OpenTelemetry propagator's; the sampling decision is the SDK's sampler as configured by the
standard environment (``OTEL_TRACES_SAMPLER``), the same one the observer process uses, so the
flag sent upstream matches whether the spans are exported.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import Sampler
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

EXTRA_KEY = "trace"  # Exchange.extra[EXTRA_KEY]: the ids below as hex (recorded with the exchange)
_PROPAGATOR = TraceContextTextMapPropagator()


@dataclass(slots=True, frozen=True)
class TraceIds:
    trace_id: int
    span_id: int  # the gateway's span of the exchange
    upstream_span_id: int  # its child: the upstream call
    parent_span_id: int | None  # the caller's span, from its traceparent
    sampled: bool
    tracestate: str | None = None
    t_sent: float | None = None  # seconds from the exchange's start: the upstream request left

    def sent(self, t: float) -> TraceIds:
        """These ids, with the time the upstream request left (seconds from the start)."""
        return replace(self, t_sent=t)

    def as_extra(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "trace_id": trace.format_trace_id(self.trace_id),
            "span_id": trace.format_span_id(self.span_id),
            "upstream_span_id": trace.format_span_id(self.upstream_span_id),
            "sampled": self.sampled,
        }
        if self.parent_span_id is not None:
            out["parent_span_id"] = trace.format_span_id(self.parent_span_id)
        if self.tracestate:
            out["tracestate"] = self.tracestate
        if self.t_sent is not None:
            out["t_sent"] = self.t_sent
        return out

    @classmethod
    def from_extra(cls, extra: Mapping[str, Any]) -> TraceIds | None:
        d = extra.get(EXTRA_KEY)
        if not isinstance(d, dict):
            return None
        try:
            parent = d.get("parent_span_id")
            return cls(
                trace_id=int(d["trace_id"], 16),
                span_id=int(d["span_id"], 16),
                upstream_span_id=int(d["upstream_span_id"], 16),
                parent_span_id=int(parent, 16) if parent else None,
                sampled=bool(d.get("sampled", True)),
                tracestate=d.get("tracestate"),
                t_sent=d.get("t_sent"),
            )
        except (KeyError, TypeError, ValueError):
            return None


class TraceStarter:
    """Ids for each new exchange, and the headers that carry them upstream."""

    def __init__(self, sampler: Sampler | None = None) -> None:
        if sampler is None:  # the SDK's choice from OTEL_TRACES_SAMPLER(_ARG), default always on
            sampler = TracerProvider(shutdown_on_exit=False).sampler
        self.sampler = sampler
        self._ids = RandomIdGenerator()

    def start(self, traceparent: str | None, tracestate: str | None = None) -> TraceIds:
        carrier = {"traceparent": traceparent or ""}
        if tracestate:
            carrier["tracestate"] = tracestate
        ctx = _PROPAGATOR.extract(carrier) if traceparent else None
        parent = trace.get_current_span(ctx).get_span_context() if ctx is not None else None
        if parent is not None and parent.is_valid:
            trace_id, parent_id = parent.trace_id, parent.span_id
            state = parent.trace_state.to_header() if parent.trace_state else None
        else:
            trace_id, parent_id, state, ctx = self._ids.generate_trace_id(), None, None, None
        decision = self.sampler.should_sample(ctx, trace_id, "chat", trace.SpanKind.SERVER)
        return TraceIds(
            trace_id=trace_id,
            span_id=self._ids.generate_span_id(),
            upstream_span_id=self._ids.generate_span_id(),
            parent_span_id=parent_id,
            sampled=decision.decision.is_sampled(),  # type: ignore[no-untyped-call]
            tracestate=state or None,
        )


def upstream_headers(ids: TraceIds) -> dict[str, str]:
    """``traceparent`` (and ``tracestate``) for the upstream request: its parent is the
    gateway's upstream span."""
    ctx = trace.SpanContext(
        trace_id=ids.trace_id,
        span_id=ids.upstream_span_id,
        is_remote=False,
        trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED if ids.sampled else 0),
        trace_state=trace.TraceState.from_header([ids.tracestate]) if ids.tracestate else None,
    )
    out: dict[str, str] = {}
    _PROPAGATOR.inject(out, trace.set_span_in_context(trace.NonRecordingSpan(ctx)))
    return out
