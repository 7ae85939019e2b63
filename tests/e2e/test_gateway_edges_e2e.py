"""The live gateway at the edges of an exchange, end to end (real mitmdump + recorder, the fake
upstream, the official SDKs): clients that hang up right after the final event, an upstream that
dies mid-body, the first-token timeout inside a stream, and ``gateway_key`` on explicit-proxy
traffic. Each exchange is looked up in the gateway's DuckDB file by a model name of its own.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import anthropic
import httpx
import openai
import pytest

from fakes.procs import BIN, free_port, start_service
from fakes.upstream import FakeUpstream, Received
from tests.e2e.conftest import GATEWAY_ADDON, Gw, extra, http_client, record, rows_where
from tests.sdk import anthropic_final_message
from tests.sdk_openai import openai_final_completion

pytestmark = pytest.mark.e2e

KEY = "gw-edge-key-31f9"
MSG = [{"role": "user", "content": "hi"}]
TIMEOUT = 1.0  # gateway_first_token_timeout


@pytest.fixture(scope="module")
def gw(fake: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gw]:
    d = tmp_path_factory.mktemp("edges")
    (d / "mitmproxy").mkdir()
    routes = d / "routes.yaml"
    routes.write_text(
        f"""
routes:
  - name: to-openai
    match: {{header: {{x-route: to-openai}}}}
    upstream: {fake.url}/v1
    api: openai
  - name: to-anthropic
    match: {{header: {{x-route: to-anthropic}}}}
    upstream: {fake.url}
    api: anthropic
