"""Setting the response a client gets from the gateway itself (errors in the client's dialect,
local endpoints, translated bodies), and recording it as the client leg."""

from __future__ import annotations

import json
from typing import Any

from mitmproxy import http
from mitmproxy.net.http import http1

from addons import endpoints, summary
from addons.flowstate import FlowState
from addons.upstream import Reply
from recorder import ir


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
    st.local = flow.response is None
    set_response(flow, st, status, body, headers)


def set_response(
    flow: http.HTTPFlow, st: FlowState, status: int, body: bytes, headers: dict[str, str]
) -> None:
    flow.response = http.Response.make(status, body, headers)
    st.ex.client_response = summary.snapshot_response(flow.response, body)


def raw_error(st: FlowState, kind: ir.ErrorKind, msg: str) -> bytes:
    """A whole HTTP/1.1 error response in the client's dialect, for writing to the socket when
    no hook can set ``flow.response`` any more (``connection: close``: the exchange is over).
    Recorded as the client leg."""
    status, body = endpoints.error_response(kind, msg, st.client)
    headers = endpoints.JSON_HEADERS | {"connection": "close"}
    resp = http.Response.make(status, body, headers)
    st.ex.client_response = summary.snapshot_response(resp, body)
    if st.ex.error is None:
        st.ex.error = msg
    raw: bytes = http1.assemble_response(resp)  # type: ignore[no-untyped-call]
    return raw


def response_from(reply: Reply) -> http.Response:
    drop = {"content-length", "transfer-encoding", "content-encoding", "connection"}
    hdrs = [(k.encode(), v.encode()) for k, v in reply.headers if k.lower() not in drop]
    return http.Response.make(reply.status, reply.body, hdrs)


def loads(raw: bytes, text: bool = False) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return raw.decode("utf-8", "replace") if text else None
