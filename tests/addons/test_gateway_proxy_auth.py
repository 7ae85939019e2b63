"""``gateway_key`` on explicit-proxy traffic (absolute-form requests and CONNECT tunnels) and
the no-open-proxy rule, through the Gateway's hooks in mitmproxy's test context (no sockets)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field

import pytest
from mitmproxy import http
from mitmproxy.test import taddons, tflow

from addons.gateway_hooks import Gateway
from addons.metadata import FLOW_STATE
from addons.request.proxy_auth import presented_key

KEY = "gw-key"


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@dataclass(frozen=True)
class Case:
    name: str
    key: str | None
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    peer: str = "127.0.0.1"
    status: int | None = None  # None: let through
    error_type: str | None = None
    vendor: bool = False  # recorded as vendor traffic when let through


OTHER = "http://10.1.2.3:9000/v1/chat/completions"
UPSTREAM = "http://127.0.0.1:9000/v1/chat/completions"  # gateway_upstream below
LOCAL_REDIS = "http://127.0.0.1:6379/"
ANTHROPIC = "http://api.anthropic.com/v1/messages"
CASES = [
    Case("no credentials", KEY, OTHER, status=407, error_type="invalid_request_error"),
    Case("basic, key as password", KEY, OTHER, {"proxy-authorization": basic("u", KEY)}),
    Case("basic, key as user", KEY, OTHER, {"proxy-authorization": basic(KEY, "")}),
    Case("bearer", KEY, OTHER, {"proxy-authorization": f"Bearer {KEY}"}),
    Case("wrong key", KEY, OTHER, {"proxy-authorization": basic("u", "x")}, status=407),
    Case(
        "client's own key is not the gateway key",
        KEY,
        OTHER,
        {"authorization": f"Bearer {KEY}"},
        status=407,
    ),
    Case(
        "vendor host, no credentials",
        KEY,
        ANTHROPIC,
        {"anthropic-version": "2023-06-01"},
        status=407,
        error_type="authentication_error",
    ),
    Case(
        "vendor host, key",
        KEY,
        ANTHROPIC,
        {"proxy-authorization": basic("u", KEY), "x-api-key": "sk-vendor"},
        vendor=True,
    ),
    Case("no gateway key, loopback client", None, OTHER, status=403),  # not an open proxy
    Case("no gateway key, the upstream", None, UPSTREAM),
    Case("no gateway key, the upstream's host, another port", None, LOCAL_REDIS, status=403),
    Case("no gateway key, remote client", None, OTHER, peer="192.0.2.7", status=403),
    Case(
        "no gateway key, origin-form with a foreign host (DNS rebinding)",
        None,
        "http://rebound.example:8080/v1/chat/completions",
        status=403,
    ),
    Case("no gateway key, remote client, vendor", None, ANTHROPIC, peer="192.0.2.7", vendor=True),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_explicit_proxy_request(case: Case) -> None:
    gw = Gateway()
    with taddons.context(gw) as tctx:
        tctx.configure(gw, gateway_key=case.key or "", gateway_upstream=UPSTREAM.rsplit("/", 2)[0])
        f = tflow.tflow()
        f.client_conn.peername = (case.peer, 40000)
        f.client_conn.sockname = ("127.0.0.1", 8080)
        f.request = http.Request.make("POST", case.url, b"{}", case.headers)
        gw.requestheaders(f)
        if case.status is None:
            assert f.response is None
            assert "proxy-authorization" not in f.request.headers  # never forwarded
            assert (FLOW_STATE in f.metadata) is case.vendor
            if case.vendor and "x-api-key" in case.headers:
                assert f.request.headers["x-api-key"] == "sk-vendor"  # the client's own key
            return
        assert f.response is not None and f.response.status_code == case.status
        assert FLOW_STATE not in f.metadata
        if case.status == 407:
            assert f.response.headers["proxy-authenticate"].startswith("Basic realm=")
        if case.error_type:
            assert json.loads(f.response.content or b"")["error"]["type"] == case.error_type


def test_connect_admits_the_tunnel_once() -> None:
    gw = Gateway()
    with taddons.context(gw) as tctx:
        tctx.configure(gw, gateway_key=KEY)
        refused = tflow.tflow()
        refused.request = http.Request.make("CONNECT", "http://api.openai.com:443", b"", {})
        refused.request.path = ""  # authority form
        gw.http_connect(refused)
        assert refused.response is not None and refused.response.status_code == 407

        connect = tflow.tflow()
        connect.request = http.Request.make(
            "CONNECT", "http://api.openai.com:443", b"", {"proxy-authorization": f"Bearer {KEY}"}
        )
        gw.http_connect(connect)
        assert connect.response is None  # mitmproxy establishes the tunnel
        inner = tflow.tflow()
        inner.client_conn = connect.client_conn
        inner.request = http.Request.make("POST", "https://api.openai.com/v1/chat/completions")
        gw.requestheaders(inner)
        assert inner.response is None and inner.metadata[FLOW_STATE].kind == "vendor"

        gw.client_disconnected(connect.client_conn)
        again = tflow.tflow()
        again.client_conn = connect.client_conn
        again.request = http.Request.make("POST", "https://api.openai.com/v1/chat/completions")
        gw.requestheaders(again)
        assert again.response is not None and again.response.status_code == 407


@pytest.mark.parametrize(
    "value, key",
    [
        (basic("tapegate", "k1"), "k1"),
        (basic("k2", ""), "k2"),
        ("bearer  k3 ", "k3"),
        ("Basic !!!", None),
        ("Digest abc", None),
        ("", None),
    ],
)
def test_presented_key(value: str, key: str | None) -> None:
    assert presented_key(value) == key
