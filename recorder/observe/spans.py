"""One exchange as OpenTelemetry spans following the GenAI semantic conventions. Pure: this
module plans the spans (names, times, attributes, events); :mod:`recorder.observe.otel` hands
the plans to the SDK.

Two spans per exchange that reached an upstream:

* the exchange (kind SERVER, ``chat {model}``): the whole exchange as the client saw it, a child
  of the caller's span when the request carried a ``traceparent``;
* the upstream call (kind CLIENT), its child: from the upstream request to the upstream's last
  byte, with the model sent and the upstream's own usage and status.

Attributes are the conventions' ``gen_ai.*``, ``server.*``, ``http.*``, ``url.*`` and
``error.type``, plus ``tapegate.*`` (exchange id, route, dialects, session, attempts). Message
content (``gen_ai.input.messages`` …) only when asked for, in the conventions' JSON shape
(:mod:`recorder.observe.messages`); never headers, so never keys.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from recorder import dialects, ir
from recorder.exchange import Exchange
from recorder.observe import messages
from recorder.observe.facts import Facts
from recorder.observe.reading import LegReading, Reading
from recorder.observe.tracecontext import TraceIds

AttrValue = str | bool | int | float | list[str]


@dataclass(slots=True)
class SpanEvent:
    name: str
    t: float  # Unix time
    attributes: dict[str, AttrValue] = field(default_factory=dict)


@dataclass(slots=True)
class SpanPlan:
    name: str
    kind: Literal["server", "client"]
    span_id: int
    parent_id: int | None  # None: the trace's root
    start: float  # Unix time
    end: float
    attributes: dict[str, AttrValue]
    events: list[SpanEvent] = field(default_factory=list)
    error: str | None = None  # set: status ERROR with this description


def plan(
    ex: Exchange, reading: Reading, facts: Facts, ids: TraceIds, content: bool = False
) -> list[SpanPlan]:
    """The exchange's span, then (if it went upstream) the upstream call's."""
    t0 = ex.started_at
    end = t0 + (facts.duration or 0.0)
    main = SpanPlan(
        name=_name(facts.model_requested or facts.model),
        kind="server",
        span_id=ids.span_id,
        parent_id=ids.parent_span_id,
        start=t0,
        end=end,
        attributes=_exchange_attributes(facts, reading),
        error=_error(facts),
    )
    if facts.ttft is not None:
        main.attributes["gen_ai.response.time_to_first_chunk"] = facts.ttft
        main.events.append(SpanEvent("gen_ai.first_token", t0 + facts.ttft))
    if content:
        main.attributes.update(content_attributes(reading.client, facts))
    if reading.upstream is None or facts.upstream_url is None:
        return [main]
    up_start = t0 + (ids.t_sent or 0.0)
    up_end = max(up_start, t0 + _upstream_end(ex, facts))
    up = SpanPlan(
        name=_name(facts.model_sent or facts.model),
        kind="client",
        span_id=ids.upstream_span_id,
        parent_id=ids.span_id,
        start=up_start,
        end=min(up_end, max(end, up_start)),
        attributes=_upstream_attributes(facts, reading.upstream),
        error=_upstream_error(facts, reading.upstream),
    )
    if facts.ttfb is not None:
        up.attributes["gen_ai.response.time_to_first_chunk"] = max(
            0.0, facts.ttfb - (ids.t_sent or 0.0)
        )
        up.events.append(SpanEvent("first_byte", t0 + facts.ttfb))
    if content:
        up.attributes.update(content_attributes(reading.upstream, facts))
    return [main, up]


def provider(dialect: str | None) -> str:
    """The conventions' provider name of the dialect a leg speaks (unknown ones: their name)."""
    spec = dialects.named(dialect or "")
    return spec.provider if spec is not None else dialect or "unknown"


def _name(model: str | None) -> str:
    return f"chat {model}" if model else "chat"


def _exchange_attributes(f: Facts, reading: Reading) -> dict[str, AttrValue]:
    a: dict[str, AttrValue] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": provider(f.upstream_dialect or f.client_dialect),
        "gen_ai.request.stream": f.stream,
        "tapegate.exchange.id": f.id,
        "tapegate.client.dialect": f.client_dialect or "unknown",
    }
    _put(a, "gen_ai.request.model", f.model_requested)
    _put(a, "gen_ai.response.model", f.model_answered)
    _put(a, "gen_ai.response.id", f.response_id)
    if f.stop_reason:
        a["gen_ai.response.finish_reasons"] = [f.stop_reason]
    a.update(usage_attributes(f.usage))
    _put(a, "gen_ai.conversation.id", f.session)
    _put(a, "tapegate.session.id", f.session)
    _put(a, "tapegate.upstream.dialect", f.upstream_dialect)
    _put(a, "tapegate.route", f.route)
    _put(a, "http.request.method", f.method)
    _put(a, "url.path", f.path)
    _put(a, "http.response.status_code", f.status)
    if f.tool_calls:
        a["tapegate.tool_calls"] = list(f.tool_calls)
    if f.notes:
        a["tapegate.notes"] = f.notes
    if f.attempts > 1:
        a["tapegate.upstream.attempts"] = f.attempts
    a.update(_server(f.upstream_url))
    if reading.client.request is not None:
        a.update(request_attributes(reading.client.request))
    if f.error_kind is not None:
        a["error.type"] = f.error_kind
    return a


