"""The deadlines hold against an HTTPS upstream, as the vendors' APIs are: an upstream that never
sends its response head, or sends a JSON head and stalls, gets the client a 504 naming the option,
and a stalled stream the dialect's error event. (The first-byte deadline once handed mitmproxy a
plaintext 504 on the upstream's TLS connection: a TLS error, and a client left hanging.)"""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import anthropic
import httpx
import pytest
from mitmproxy.certs import CertStore

from fakes.upstream import FakeUpstream
from tests.e2e.conftest import Gw, extra, record, start_gateway

pytestmark = pytest.mark.e2e

MSG = [{"role": "user", "content": "hi"}]
DEADLINE = 1.0


def _server_tls(d: Path) -> ssl.SSLContext:
    """A self-signed certificate for the fake (the gateway runs with ``ssl_insecure``)."""
    CertStore.create_store(d, "fake", 2048)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(d / "fake-ca.pem")
    return tls


@pytest.fixture(scope="module")
def https_fake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeUpstream]:
    server = FakeUpstream(tls=_server_tls(tmp_path_factory.mktemp("tls-fake"))).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gw(https_fake: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gw]:
    d = tmp_path_factory.mktemp("timeouts-tls")
    db = d / "traffic.duckdb"
    sets = [
        f"confdir={d}", "ssl_insecure=true", f"gateway_upstream={https_fake.url}",
        "gateway_retries=0", f"gateway_first_byte_timeout={DEADLINE:g}",
        f"gateway_idle_timeout={DEADLINE:g}",
    ]  # fmt: skip
    svc = start_gateway(d, sets, db=db)
    httpx.head(svc.url, timeout=30.0).raise_for_status()  # the addon is loaded
    yield Gw(svc, db)
    svc.stop()


def ant(gw: Gw, mode: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        base_url=gw.url, api_key="k", max_retries=0, timeout=20.0,
        default_headers={"x-fake-mode": mode},
    )  # fmt: skip


@pytest.mark.parametrize(
    ("mode", "option"),
    [("slow:20000", "gateway_first_byte_timeout"), ("hold:20000", "gateway_idle_timeout")],
    ids=["no-head", "head-then-silence"],
)
def test_a_silent_https_upstream_is_a_504(gw: Gw, https_fake: FakeUpstream, mode: str, option: str):
    https_fake.clear()
    model = f"tls-{mode.split(':')[0]}"
    t0 = time.monotonic()
    with pytest.raises(anthropic.APIStatusError) as e:
        ant(gw, mode).messages.create(model=model, max_tokens=5, messages=MSG)
    assert e.value.status_code == 504, e.value
    assert e.value.body["error"]["type"] == "timeout_error"  # type: ignore[index]
    assert option in e.value.message
    assert time.monotonic() - t0 < DEADLINE + 5
    row = record(gw, model)
    assert row["status"] == 504 and option in row["error"]
    assert extra(row)["timeout"] == option
    https_fake.release()


def test_a_stalled_https_stream_ends_with_the_dialects_error(
    gw: Gw, https_fake: FakeUpstream
) -> None:
    https_fake.clear()
    with pytest.raises(anthropic.APIStatusError) as e:
        with ant(gw, "stall:2:20000").messages.stream(
            model="tls-stall", max_tokens=5, messages=MSG
        ) as s:
            s.get_final_message()
    assert e.value.body["error"]["type"] == "timeout_error"  # type: ignore[index]
    assert "gateway_idle_timeout" in e.value.message
    https_fake.release()
