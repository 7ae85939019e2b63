"""Clients over TLS that offer HTTP/2 (addons/http_versions.py): the gateway speaks HTTP/1.1 with
them unless gateway_http2 is set, so its deadlines, the in-dialect errors it writes itself and
mitmproxy's rejections in the client's dialect hold for them as for plain HTTP/1 clients, written
through the connection's TLS (the gateway's own writes once went to the socket in plaintext)."""

from __future__ import annotations

import json
import socket
import ssl
from collections.abc import Iterator

import anthropic
import httpx
import httpx2
import pytest

from fakes.upstream import FakeUpstream
from tests.e2e.conftest import Gw, extra, record, start_gateway, tls_preferring_h2

pytestmark = pytest.mark.e2e

MSG = [{"role": "user", "content": "hi"}]
IDLE = 1.0


@pytest.fixture(scope="module")
def gw(fake: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gw]:
    d = tmp_path_factory.mktemp("http-versions")
    db = d / "traffic.duckdb"
    sets = [
        f"confdir={d}",  # its CA: the clients below come over TLS
        f"gateway_upstream={fake.url}", "gateway_retries=0", f"gateway_idle_timeout={IDLE:g}",
    ]  # fmt: skip
    svc = start_gateway(d, sets, db=db)
    httpx.head(svc.url, timeout=30.0).raise_for_status()  # the addon is loaded
    yield Gw(svc, db)
    svc.stop()


def _h2_ant(gw: Gw, mode: str, versions: list[str]) -> anthropic.Anthropic:
    """The SDK over TLS to the gateway, offering HTTP/2 first (as curl and httpx[http2] do)."""
    http = httpx2.Client(
        http2=True,
        verify=tls_preferring_h2(),
        trust_env=False,
        event_hooks={"response": [lambda r: versions.append(r.http_version)]},
    )
    return anthropic.Anthropic(
        base_url=gw.url.replace("http://", "https://"),
        api_key="k",
        max_retries=0,
        timeout=IDLE + 5,  # far short of the stall: an untimed gateway fails the test
        http_client=http,
        default_headers={"x-fake-mode": mode},
    )


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_a_client_that_offers_http2_is_held_to_the_deadlines(
    gw: Gw, clean: FakeUpstream, stream: bool
) -> None:
    """Over HTTP/2 a JSON head then silence got mitmproxy's HTML 502 and a stalled stream went
    on without limit; over HTTP/1.1 in TLS, the gateway's 504 / error event was plaintext."""
    model = f"h2-{'stream' if stream else 'json'}"
    versions: list[str] = []
    client = _h2_ant(gw, "stall:2:20000" if stream else "hold:20000", versions)
    with pytest.raises(anthropic.APIStatusError) as e:
        if stream:
            with client.messages.stream(model=model, max_tokens=5, messages=MSG) as s:
                s.get_final_message()
        else:
            client.messages.create(model=model, max_tokens=5, messages=MSG)
    assert e.value.body["error"]["type"] == "timeout_error", e.value  # type: ignore[index]
    assert "gateway_idle_timeout" in str(e.value)
    assert stream or e.value.status_code == 504
    assert extra(record(gw, model))["timeout"] == "gateway_idle_timeout"
    assert versions == ["HTTP/1.1"]


def test_mitmproxys_rejection_of_a_client_over_tls_is_in_its_dialect_and_recorded(
    gw: Gw,
) -> None:
    """mitmproxy chooses a TLS client's TLS and HTTP layers at once: its HTML 400, unrecorded."""
    raw = b"POST /v1/messages?refused=tls HTTP/1.0\r\ncontent-length: 2\r\n\r\n{}"  # no Host
    tls = tls_preferring_h2()
    tls.set_alpn_protocols(["h2", "http/1.1"])
    with socket.create_connection(("127.0.0.1", gw.svc.port), timeout=10) as plain:
        with tls.wrap_socket(plain, server_hostname="localhost") as s:
            assert s.selected_alpn_protocol() == "http/1.1"
            s.sendall(raw)
            answer = b""
            try:
                while chunk := s.recv(65536):
                    answer += chunk
            except ssl.SSLEOFError:
                pass  # mitmproxy closes without close_notify
    head, _, content = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 "), answer[:300]
    body = json.loads(content)
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    row = record(gw, where="client_request_url like '%refused=tls%'")
    assert row["client_dialect"] == "anthropic" and row["status"] == 400
    assert extra(row) == {"client_error": True, "rejected_by": "mitmproxy"}
