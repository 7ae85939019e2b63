"""Fixtures that start the real gateway (``mitmdump -s addons/gateway.py``) against the local
fake upstream, once per test module, on free 127.0.0.1 ports."""

from __future__ import annotations

import json
import ssl
import subprocess
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from fakes.procs import BIN, REPO, Service, free_port, start_service
from fakes.upstream import FakeUpstream

GATEWAY_ADDON = REPO / "addons" / "gateway.py"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeUpstream]:
    server = FakeUpstream().start()
    yield server
    server.stop()


def start_gateway(
    log_dir: Path,
    sets: Sequence[str],
    env: dict[str, str] | None = None,
    name: str = "gateway",
    db: Path | None = None,
) -> Service:
    """mitmdump with the gateway addon, recording to ``db`` (None: recording off).
    ``--listen-host`` is explicit so that the addon does not re-bind after start."""
    port = free_port()
    argv: list[str] = [
        str(BIN / "mitmdump"),
        "-q",
        "-s",
        str(GATEWAY_ADDON),
        "-p",
        str(port),
        "--listen-host",
        "127.0.0.1",
        "--set",
        f"recorder_db={db or ''}",
    ]
    for s in sets:
        argv += ["--set", s]
    return start_service(name, argv, port=port, log_dir=log_dir, env=env)


@pytest.fixture
def clean(fake: FakeUpstream) -> FakeUpstream:
    fake.clear()
    return fake


class _PreferH2(ssl.SSLContext):
    """httpx offers ``http/1.1`` before ``h2``, and mitmproxy takes the client's first choice:
    this context offers ``h2`` first, so that the client speaks HTTP/2 to the gateway."""

    def set_alpn_protocols(self, alpn_protocols: Iterable[str]) -> None:
        super().set_alpn_protocols(sorted(alpn_protocols, key=lambda p: p != "h2"))


def tls_preferring_h2() -> ssl.SSLContext:
    """TLS to the gateway (``https://`` + its port: mitmproxy's own certificate, not verified),
    offering ``h2`` before ``http/1.1``."""
    tls = _PreferH2(ssl.PROTOCOL_TLS_CLIENT)
    tls.check_hostname, tls.verify_mode = False, ssl.CERT_NONE
    return tls


def http_client(*, http2: bool = False) -> httpx.Client:
    """A plain client of the gateway; with ``http2``, over TLS speaking HTTP/2 when the gateway
    lets it (``gateway_http2``)."""
    return httpx.Client(http2=http2, verify=tls_preferring_h2(), timeout=60, trust_env=False)


@dataclass(frozen=True)
class Gw:
    """A gateway under test and its recording (None: recording off)."""

    svc: Service
    db: Path | None

    @property
    def url(self) -> str:
        return self.svc.url


def record(
    gw: Gw, model: str = "", timeout: float = 10.0, *, where: str | None = None
) -> dict[str, Any]:
    """The recorded exchange whose client asked for ``model``, or that matches the SQL
    condition ``where`` (waits for the writer)."""
    rows = rows_where(gw, where or f"model_requested = '{model}'", 1, timeout)
    assert len(rows) == 1, rows
    return rows[0]


def rows_where(gw: Gw, where: str, n: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    """The recorded exchanges that match the SQL condition ``where``, oldest first, once there
    are ``n`` of them (or what there is after ``timeout``)."""
    assert gw.db is not None, "this gateway does not record"
    sql = f"select * from exchanges where {where} order by started_at"
    deadline = time.monotonic() + timeout
    while True:
        out = subprocess.run(
            [str(BIN / "recorder"), "query", sql, "--db", str(gw.db), "--format", "json"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        rows: list[dict[str, Any]] = json.loads(out.stdout)
        if len(rows) >= n or time.monotonic() > deadline:
            return rows
        time.sleep(0.1)


def extra(row: dict[str, Any]) -> dict[str, Any]:
    value = row["extra"]
    return dict(json.loads(value) if isinstance(value, str) else value or {})
