"""Who can reach the gateway (issue 11): no listening window beyond loopback while it starts,
and without ``gateway_key`` no proxying to anything but its upstreams and the vendors' APIs,
whatever the ``Host`` header says (the DNS-rebinding building block)."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from addons.startup import STARTUP_EXIT
from fakes.procs import BIN, free_port
from fakes.upstream import FakeUpstream
from tests.e2e.conftest import GATEWAY_ADDON, start_gateway

pytestmark = pytest.mark.e2e


def _lan_address() -> str | None:
    """An address of this host that is not loopback (no packet is sent), or None."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # TEST-NET-1: only picks the outgoing interface
        except OSError:
            return None
        addr = str(s.getsockname()[0])
    return None if addr.startswith("127.") or addr == "0.0.0.0" else addr


def _served(addr: str, port: int) -> bytes:
    """What a client reaching ``addr`` gets for a request to the gateway itself (b"" when
    refused, or closed unanswered)."""
    try:
        with socket.create_connection((addr, port), timeout=2) as s:
            s.sendall(f"GET /v1/models HTTP/1.1\r\nHost: {addr}:{port}\r\n\r\n".encode())
            return s.recv(200)
    except OSError:
        return b""


def _answer(s: socket.socket) -> bytes:
    """A whole (content-length) answer from ``s``."""
    data = b""
    while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < _length(data):
        piece = s.recv(4096)
        if not piece:
            break
        data += piece
    return data


def _length(data: bytes) -> int:
    for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


def _probe_while_starting(argv: list[str], addr: str, port: int, tmp: Path) -> list[bytes]:
    """Start ``argv`` and knock on ``addr:port`` as fast as possible for 6 s."""
    answers: list[bytes] = []
    stop = threading.Event()

    def knock() -> None:
        while not stop.is_set():
            answers.append(_served(addr, port))
            time.sleep(0.002)

    knockers = [threading.Thread(target=knock, daemon=True) for _ in range(4)]
    for k in knockers:
        k.start()
    with (tmp / "start.log").open("wb") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    try:
        time.sleep(6)
    finally:
        stop.set()
        proc.terminate()
        proc.wait(15)
        for k in knockers:
            k.join(5)
    return answers


@pytest.mark.parametrize(
    "extra", [[], ["--listen-host", "0.0.0.0"]], ids=["default", "0.0.0.0 without key"]
)
def test_no_connection_beyond_loopback_is_served_while_starting(
    tmp_path: Path, extra: list[str]
) -> None:
    addr = _lan_address()
    if addr is None:
        pytest.skip("this host has no address beyond loopback")
    port = free_port()
    argv = [str(BIN / "mitmdump"), "-s", str(GATEWAY_ADDON), "-p", str(port), *extra,
            "--set", "recorder_db="]  # fmt: skip
    answers = _probe_while_starting(argv, addr, port, tmp_path)
    assert answers and [a for a in answers if a] == []


def test_without_a_key_only_upstreams_and_vendors_are_proxied(
    fake: FakeUpstream, tmp_path: Path
) -> None:
    gw = start_gateway(tmp_path, [f"gateway_upstream={fake.url}", "gateway_retries=0"])
    closed = free_port()  # a local service the gateway must not lead to
    try:
        for host in (f"127.0.0.1:{closed}", "rebound.example:80", f"localhost:{fake.port}"):
            with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as s:
                # origin-form, as a browser page sends it after DNS rebinding
                s.sendall(f"GET /v1/models HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
                head = _answer(s)
            assert head.startswith(b"HTTP/1.1 403"), (host, head[:200])
            assert b"without gateway_key" in head
        seen = len(fake.requests)
        with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as s:
            s.sendall(f"GET {fake.url}/v1/models HTTP/1.1\r\nHost: {fake.url[7:]}\r\n\r\n".encode())
            assert _answer(s).startswith(b"HTTP/1.1 200")  # the upstream itself: proxied
        assert len(fake.requests) == seen + 1
    finally:
        gw.stop()


def test_a_refused_remote_listen_ends_the_gateway(tmp_path: Path) -> None:
    port = free_port()
    argv = [str(BIN / "mitmdump"), "-s", str(GATEWAY_ADDON), "-p", str(port),
            "--listen-host", "0.0.0.0", "--set", "recorder_db="]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == STARTUP_EXIT and "without gateway_key" in done.stdout + done.stderr
