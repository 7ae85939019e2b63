"""OpenTelemetry export (``otel_endpoint``, or the standard ``OTEL_EXPORTER_OTLP_*``
variables): the spans themselves are built and exported by the observer process; this addon
reads the options and does the one thing that cannot wait for the end of the exchange — the
trace context. An incoming ``traceparent`` is joined; the upstream request carries one naming
the gateway's upstream span (:mod:`recorder.observe.tracecontext`); the ids ride with the
exchange (``extra["trace"]``, recorded too, so a trace leads to its recording).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from mitmproxy import ctx, http

from addons import declare
from addons.metadata import EXCHANGE
from addons.observe.hub import Observers
from addons.startup import refuse
from recorder.errors import ConfigError
from recorder.exchange import Exchange
from recorder.observe import otel_config

if TYPE_CHECKING:
    from recorder.observe.tracecontext import TraceStarter

log = logging.getLogger("tapegate.observe")


class Telemetry:
    def __init__(self, hub: Observers) -> None:
        self.hub = hub
        self.starter: TraceStarter | None = None

    def load(self, loader: Any) -> None:
        declare.options(loader, [
            (
                "otel_endpoint", str, "",
                "OTLP/HTTP base URL of an OpenTelemetry collector (spans go to URL/v1/traces), "
                "e.g. http://127.0.0.1:4318. Empty: the OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT "
                "variables, if set; else no export.",
            ),
            (
                "otel_content", bool, False,
                "Export message content (gen_ai.input.messages, gen_ai.output.messages, "
                "gen_ai.system_instructions) with the spans. Never headers or keys.",
            ),
        ])  # fmt: skip

    def configure(self, updated: set[str]) -> None:
        if not {"otel_endpoint", "otel_content"} & updated:
            return
        try:
            cfg = otel_config.config(ctx.options.otel_endpoint, ctx.options.otel_content)
        except ConfigError as e:
            refuse(str(e), e)
        self.starter = None
        if cfg is not None:  # the SDK's sampler and propagator: loaded only when exporting
            from recorder.observe.tracecontext import TraceStarter

            self.starter = TraceStarter()
        self.hub.want_otel(cfg)

    def request(self, flow: http.HTTPFlow) -> None:
        """After the gateway pointed the request upstream: the trace context goes with it."""
        if self.starter is None:
            return
        try:
            self._trace(flow, self.starter)
        except Exception:  # noqa: BLE001 - tracing must never cost a request
            log.exception("tapegate: trace context failed")

    def _trace(self, flow: http.HTTPFlow, starter: TraceStarter) -> None:
        from recorder.observe.tracecontext import EXTRA_KEY, upstream_headers

        ex = flow.metadata.get(EXCHANGE)
        if not isinstance(ex, Exchange) or EXTRA_KEY in ex.extra:
            return
        headers = flow.request.headers
        ids = starter.start(headers.get("traceparent"), headers.get("tracestate"))
        if flow.response is None:  # it goes upstream
            ids = ids.sent(time.time() - ex.started_at)
            carried = upstream_headers(ids)
            headers["traceparent"] = carried["traceparent"]
            if "tracestate" in carried:
                headers["tracestate"] = carried["tracestate"]
            elif "tracestate" in headers:
                del headers["tracestate"]
            if ex.upstream_request is not None:  # the record says what was sent
                kept = [(k, v) for k, v in ex.upstream_request.headers
                        if k.lower() not in ("traceparent", "tracestate")]  # fmt: skip
                ex.upstream_request.headers = kept + list(carried.items())
        ex.extra[EXTRA_KEY] = ids.as_extra()
