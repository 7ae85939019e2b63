"""Forwarding a classified request (:mod:`addons.request.classify`): the gateway's key, its local
endpoints, translating the request body, and pointing the request at the route's upstream.
``vendor`` flows (explicit-proxy traffic to a vendor's API host) are recorded and passed through.
"""

from __future__ import annotations

import functools
import json
import time

from mitmproxy import http

from addons import snapshots
from addons.flow_state import FlowState
from addons.metadata import FLOW_STATE
from addons.options import GatewayOptions
from addons.request import stored
from addons.request.body import open_body
from addons.response.replies import reply, reply_error
from addons.upstream import timeouts
from addons.upstream.policy import RetryPolicy
from addons.upstream.probe import ProbeFailed, probe
from recorder import auth, dialects, endpoints, header_edit, ir, request_body, routing
from recorder.backends import BackendError, ListsModels, PreparesRequests, Upstream
from recorder.context import Context, IdFactory
from recorder.errors import TranslationError

Live = set[tuple[str, tuple[str, int]]]


def refuse_announced_size(flow: http.HTTPFlow, st: FlowState, max_body: int) -> None:
    """``requestheaders``: a gateway request whose announced body is over ``max_body`` is
    answered at once (mitmproxy still reads the body, and drops it)."""
    try:
        size = int(flow.request.headers.get("content-length", "0"))
    except ValueError:
        return  # mitmproxy refuses a malformed length itself
    if size > max_body:
        _unrecorded_body(st, size)
        if st.rec:
            st.ex.client_request = snapshots.snapshot_request(flow.request, None, st.client_url)
        refused = request_body.too_large(size, max_body)
        reply_error(flow, st, refused.kind, refused.message)


def _unrecorded_body(st: FlowState, size: int) -> None:
    """An oversized body is not recorded (its size is)."""
    st.ex.extra["request_body_bytes"] = size
    if st.ex.client_request is not None:
        st.ex.client_request.body = None


def vendor_request(flow: http.HTTPFlow, st: FlowState, policy: RetryPolicy) -> None:
    """Explicit-proxy traffic to a vendor: recorded, passed through untouched except that
    chat responses are asked for uncompressed (so their events can be recorded), and held to
    the same deadlines as the gateway's own upstream requests."""
    req = flow.request
    path = req.path.split("?", 1)[0]
    if dialects.for_path(path) is not None:
        req.headers["accept-encoding"] = "identity"
    st.ex.route = "forward-proxy"
    if st.rec:
        st.ex.client_request = snapshots.snapshot_request(req, req.raw_content, req.pretty_url)
        st.ex.upstream_request = st.ex.client_request
        _note_model(st, req.raw_content)
    timeouts.start(flow, st, policy)


async def gateway_request(
    flow: http.HTTPFlow,
    st: FlowState,
    opts: GatewayOptions,
    router: routing.Router,
    live: Live,
    answers: stored.RecordedAnswers | None = None,
    fault_port: int | None = None,
) -> None:
    """``answers``: the recording's lookup of answers the client saw (stored conversations);
    ``fault_port``: where the fault proxy listens when ``gateway_fault`` is set."""
    req = flow.request
    path, _, query = st.client_path.partition("?")
    if st.rec:
        st.ex.client_request = snapshots.snapshot_request(req, req.raw_content, st.client_url)
    if len(req.raw_content or b"") > opts.max_body:  # chunked: its size was not announced
        _unrecorded_body(st, len(req.raw_content or b""))
        refused = request_body.too_large(len(req.raw_content or b""), opts.max_body)
        return reply_error(flow, st, refused.kind, refused.message)
    if opts.key and not auth.key_ok(req.headers, opts.key):
        return reply_error(flow, st, "authentication", "invalid or missing gateway key")
    client = st.client
    spec = dialects.entry(client)
    if req.method == "GET" and path == "/v1/models":
        names = router.models()
        for backend in router.backends():
            if isinstance(backend, ListsModels):
                names += [n for n in await backend.models() if n not in names]
        models = endpoints.models_body(names, client, int(time.time()))
        return reply(flow, st, 200, models, endpoints.JSON_HEADERS)
    recipe = spec.stored
    if recipe is not None and req.method == "GET" and path.startswith(recipe.retrieve_prefix):
        answer_id = path[len(recipe.retrieve_prefix) :]
        if await stored.retrieve(flow, st, recipe, answer_id, answers):
            return  # answered from the recording (or its error told)
    chat = path == spec.chat_path or path == spec.count_tokens_path
    if not chat or req.method != "POST":
        route = router.default or routing.vendor_route(client)
        if route.dialect_for(client) != client:
            msg = f"{req.method} {path} is not served by this gateway"
            return reply_error(flow, st, "not_found", msg)
        return await send(flow, st, opts, live, route, client, path, query, None, fault_port)
    raw = req.raw_content or b""
    encoding = req.headers.get("content-encoding")
    limits = opts.max_body, opts.max_json_depth
    async with open_body(flow.id, raw, encoding, *limits, client) as read:
        if isinstance(read, request_body.Refused):
            if read.kind == "request_too_large":
                _unrecorded_body(st, len(raw))
            return reply_error(flow, st, read.kind, read.message)
        asked = read.model if isinstance(read.model, str) else None
        model = router.alias(asked)
        route = router.resolve(model, client, req.headers)
        upstream = route.dialect_for(client)
        sent = route.model or model
        st.upstream = upstream
        st.ex.model_requested, st.ex.model_sent = asked, sent
        st.ex.stream = read.stream
        if path == spec.count_tokens_path and dialects.entry(upstream).count_tokens_path is None:
            out = await read.count_tokens()
            hdrs = endpoints.JSON_HEADERS | {endpoints.ESTIMATE_HEADER: "true"}
            return reply(flow, st, 200, out, hdrs)
        st.ctx = Context(client, upstream, ids=IdFactory(flow.id), created=int(time.time()))
        if isinstance(route.backend, PreparesRequests):
            try:
                await route.backend.prepare(st.ctx)
            except BackendError as e:
                return reply_error(flow, st, e.kind, str(e))
        turns = None
        if recipe is not None and client != upstream and read.continues is not None:
            turns = await stored.earlier_turns(flow, st, recipe, read.continues, answers, upstream)
            if turns is None:
                return
        try:
            new = await read.rewrite(sent, asked, st.ctx, turns)
        except TranslationError as e:
            return reply_error(flow, st, "invalid_request", str(e))
    if client != upstream:
        path, query = dialects.entry(upstream).chat_path, ""
    st.ctx.requested_model = asked
    await send(flow, st, opts, live, route, upstream, path, query, new, fault_port)