def _upstream_attributes(f: Facts, leg: LegReading) -> dict[str, AttrValue]:
    a: dict[str, AttrValue] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": provider(leg.dialect),
        "gen_ai.request.stream": f.stream,
        "tapegate.exchange.id": f.id,
    }
    _put(a, "gen_ai.request.model", f.model_sent)
    answer = leg.response
    if answer is not None:
        _put(a, "gen_ai.response.model", answer.model or None)
        _put(a, "gen_ai.response.id", answer.id or None)
        if answer.stop_reason:
            a["gen_ai.response.finish_reasons"] = [answer.stop_reason]
        a.update(usage_attributes(answer.usage))
    _put(a, "gen_ai.conversation.id", f.session)
    _put(a, "http.response.status_code", f.upstream_status)
    _put(a, "url.full", f.upstream_url)
    a.update(_server(f.upstream_url))
    if leg.request is not None:
        a.update(request_attributes(leg.request))
    if f.attempts > 1:
        a["tapegate.upstream.attempts"] = f.attempts
    kind = _upstream_error_kind(f, leg)
    if kind is not None:
        a["error.type"] = kind
    return a


def usage_attributes(u: ir.Usage | None) -> dict[str, AttrValue]:
    if u is None:
        return {}
    a: dict[str, AttrValue] = {}
    _put(a, "gen_ai.usage.input_tokens", u.input_tokens)
    _put(a, "gen_ai.usage.output_tokens", u.output_tokens)
    _put(a, "gen_ai.usage.cache_read.input_tokens", u.cache_read_tokens)
    _put(a, "gen_ai.usage.cache_creation.input_tokens", u.cache_creation_tokens)
    _put(a, "gen_ai.usage.reasoning.output_tokens", u.reasoning_tokens)
    return a


def request_attributes(req: ir.Request) -> dict[str, AttrValue]:
    a: dict[str, AttrValue] = {}
    _put(a, "gen_ai.request.max_tokens", req.max_tokens)
    _put(a, "gen_ai.request.temperature", req.temperature)
    _put(a, "gen_ai.request.top_p", req.top_p)
    _put(a, "gen_ai.request.top_k", req.top_k)
    if req.stop_sequences:
        a["gen_ai.request.stop_sequences"] = list(req.stop_sequences)
    return a


def content_attributes(leg: LegReading, f: Facts) -> dict[str, AttrValue]:
    """The conversation of one leg as the conventions' JSON attributes (opt-in content)."""
    a: dict[str, AttrValue] = {}
    if leg.request is not None:
        if leg.request.system:
            a["gen_ai.system_instructions"] = _json(messages.system_instructions(leg.request))
        a["gen_ai.input.messages"] = _json(messages.input_messages(leg.request))
        if leg.request.tools:
            tools = [{"type": "function", "name": t.name} for t in leg.request.tools]
            a["gen_ai.tool.definitions"] = _json(tools)
    if leg.response is not None:
        a["gen_ai.output.messages"] = _json(messages.output_messages(leg.response))
    return a


def _server(url: str | None) -> dict[str, AttrValue]:
    if not url:
        return {}
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return {}
    if not parts.hostname:
        return {}
    return {"server.address": parts.hostname, "server.port": port}


def _upstream_end(ex: Exchange, f: Facts) -> float:
    """When the upstream's last byte arrived: its last event for a stream, else the end."""
    times = [e.t for e in ex.events if e.leg == "upstream"]
    if times:
        return max(times)
    return f.duration or f.ttfb or 0.0


def _error(f: Facts) -> str | None:
    if f.error_kind is None:
        return None
    return f.error or f.error_kind


def _upstream_error_kind(f: Facts, leg: LegReading) -> str | None:
    if leg.error is not None:
        return leg.error.kind
    if f.upstream_status is not None and f.upstream_status >= 400:
        return str(f.upstream_status)
    if f.upstream_status is None and f.error_kind is not None:
        return f.error_kind  # no answer at all: whatever stopped the exchange stopped it
    return None


def _upstream_error(f: Facts, leg: LegReading) -> str | None:
    kind = _upstream_error_kind(f, leg)
    if kind is None:
        return None
    return leg.error.message if leg.error is not None else f.error or kind


def _put(a: dict[str, AttrValue], key: str, value: Any) -> None:
    if value is not None and value != "":
        a[key] = value


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