"""
    )
    db = d / "traffic.duckdb"
    port = free_port()
    argv = [
        str(BIN / "mitmdump"), "-q", "-s", str(GATEWAY_ADDON), "-p", str(port),
        "--listen-host", "127.0.0.1",
        "--set", f"confdir={d / 'mitmproxy'}",  # its CA (HTTP/2 clients come over TLS)
        "--set", f"gateway_upstream={fake.url}",
        "--set", f"gateway_key={KEY}",
        "--set", f"gateway_config={routes}",
        "--set", "gateway_retries=0",
        "--set", f"gateway_first_token_timeout={TIMEOUT:g}",
        "--set", "gateway_http2=true",  # the HTTP/2 cases below (off by default)
        "--set", f"recorder_db={db}",
    ]  # fmt: skip
    svc = start_service("gateway", argv, port=port, log_dir=d)
    # mitmdump listens before its scripts are loaded; the tests below time requests, so the
    # first one must not include the addon's start-up (seconds on a loaded machine).
    httpx.head(svc.url, timeout=30.0).raise_for_status()
    yield Gw(svc, db)
    svc.stop()


def ant(gw: Gw, mode: str, route: str | None = None) -> anthropic.Anthropic:
    headers = {"x-fake-mode": mode} | ({"x-route": route} if route else {})
    return anthropic.Anthropic(base_url=gw.url, api_key=KEY, max_retries=0, default_headers=headers)


def oai(gw: Gw, mode: str, route: str | None = None) -> openai.OpenAI:
    headers = {"x-fake-mode": mode} | ({"x-route": route} if route else {})
    return openai.OpenAI(
        base_url=f"{gw.url}/v1", api_key=KEY, max_retries=0, default_headers=headers
    )


# ------------------------------------------------------------------ the end of a stream
#
# The fake upstream lingers after the stream's terminal event (``[DONE]``, ``message_stop``, an
# error event) without ending its body, until the test releases it. The client must be done
# while the upstream still holds its body open: a gateway that waits for the upstream's end
# would keep the client until the release (or the linger's end), whatever the machine's load.

LINGER = "linger:30000"  # released by the test; 30 s only if the gateway waited for it


def upstream_request(fake: FakeUpstream, model: str) -> Received:
    found = [r for r in fake.requests if b'"' + model.encode() + b'"' in r.body]
    assert len(found) == 1, [r.path for r in fake.requests]
    return found[0]


def completed(row: dict[str, Any], stop_reason: str | None = "end_turn") -> dict[str, Any]:
    """The exchange is recorded as a completed stream; its extra."""
    assert row["status"] == 200 and row["stream"], row
    assert row["stop_reason"] == stop_reason
    return extra(row)


@dataclass(frozen=True)
class StreamEnd:
    client: str  # "openai" | "anthropic"
    route: str | None  # None: pass-through (the fake speaks the client's dialect)
    http2: bool

    @property
    def name(self) -> str:
        path = "pass-through" if self.route is None else "translated"
        return f"{self.client} {path} {'HTTP/2' if self.http2 else 'HTTP/1.1'}"


STREAM_ENDS = [
    StreamEnd(client, route, http2)
    for client, translated in (("openai", "to-anthropic"), ("anthropic", "to-openai"))
    for route in (None, translated)
    for http2 in (False, True)
]


@pytest.mark.parametrize("case", STREAM_ENDS, ids=lambda c: c.name)
def test_the_response_ends_at_the_terminal_event_not_at_the_upstreams_end(
    gw: Gw, clean: FakeUpstream, case: StreamEnd
) -> None:
    model = "end-" + case.name.replace(" ", "-").replace("/", "")
    body: dict[str, Any] = {"model": model, "messages": MSG, "stream": True, "max_tokens": 5}
    path = "/v1/chat/completions" if case.client == "openai" else "/v1/messages"
    headers = {"x-fake-mode": LINGER, "x-api-key": KEY} | (
        {"x-route": case.route} if case.route else {}
    )
    # A plain client that reads the response to its end (the SDKs judge the bytes below): it
    # returns only once the gateway has ended the response, over HTTP/1.1 or HTTP/2 (TLS).
    base = gw.url.replace("http://", "https://") if case.http2 else gw.url
    with http_client(http2=case.http2) as http:
        with http.stream("POST", base + path, json=body, headers=headers) as r:
            raw = r.read()
            version = r.http_version
    ended = upstream_request(clean, model).body_ended
    clean.release()
    assert not ended, "the client's response ended only when the upstream ended its body"
    assert r.status_code == 200 and version == ("HTTP/2" if case.http2 else "HTTP/1.1")
    if case.client == "openai":
        done = openai_final_completion(raw, model=model)
        assert done.choices[0].finish_reason == "stop" and done.choices[0].message.content
    else:
        msg = anthropic_final_message(raw, model=model)
        assert msg.stop_reason == "end_turn" and msg.content
    assert completed(record(gw, model))["upstream_body_abandoned"] is True


def test_an_upstream_that_ends_its_body_keeps_its_connection(gw: Gw, clean: FakeUpstream) -> None:
    """The gateway gives up on a body only when the upstream does not end it itself."""
    with httpx.Client(timeout=60, trust_env=False) as http:
        for i in range(4):
            if i == 3:
                connections = clean.connections
            body = {"model": f"kept-{i}", "messages": MSG, "stream": True}
            r = http.post(gw.url + "/v1/chat/completions", json=body, headers={"x-api-key": KEY})
            assert r.status_code == 200 and r.text.rstrip().endswith("data: [DONE]")
    assert clean.connections == connections  # the last request reused an upstream connection
    assert "upstream_body_abandoned" not in completed(record(gw, "kept-3"))


@dataclass(frozen=True)
class HangUp:
    name: str
    client: str  # "openai" | "anthropic"
    route: str | None
    mode: str
    stop_reason: str | None
    error: str | None  # substring of the recorded error, None: no error


HANGUPS = [
    HangUp("openai [DONE]", "openai", None, LINGER, "end_turn", None),
    HangUp("anthropic error event", "anthropic", None, f"midstream-error+{LINGER}", None, "over"),
    HangUp(
        "anthropic error event translated",
        "anthropic",
        "to-openai",
        f"midstream-error+{LINGER}",
        None,
        "Overloaded",
    ),
]


@pytest.mark.parametrize("case", HANGUPS, ids=lambda c: c.name)
def test_a_client_done_at_the_final_event_is_a_completed_exchange(
    gw: Gw, clean: FakeUpstream, case: HangUp
) -> None:
    """The SDKs stop reading at ``[DONE]`` or an error event and close; whether the gateway ends
    the response first or the client hangs up first, the exchange is complete."""
    model = f"hangup-{case.name.replace(' ', '-')}"
    if case.client == "openai":
        chunks = list(
            oai(gw, case.mode, case.route).chat.completions.create(
                model=model, messages=MSG, stream=True
            )
        )
        assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    else:
        with pytest.raises(anthropic.APIStatusError):
            with ant(gw, case.mode, case.route).messages.stream(
                model=model, max_tokens=5, messages=MSG
            ) as s:
                s.get_final_message()
    ended = upstream_request(clean, model).body_ended
    clean.release()
    assert not ended, "the client waited for the upstream's end"
    row = record(gw, model)
    how = completed(row, case.stop_reason)
    if case.error is None:
        assert row["error"] is None
    else:
        assert case.error in row["error"]
    assert how.get("client_closed_early") or how.get("upstream_body_abandoned"), how


# ------------------------------------------------------------------ upstream dies mid-body


def test_upstream_dying_mid_json_is_502_in_each_dialect(gw: Gw, clean: FakeUpstream) -> None:
    with pytest.raises(anthropic.APIStatusError) as a:
        ant(gw, "truncated-json").messages.create(model="cut-a", max_tokens=5, messages=MSG)
    assert a.value.status_code == 502
    assert a.value.body["error"]["type"] == "api_error"  # type: ignore[index]
    with pytest.raises(openai.APIStatusError) as o:
        oai(gw, "truncated-json", "to-openai").chat.completions.create(model="cut-o", messages=MSG)
    assert o.value.status_code == 502
    assert "upstream connection lost" in o.value.message
    row = record(gw, "cut-o")
    assert row["status"] == 502 and "upstream connection lost mid-response" in row["error"]
    assert httpx.head(gw.url + "/").status_code == 200  # the gateway carries on


# ------------------------------------------------------------------ the client's broken request


def test_a_broken_request_body_is_the_clients_error_with_its_method_and_url(gw: Gw) -> None:
    host = f"127.0.0.1:{gw.svc.port}"
    head = f"POST /v1/messages?broken=1 HTTP/1.1\r\nHost: {host}\r\nx-api-key: {KEY}\r\n"
    with socket.create_connection(("127.0.0.1", gw.svc.port), timeout=10) as s:
        s.sendall(head.encode() + b"transfer-encoding: chunked\r\n\r\nZZ\r\nabc\r\n0\r\n\r\n")
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
    body = json.loads(answer.split(b"\r\n\r\n", 1)[1])
    assert body["error"]["type"] == "invalid_request_error"  # Anthropic's dialect, by the path
    with socket.create_connection(("127.0.0.1", gw.svc.port), timeout=10) as s:
        s.sendall(head.encode() + b'content-length: 500\r\n\r\n{"model": ')
        time.sleep(0.3)  # and hangs up mid-body
    rows = rows_where(gw, "client_request_url like '%broken=1%'", 2)
    assert len(rows) == 2, rows
    for row in rows:
        assert row["client_request_method"] == "POST"
        assert row["error"].startswith("client request incomplete")
        assert "upstream" not in row["error"] and extra(row)["client_error"] is True


# mitmproxy's own HTTP-level rejections (addons/request/rejections.py): request heads by the
# dialect their path tells
REFUSED_BY_MITMPROXY = {
    "no Host (HTTP/1.0)": (
        "openai",
        b"POST /v1/chat/completions?refused=1 HTTP/1.0\r\ncontent-length: 2\r\n\r\n{}",
    ),
    "bad header line": (
        "anthropic",
        b"POST /v1/messages?refused=2 HTTP/1.1\r\nHost: HOST\r\nnot a header\r\n\r\n",
    ),
    "content-length and transfer-encoding": (
        "responses",
        b"POST /v1/responses?refused=3 HTTP/1.1\r\nHost: HOST\r\ncontent-length: 5\r\n"
        b"transfer-encoding: chunked\r\n\r\n0\r\n\r\n",
    ),
    "bad request line": ("anthropic", b"POST /v1/messages?refused=4\r\nHost: HOST\r\n\r\n"),
}


def test_mitmproxys_own_rejections_are_in_the_dialect_of_the_path_and_recorded(gw: Gw) -> None:
    """mitmproxy answered these with its HTML 400 and no hook ran: unrecorded."""
    host = f"127.0.0.1:{gw.svc.port}".encode()
    for name, (dialect, raw) in REFUSED_BY_MITMPROXY.items():
        with socket.create_connection(("127.0.0.1", gw.svc.port), timeout=10) as s:
            s.sendall(raw.replace(b"HOST", host))
            answer = b""
            while chunk := s.recv(65536):
                answer += chunk
        head, _, content = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 400 "), (name, answer[:300])
        assert b"content-type: application/json" in head.lower(), name
        body = json.loads(content)
        assert body["error"]["type"] == "invalid_request_error", name
        if dialect == "anthropic":
            assert body["type"] == "error", name
        else:
            assert "code" in body["error"], name  # OpenAI's error shape
    rows = rows_where(gw, "client_request_url like '%refused=%'", len(REFUSED_BY_MITMPROXY))
    assert len(rows) == len(REFUSED_BY_MITMPROXY), rows
    for row, (name, (dialect, _)) in zip(rows, REFUSED_BY_MITMPROXY.items(), strict=True):
        assert row["client_dialect"] == dialect, name
        assert row["status"] == 400 and row["error"].startswith("request refused: "), name
        assert extra(row) == {"client_error": True, "rejected_by": "mitmproxy"}, name
        assert row["client_request_method"] == "POST", name


# ------------------------------------------------------------------ first-token timeout


def test_first_token_timeout_ends_a_stream_whose_tokens_are_slow(
    gw: Gw, clean: FakeUpstream
) -> None:
    # Headers and message_start at once, then 1.5 s between events: no token within 1 s.
    t0 = time.monotonic()
    with pytest.raises(anthropic.APIStatusError) as e:
        with ant(gw, "gap:1500").messages.stream(model="slow-a", max_tokens=5, messages=MSG) as s:
            s.get_final_message()
    assert time.monotonic() - t0 < 1.4
    assert e.value.body["error"]["type"] == "timeout_error"  # type: ignore[index]
    row = record(gw, "slow-a")
    assert "no first token" in row["error"]
    assert extra(row)["timeout"] == "gateway_first_token_timeout"
    with pytest.raises(openai.APIError, match="no first token"):
        list(
            oai(gw, "gap:1500", "to-openai").chat.completions.create(
                model="slow-o", messages=MSG, stream=True
            )
        )


def test_first_token_timeout_in_a_translated_stream(gw: Gw, clean: FakeUpstream) -> None:
    with pytest.raises(anthropic.APIStatusError) as e:
        with ant(gw, "gap:1500", "to-openai").messages.stream(
            model="slow-a2o", max_tokens=5, messages=MSG
        ) as s:
            s.get_final_message()
    assert e.value.body["error"]["type"] == "timeout_error"  # type: ignore[index]


def test_a_stream_whose_first_token_is_in_time_may_run_long(gw: Gw, clean: FakeUpstream) -> None:
    # First token after 0.3 s, the whole stream takes ~2.4 s: longer than the timeout.
    chunks = list(
        oai(gw, "events:6+gap:300", "to-openai").chat.completions.create(
            model="steady", messages=MSG, stream=True
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices).count("t") == 6
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"


# ------------------------------------------------------------------ gateway_key as a proxy


def _proxy(gw: Gw, creds: str | None) -> str:
    return gw.url.replace("http://", f"http://{creds}@") if creds else gw.url


@dataclass(frozen=True)
class ProxyCase:
    name: str
    creds: str | None  # user:password in the proxy URL
    status: int


PROXY_CASES = [
    ProxyCase("no credentials", None, 407),
    ProxyCase("wrong key", "tapegate:nope", 407),
    ProxyCase("key as password", f"tapegate:{KEY}", 200),
    ProxyCase("key as user", f"{KEY}:", 200),
]


@pytest.mark.parametrize("case", PROXY_CASES, ids=lambda c: c.name)
def test_explicit_proxy_traffic_needs_the_gateway_key(
    gw: Gw, clean: FakeUpstream, case: ProxyCase
) -> None:
    with httpx.Client(proxy=_proxy(gw, case.creds)) as c:
        r = c.post(
            f"{clean.url}/v1/chat/completions",
            json={"model": "m", "messages": MSG},
            headers={"authorization": "Bearer sk-client"},
        )
    assert r.status_code == case.status
    if case.status == 407:
        assert r.headers["proxy-authenticate"].startswith("Basic")
        assert r.json()["error"]["code"] == "invalid_api_key"  # OpenAI's auth error shape
        assert clean.requests == []
    else:
        seen = clean.requests[-1].headers
        assert "proxy-authorization" not in seen  # the gateway key stays here
        assert seen["authorization"] == "Bearer sk-client"  # the client's own key travels on


def test_connect_without_the_gateway_key_is_refused(gw: Gw, clean: FakeUpstream) -> None:
    with httpx.Client(proxy=gw.url) as c:
        with pytest.raises(httpx.ProxyError, match="407"):
            c.get(f"https://127.0.0.1:{clean.port}/v1/models")
    assert clean.requests == []