async def send(
    flow: http.HTTPFlow,
    st: FlowState,
    opts: GatewayOptions,
    live: Live,
    route: routing.Route,
    upstream: ir.Dialect,
    path: str,
    query: str,
    body: bytes | None,
    fault_port: int | None = None,
) -> None:
    """Point the request at the route's backend (started if it is a local one), fix its
    headers, and make sure it can be reached (see :mod:`addons.upstream` for why the gateway
    probes). With ``gateway_fault`` covering it, the request goes through the fault proxy on
    ``fault_port``."""
    req = flow.request
    backend = route.backend
    up = backend.endpoint() or await backend.start()
    st.upstream = upstream
    st.ex.route = route.name
    st.ex.upstream_dialect = upstream
    hdrs = req.headers
    # Every header change below is one edit of a list applied in a single pass at the end (see
    # recorder.header_edit), in the order the changes used to be made one by one.
    edits: list[header_edit.Edit] = []
    full = path + (f"?{query}" if query else "")
    if route is not st.pointed or full != st.client_path:
        edits.append(aim(flow, route, up, full))
    if body is not None:
        if header_edit.has(hdrs.fields, b"content-encoding"):  # re-encoded by mitmproxy's setter
            hdrs.fields = header_edit.apply(hdrs.fields, edits)
            req.content = body
            edits = []
        else:
            req.data.content = body
            if not header_edit.has(hdrs.fields, b"transfer-encoding"):
                edits.append(header_edit.set_("content-length", str(len(body))))
    edits += _HOP_EDITS
    try:
        creds = await backend.credentials()
    except BackendError as e:
        return reply_error(flow, st, e.kind, str(e))
    key = creds.key if creds is not None else None
    if key is not None or opts.key or st.client != upstream:
        style = dialects.entry(upstream).key_style
        edits += auth.upstream_auth_edits(hdrs, style, key, bool(opts.key))
    edits += auth.dialect_edits(st.client, upstream)
    if creds is not None and creds.headers:
        edits += _route_edits(creds.headers)
    if route.headers:
        edits += _route_edits(route.headers)
    hdrs.fields = header_edit.apply(hdrs.fields, edits)
    st.upstream_url = up.url_for(req.path[len(up.prefix) :])
    if st.rec:
        st.ex.upstream_request = snapshots.snapshot_request(req, req.raw_content, st.upstream_url)
    if fault_port is not None:
        from addons.request import faulted  # loaded only with gateway_fault(_header) set

        if not faulted.divert(flow, st, opts, route, upstream, fault_port):
            return
    if (flow.client_conn.id, (req.host, req.port)) not in live:
        try:
            await probe(req.host, req.port, opts.policy)
        except ProbeFailed as e:
            kind: ir.ErrorKind = "timeout" if e.timed_out else "bad_gateway"
            return reply_error(flow, st, kind, str(e))
    timeouts.start(flow, st, opts.policy)


# The body is asked for uncompressed (its events are translated and recorded); the proxy's own
# credentials are meant for this hop, never for the upstream.
_HOP_EDITS = (
    header_edit.set_("accept-encoding", "identity"),
    header_edit.drop("proxy-authorization"),
)


@functools.lru_cache(maxsize=64)
def _route_edits(headers: tuple[tuple[str, str], ...]) -> tuple[header_edit.Edit, ...]:
    """A route's extra headers as edits, encoded once per route."""
    return tuple(header_edit.set_(k, v) for k, v in headers)


def point(flow: http.HTTPFlow, route: routing.Route, up: Upstream, path: str) -> None:
    """Re-target the request (see :func:`aim`) and set its Host header."""
    hdrs = flow.request.headers
    hdrs.fields = header_edit.apply(hdrs.fields, (aim(flow, route, up, path),))


def aim(flow: http.HTTPFlow, route: routing.Route, up: Upstream, path: str) -> header_edit.Edit:
    """Aim the request at ``up`` (``route``'s backend): write mitmproxy's raw target fields
    (the property setters each rebuild host/authority, measurably slow per request); returns the
    Host header's edit."""
    data = flow.request.data
    data.scheme = up.scheme.encode()
    data.host, data.port = up.host, up.port
    data.path = up.path_for(path).encode()
    flow.metadata[FLOW_STATE].pointed = route
    return header_edit.set_("host", up.host_header)


def _note_model(st: FlowState, raw: bytes | None) -> None:
    if raw and raw[:1] == b"{":
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError):
            return
        if isinstance(body, dict):
            st.ex.model_requested = st.ex.model_sent = body.get("model")
            st.ex.stream = bool(body.get("stream"))
