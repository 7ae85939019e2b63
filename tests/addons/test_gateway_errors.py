"""The Gateway's ``error`` hook and the first-token timer's hand-over inside a stream, in
mitmproxy's test context. The client socket is a fake writer (:mod:`addons.mitm_io` patched)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

import pytest
from mitmproxy import flow as mflow
from mitmproxy import http
from mitmproxy.test import taddons

from addons import mitm_io
from addons.gateway_hooks import Gateway
from addons.metadata import EXCHANGE, FLOW_STATE
from addons.response import failures as flow_errors
from addons.upstream import timeouts
from recorder.summary import settle
from tests.addons.test_gateway import ANT, gateway_flow, run

OAI = {"authorization": "Bearer k"}
DONE = b"data: [DONE]\n\n"
OAI_STOP = (
    b'data: {"model":"m","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}\n\n'
    b'data: {"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
)
OAI_ERROR = b'data: {"error":{"message":"Overloaded","type":"server_error","code":null}}\n\n'
ANT_STOP = (
    b'event: message_start\ndata: {"type":"message_start","message":{"model":"m","usage":'
    b'{"input_tokens":3,"output_tokens":1}}}\n\n'
    b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},'
    b'"usage":{"output_tokens":2}}\n\n'
    b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
)
ANT_ERROR = (
    b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error",'
    b'"message":"Overloaded"}}\n\n'
)


class Writer:
    def __init__(self) -> None:
        self.data = b""

    def write(self, data: bytes) -> None:
        self.data += data


@pytest.fixture
def writer(monkeypatch: pytest.MonkeyPatch) -> Writer:
    w = Writer()
    monkeypatch.setattr(mitm_io, "client_writer", lambda flow: w)
    return w


def streamed(gw: Gateway, path: str, headers: dict[str, str], chunks: list[bytes]) -> http.HTTPFlow:
    """A gateway flow whose SSE response passed ``chunks`` to the client."""
    f = gateway_flow("POST", path, b'{"model":"m","stream":true}', headers)
    run(gw, f)
    f.response = http.Response.make(200, b"", {"content-type": "text/event-stream"})
    gw.responseheaders(f)
    assert callable(f.response.stream)
    for c in chunks:
        f.response.stream(c)
    return f


@dataclass(frozen=True)
class HangUp:
    name: str
    path: str
    headers: dict[str, str]
    chunks: list[bytes]
    completed: bool
    stop_reason: str | None = None
    error: str | None = None


CHAT, MESSAGES = "/v1/chat/completions", "/v1/messages"
HANGUPS = [
    HangUp("openai after [DONE]", CHAT, OAI, [OAI_STOP, DONE], True, "end_turn"),
    HangUp("openai at an error chunk", CHAT, OAI, [OAI_ERROR], True, None, "server_error: Over"),
    HangUp("anthropic after message_stop", MESSAGES, ANT, [ANT_STOP], True, "end_turn"),
    HangUp("anthropic at an error event", MESSAGES, ANT, [ANT_ERROR], True, None, "overloaded"),
    HangUp("openai before [DONE]", CHAT, OAI, [OAI_STOP], False, "end_turn", "Client disc"),
    HangUp("anthropic mid-stream", MESSAGES, ANT, [ANT_STOP[:120]], False, None, "Client disc"),
]


@pytest.mark.parametrize("case", HANGUPS, ids=lambda c: c.name)
def test_client_hang_up(case: HangUp) -> None:
    gw = Gateway()
    with taddons.context(gw) as tctx:
        tctx.configure(gw, gateway_upstream="http://127.0.0.1:9000", gateway_key="k")
        f = streamed(gw, case.path, case.headers, case.chunks)
        f.error = mflow.Error("Client disconnected.")
        gw.error(f)
        ex = f.metadata[EXCHANGE]
        settle(ex)  # what the recorder does with the taped stream
        assert ex.client_response is not None and ex.client_response.status == 200
        assert ex.stop_reason == case.stop_reason
        assert (ex.error is None) if case.error is None else (case.error in ex.error)
        assert ex.extra.get(flow_errors.EARLY_CLOSE, False) is case.completed
        assert (f.error is None) is case.completed  # the recorder must not see a hang-up


class NotRecording:
    recording = False  # a Recorder with no sink open

    def refusal(self) -> None:
        return None


@pytest.mark.parametrize("case", HANGUPS, ids=lambda c: c.name)
def test_client_hang_up_unrecorded(case: HangUp) -> None:
    """With nothing recording, no event is kept, yet a hang-up after the terminal event still
    reads as a completed exchange."""
    gw = Gateway(NotRecording())
    with taddons.context(gw) as tctx:
        tctx.configure(gw, gateway_upstream="http://127.0.0.1:9000", gateway_key="k")
        f = streamed(gw, case.path, case.headers, case.chunks)
        f.error = mflow.Error("Client disconnected.")
        gw.error(f)
        ex = f.metadata[EXCHANGE]
        assert ex.events == [] and ex.client_request is None and ex.client_response is None
        assert ex.extra.get(flow_errors.EARLY_CLOSE, False) is case.completed
        assert (f.error is None) is case.completed


@pytest.mark.parametrize("path, headers", [(MESSAGES, ANT), (CHAT, OAI)])
def test_upstream_dying_mid_json_answers_502_in_dialect(
    writer: Writer, path: str, headers: dict[str, str]
) -> None:
    gw = Gateway()
    with taddons.context(gw) as tctx:
        tctx.configure(gw, gateway_upstream="http://127.0.0.1:9000", gateway_key="k")
        f = gateway_flow("POST", path, b'{"model":"m"}', headers)
        run(gw, f)
        f.response = http.Response.make(200, b"", {"content-type": "application/json"})
        gw.responseheaders(f)
        f.error = mflow.Error("HTTP/1 protocol error: peer closed connection")
        gw.error(f)
        head, _, body = writer.data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 502") and b"connection: close" in head
        err = json.loads(body)["error"]
        assert err["type"] == ("api_error" if path == MESSAGES else "server_error")
        assert "upstream connection lost mid-response" in err["message"]
        assert f.error is not None and f.error.msg == mflow.Error.KILLED_MESSAGE  # no HTML 502
        ex = f.metadata[EXCHANGE]
        assert ex.client_response.status == 502 and ex.upstream_response.status == 200
        assert "peer closed" in ex.error


def test_first_token_deadline_holds_until_the_first_token_then_idle_takes_over() -> None:
    async def scenario() -> None:
        gw = Gateway()
        with taddons.context(gw) as tctx:
            tctx.configure(
                gw, gateway_upstream="http://127.0.0.1:9000", gateway_first_token_timeout="30"
            )
            f = gateway_flow("POST", MESSAGES, b'{"model":"m","stream":true}', ANT)
            gw.requestheaders(f)
            gw.live.add((f.client_conn.id, (f.request.host, f.request.port)))
            await gw.request(f)
            st = f.metadata[FLOW_STATE]
            assert st.timer is not None
            assert timeouts.due(f, st).option == "gateway_first_token_timeout"  # type: ignore[union-attr]
            f.response = http.Response.make(200, b"", {"content-type": "text/event-stream"})
            gw.responseheaders(f)
            assert st.timer is not None  # headers are not a token
            head = ANT_STOP.split(b"event: message_delta")[0]
            assert f.response.stream(head) == head  # message_start: still no token
            assert timeouts.due(f, st).option == "gateway_first_token_timeout"  # type: ignore[union-attr]
            assert st.last_event is not None  # whole events passed
            token = (
                b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
                b'"delta":{"type":"text_delta","text":"Hi"}}\n\n'
            )
            assert f.response.stream(token) == token
            assert timeouts.due(f, st).option == "gateway_idle_timeout"  # type: ignore[union-attr]

    asyncio.run(scenario())


def test_explicit_proxy_traffic_to_a_vendor_is_held_to_the_same_deadlines() -> None:
    async def scenario() -> None:
        gw = Gateway()
        with taddons.context(gw) as tctx:
            tctx.configure(gw, gateway_first_byte_timeout="30")
            f = gateway_flow("POST", MESSAGES, b'{"model":"m"}', ANT)
            f.request.url = "https://api.anthropic.com/v1/messages"
            gw.requestheaders(f)
            await gw.request(f)
            st = f.metadata[FLOW_STATE]
            assert st.kind == "vendor" and f.response is None  # passed through
            assert st.timer is not None
            assert timeouts.due(f, st).option == "gateway_first_byte_timeout"  # type: ignore[union-attr]

    asyncio.run(scenario())
