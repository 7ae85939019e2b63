"""The request side of ``gateway_fault``: which fault a request gets, and its detour through
the fault proxy (:mod:`addons.upstream.fault_proxy`), which breaks the upstream's answer."""

from __future__ import annotations

from mitmproxy import http

from addons.flow_state import FlowState
from addons.options import GatewayOptions
from addons.response.replies import reply_error
from addons.upstream import fault_proxy
from recorder import header_edit, ir, routing
from recorder.faults.spec import FaultSpec, FaultSpecError
from recorder.faults.spec import parse as parse_fault


def divert(
    flow: http.HTTPFlow,
    st: FlowState,
    opts: GatewayOptions,
    route: routing.Route,
    upstream: ir.Dialect,
    port: int,
) -> bool:
    """Send the request through the fault proxy on ``port`` when a fault covers it. False when
    the request was answered instead (an ``x-tapegate-fault`` header that does not parse)."""
    try:
        fault = chosen_fault(flow, st, opts, route)
    except FaultSpecError as e:
        reply_error(flow, st, "invalid_request", f"x-tapegate-fault: {e}")
        return False
    if fault is not None:
        through_fault_proxy(flow, st, fault, upstream, port)
    return True


def chosen_fault(
    flow: http.HTTPFlow, st: FlowState, opts: GatewayOptions, route: routing.Route
) -> FaultSpec | None:
    """The fault for this request: its own ``x-tapegate-fault`` header when
    ``gateway_fault_header`` allows it, else ``gateway_fault`` if its scope covers the request.
    FaultSpecError for a header that does not parse."""
    hdrs = flow.request.headers
    asked = header_edit.get(hdrs.fields, fault_proxy.SPEC_HEADER.encode())
    if asked is not None:
        hdrs.fields = header_edit.apply(hdrs.fields, (_DROP_FAULT,))
        if opts.fault_header:
            return parse_fault(asked)
    if opts.fault is not None and opts.fault_scope.covers(st.ex.model_requested, route.name):
        return opts.fault
    return None


_DROP_FAULT = header_edit.drop(fault_proxy.SPEC_HEADER)


def through_fault_proxy(
    flow: http.HTTPFlow, st: FlowState, fault: FaultSpec, upstream: ir.Dialect, port: int
) -> None:
    """Send the request to the fault proxy, which forwards it to where it was going and breaks
    the answer (:mod:`addons.upstream.fault_proxy`); the exchange records the fault."""
    data = flow.request.data
    target = f"{data.scheme.decode()}://{data.host}:{data.port}"
    hdrs = flow.request.headers
    edits = (
        header_edit.set_(fault_proxy.TARGET_HEADER, target),
        header_edit.set_(fault_proxy.SPEC_HEADER, str(fault)),
        header_edit.set_(fault_proxy.DIALECT_HEADER, upstream),
    )
    hdrs.fields = header_edit.apply(hdrs.fields, edits)
    data.scheme, data.host, data.port = b"http", "127.0.0.1", port
    st.ex.extra["fault"] = str(fault)
