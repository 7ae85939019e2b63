"""mitmproxy's HTTP-level rejections in the client's dialect (addons.request.rejections): its
HTTP/1 server layer driven with bytes, no sockets. Through the gateway, with raw sockets and the
record: tests/e2e/test_gateway_edges_e2e.py."""

from __future__ import annotations

import json
from typing import Any

import pytest
from mitmproxy.connection import ConnectionState
from mitmproxy.options import Options
from mitmproxy.proxy import commands, events
from mitmproxy.proxy.context import Context
from mitmproxy.proxy.layers.http._base import ReceiveHttp
from mitmproxy.proxy.layers.http._events import ErrorCode, ResponseProtocolError
from mitmproxy.test import tflow

from addons.request import rejections
from addons.request.rejections import DialectRejections, Rejection

LISTENER = ("127.0.0.1", 8080)
# The rejections mitmproxy's HTTP/1 server layer makes while reading a head.
UNREADABLE = {
    "bad header line": b"POST /v1/messages HTTP/1.1\r\nHost: h\r\nnot a header\r\n\r\n",
    "bad request line": b"POST /v1/chat/completions\r\nHost: h\r\n\r\n",
    "bad content-length": b"POST /v1/responses HTTP/1.1\r\nHost: h\r\ncontent-length: 1x\r\n\r\n",
}
DIALECT = {
    "/v1/messages": "anthropic",
    "/v1/chat/completions": "openai",
    "/v1/responses": "responses",
}


def server() -> tuple[DialectRejections, list[Rejection]]:
    client = tflow.tclient_conn()
    client.state = ConnectionState.OPEN
    client.sockname = LISTENER
    reports: list[Rejection] = []
    layer = DialectRejections(Context(client, Options()), reports.append)
    list(layer.handle_event(events.Start()))
    return layer, reports


def sent(cmds: list[commands.Command]) -> bytes:
    return b"".join(c.data for c in cmds if isinstance(c, commands.SendData))


def body(raw: bytes) -> Any:
    head, _, content = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 "), raw[:200]
    assert b"content-type: application/json" in head.lower()
    return json.loads(content)


def assert_dialect_error(payload: Any, dialect: str) -> str:
    """The error's message, from the shape of ``dialect``'s error body."""
    if dialect == "anthropic":
        assert payload["type"] == "error"
        assert payload["error"]["type"] == "invalid_request_error"
    else:
        assert set(payload) == {"error"} and payload["error"]["type"] == "invalid_request_error"
    message: str = payload["error"]["message"]
    return message


@pytest.mark.parametrize("raw", UNREADABLE.values(), ids=UNREADABLE.keys())
def test_a_head_mitmproxy_cannot_read_is_refused_in_the_dialect_of_its_path(raw: bytes) -> None:
    layer, reports = server()
    cmds = list(layer.handle_event(events.DataReceived(layer.conn, raw)))
    path = raw.split(b"\r\n")[0].split(b" ")[1].decode()
    message = assert_dialect_error(body(sent(cmds)), DIALECT[path])
    assert any(isinstance(c, commands.CloseConnection) for c in cmds)
    # the request goes no further: no flow, no hook (it is recorded from the report)
    assert not any(isinstance(c, ReceiveHttp) for c in cmds)
    assert [c.message for c in cmds if isinstance(c, commands.Log)] == [
        f"{layer.conn.peername[0]}:{layer.conn.peername[1]}: {message}"
    ]
    [r] = reports
    assert (r.status, r.method, r.target, r.dialect) == (400, "POST", path, DIALECT[path])
    assert r.message == message and r.answer == sent(cmds) and not r.seen


def test_a_head_split_anywhere_is_read_as_a_whole() -> None:
    raw = UNREADABLE["bad header line"]
    for cut in range(1, len(raw)):
        layer, reports = server()
        first = list(layer.handle_event(events.DataReceived(layer.conn, raw[:cut])))
        second = list(layer.handle_event(events.DataReceived(layer.conn, raw[cut:])))
        assert sent(first) == b"", cut
        assert_dialect_error(body(sent(second)), "anthropic")
        assert reports[0].target == "/v1/messages"


def test_a_path_that_tells_no_dialect_keeps_mitmproxys_page() -> None:
    layer, reports = server()
    cmds = list(
        layer.handle_event(events.DataReceived(layer.conn, b"GET /x HTTP/1.1\r\nbad\r\n\r\n"))
    )
    assert b"text/html" in sent(cmds)
    assert reports[0].dialect is None and reports[0].answer == sent(cmds)  # counted all the same


@pytest.mark.parametrize(
    ("code", "seen"),
    [(ErrorCode.DESTINATION_UNKNOWN, False), (ErrorCode.REQUEST_VALIDATION_FAILED, False),
     (ErrorCode.REQUEST_TOO_LARGE, True)],
)  # fmt: skip
def test_a_rejection_of_a_request_read_whole_is_in_its_dialect(code: ErrorCode, seen: bool) -> None:
    """No Host (an HTTP/1.0 client's request), CL+TE: mitmproxy read the head, then refused it
    (the HTTP layer sends the server layer its error); a too-large body: the hooks saw it."""
    layer, reports = server()
    head = (
        b"POST /v1/chat/completions HTTP/1.0\r\nx-api-key: sk-secret\r\ncontent-length: 2\r\n\r\n"
    )
    list(layer.handle_event(events.DataReceived(layer.conn, head)))
    why = "HTTP request has no host header, destination unknown."
    cmds = list(layer.handle_event(ResponseProtocolError(layer.stream_id, why, code)))
    raw = sent(cmds)
    status = code.http_status_code()
    assert raw.startswith(b"HTTP/1.1 %d " % status)
    payload = json.loads(raw.partition(b"\r\n\r\n")[2])
    assert payload["error"]["message"] == why and "code" in payload["error"]  # OpenAI's shape
    [r] = reports
    assert (r.status, r.dialect, r.seen, r.listener) == (status, "openai", seen, LISTENER)
    assert ("x-api-key", "sk-secret") in r.headers  # redacted when recorded (below)


def test_the_record_of_a_rejection_is_the_clients_error_without_its_secrets() -> None:
    layer, reports = server()
    raw = b"POST /v1/messages?key=k1 HTTP/1.1\r\nx-api-key: sk-secret\r\nbad line\r\n\r\n"
    list(layer.handle_event(events.DataReceived(layer.conn, raw)))
    ex = rejections.exchange(reports[0], "id1", 1700000000.0, "127.0.0.1:8080")
    assert ex.client_dialect == "anthropic" and ex.extra["client_error"] is True
    assert ex.client_request is not None and ex.client_response is not None
    assert ex.client_request.method == "POST"
    assert "k1" not in ex.client_request.url
    assert ex.client_request.url.startswith("http://127.0.0.1:8080/v1/messages?key=")
    assert ex.client_response.status == 400
    assert ex.error == "request refused: Invalid header line: b'bad line'"
    assert json.loads(ex.client_response.body or b"")["error"]["type"] == "invalid_request_error"


def test_a_request_line_and_its_path() -> None:
    assert rejections.request_line(b"POST /v1/messages HTTP/1.1\r\nHost") == (
        "POST",
        "/v1/messages",
    )
    assert rejections.request_line(b"garbage\r\n") == ("", "")
    assert rejections.path_of("http://h:1/v1/responses?x=1") == "/v1/responses"
    assert rejections.path_of("/v1/messages?beta=true") == "/v1/messages"
