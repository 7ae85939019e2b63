"""Which flows are the gateway's (``requestheaders``), and their state from the first hook on.

Two kinds of flow (see :class:`addons.flow_state.FlowState`): ``gateway`` flows are addressed to
the gateway itself (origin-form, the client's base URL is the proxy) and are routed and
translated; ``vendor`` flows are explicit-proxy traffic to a vendor's API host and are recorded
and passed through. Everything else is not touched here (see :mod:`addons.request.proxy_auth`).
"""

from __future__ import annotations

from mitmproxy import http

from addons.flow_state import FlowState, new_exchange
from addons.metadata import FLOW_STATE
from addons.request.forward import point
from recorder import dialects, routing

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def is_gateway_request(flow: http.HTTPFlow) -> bool:
    """Addressed to the gateway's own listener (origin-form, or absolute-form naming it)."""
    req = flow.request
    sock = flow.client_conn.sockname
    return req.port == sock[1] and (req.host in LOOPBACK or req.host == sock[0])


def is_health_check(flow: http.HTTPFlow) -> bool:
    """``HEAD`` of any path or ``GET /``: a liveness probe (load balancers; Claude Code's
    preconnect ``HEAD /``), which the gateway answers itself and nobody wants as a session."""
    req = flow.request
    return req.method == "HEAD" or (req.method == "GET" and req.path.split("?", 1)[0] == "/")


def classify_gateway(flow: http.HTTPFlow, router: routing.Router, rec: bool = True) -> None:
    """Attach a gateway flow's state (``requestheaders``) and point it at the default route
    at once, so that mitmproxy never tries to connect to the proxy itself. ``rec``: a recorder
    will store the exchange (see :attr:`addons.flow_state.FlowState.rec`)."""
    req = flow.request
    path = req.path.split("?", 1)[0]
    client = dialects.guess_client(path, req.headers)
    st = FlowState("gateway", client, client, new_exchange(flow), rec=rec)
    st.client_path = req.path
    st.client_target = (req.scheme, req.host, req.port, req.host_header or "")
    if rec:
        st.client_url = f"{req.scheme}://{req.host_header}{req.path}"
    flow.metadata[FLOW_STATE] = st
    point(flow, *router.first_aim(client), req.path)


def classify_proxied(flow: http.HTTPFlow, rec: bool = True) -> None:
    """Explicit-proxy traffic: vendor hosts get a state (recorded, passed through); other
    hosts are not the gateway's business."""
    vendor = dialects.for_host(flow.request.host, flow.request.path.split("?", 1)[0])
    if vendor is not None:
        st = FlowState("vendor", vendor.name, vendor.name, new_exchange(flow), rec=rec)
        flow.metadata[FLOW_STATE] = st
