"""Setting the response a client gets from the gateway itself (errors in the client's dialect,
local endpoints, translated bodies), and recording it as the client leg."""

from __future__ import annotations

import json
import time
from typing import Any

from mitmproxy import http
from mitmproxy.net.http import http1, status_codes

from addons import snapshots
from addons.flow_state import ANSWERED, FlowState
from recorder import endpoints, header_edit, ir


def reply_error(flow: http.HTTPFlow, st: FlowState, kind: ir.ErrorKind, msg: str) -> None:
    """An in-dialect error answered by the gateway (the upstream's answer, if any, is dropped)."""
    status, body = endpoints.error_response(kind, msg, st.client)
    if st.ex.error is None:
        st.ex.error = msg
    reply(flow, st, status, body, endpoints.JSON_HEADERS)


def reply(
    flow: http.HTTPFlow, st: FlowState, status: int, body: bytes, headers: dict[str, str]
) -> None:
    """A local answer: marks the flow local when no upstream response exists."""
    if flow.response is None:
        st.phase = ANSWERED
        aim_home(flow, st)
    set_response(flow, st, status, body, headers)


def aim_home(flow: http.HTTPFlow, st: FlowState) -> None:
    """Point a request the gateway answers itself back at the gateway (it was aimed at the
    default upstream when its headers arrived): mitmdump's flow line and mitmweb then show
    ``GET http://127.0.0.1:8080/v1/models``, not a request to a vendor that never left."""
    if st.client_target is None:
        return
    scheme, host, port, host_header = st.client_target
    data = flow.request.data
    data.scheme, data.host, data.port = scheme.encode(), host, port
    data.path = st.client_path.encode()
    if host_header:
        flow.request.headers["host"] = host_header
    else:
        flow.request.headers.pop("host", None)


def set_response(
    flow: http.HTTPFlow, st: FlowState, status: int, body: bytes, headers: dict[str, str]
) -> None:
    flow.response = make_response(flow.response, status, body, headers)
    if st.rec:
        st.ex.client_response = snapshots.snapshot_response(flow.response, body)


def make_response(
    current: http.Response | None, status: int, body: bytes, headers: dict[str, str]
) -> http.Response:
    """``http.Response.make(status, body, headers)``. When the flow already holds an upstream
    response that was read whole, that object is rewritten in place to the same effect instead:
    mitmproxy's constructor type-checks every field of a new one (~15 µs, on every translated
    JSON response)."""
    if current is None or current.stream or not _MADE.isdisjoint(k.lower() for k in headers):
        return http.Response.make(status, body, headers)
    fields = tuple((header_edit.encode(k), header_edit.encode(v)) for k, v in headers.items())
    d = current.data
    d.http_version = b"HTTP/1.1"
    d.status_code = status
    d.reason = status_codes.RESPONSES.get(status, "").encode()
    d.headers = http.Headers(fields + ((b"content-length", b"%d" % len(body)),))
    d.content = body
    d.trailers = None
    d.timestamp_start = d.timestamp_end = time.time()
    return current


# Headers that Response.make treats specially (it encodes the body, omits or replaces the
# length): left to it.
_MADE = frozenset({"content-encoding", "transfer-encoding", "content-length"})


def raw_error(st: FlowState, kind: ir.ErrorKind, msg: str) -> bytes:
    """A whole HTTP/1.1 error response in the client's dialect, for writing to the socket when
    no hook can set ``flow.response`` any more (``connection: close``: the exchange is over).
    Recorded as the client leg."""
    status, body = endpoints.error_response(kind, msg, st.client)
    headers = endpoints.JSON_HEADERS | {"connection": "close"}
    resp = http.Response.make(status, body, headers)
    if st.rec:
        st.ex.client_response = snapshots.snapshot_response(resp, body)
    if st.ex.error is None:
        st.ex.error = msg
    raw: bytes = http1.assemble_response(resp)  # type: ignore[no-untyped-call]
    return raw


def loads(raw: bytes, text: bool = False) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return raw.decode("utf-8", "replace") if text else None
