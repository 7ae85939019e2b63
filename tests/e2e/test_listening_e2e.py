"""Who can reach the gateway (issue 11): where it listens while it starts (told by the order of
its sockets' calls, not by timing them), and without ``gateway_key`` no proxying to anything but
its upstreams and the vendors' APIs, whatever the ``Host`` header says (the DNS-rebinding
building block)."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest

from addons.startup import STARTUP_EXIT
from fakes.listen_probe import MARK
from fakes.procs import REPO, free_port
from fakes.upstream import FakeUpstream
from tests.e2e.conftest import GATEWAY_ADDON, start_gateway

pytestmark = pytest.mark.e2e

EVERYWHERE = (
    "listen 0.0.0.0",
    "listen ::",
)  # what the probe says when a socket listens beyond loopback


def _lan_address() -> str | None:
    """An address of this host that is not loopback (no packet is sent), or None."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # TEST-NET-1: only picks the outgoing interface
        except OSError:
            return None
        addr = str(s.getsockname()[0])
    return None if addr.startswith("127.") or addr == "0.0.0.0" else addr


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


class Start(NamedTuple):
    seen: list[str]  # what the gateway's sockets did, in order (fakes.listen_probe)
    status: int  # its exit status (0: stopped by the test)
    answer: bytes  # what a client that knocked beyond loopback got
    log: str


def _start_order(
    argv: list[str], lan: str | None = None, *, as_mitmdump: Path | None = None
) -> Start:
    """Start the gateway under fakes.listen_probe until it says where it is on (or exits); with
    ``lan``, a client sends a request there as soon as the gateway listens beyond loopback. With
    ``as_mitmdump`` (a folder), the probe runs as a script named ``mitmdump`` there, so that
    the project's start hook (addons/tapegate_deferred_listen.pth) sees mitmdump start;
    otherwise as ``python -m``, as if that hook were not installed."""
    if as_mitmdump is None:
        command = [sys.executable, "-m", "fakes.listen_probe", *argv]
    else:
        script = as_mitmdump / "mitmdump"
        script.write_text("from fakes.listen_probe import main\n\nmain()\n")
        command = [sys.executable, str(script), *argv]
    proc = subprocess.Popen(
        command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    seen: list[str] = []
    log: list[str] = []
    knocked: list[socket.socket] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            log.append(line)
            if line.startswith(MARK):
                seen.append(what := line[len(MARK) :].strip())
                if lan is not None and not knocked and what in EVERYWHERE:
                    knocked.append(_knock(lan, int(argv[argv.index("-p") + 1])))
            if "tapegate gateway on" in line:
                break
    finally:
        proc.terminate()
        status = proc.wait(30)
    answer = b"".join(_answer_to(s) for s in knocked)
    return Start(seen, 0 if status == -signal.SIGTERM else status, answer, "".join(log))


def _knock(addr: str, port: int) -> socket.socket:
    s = socket.socket()
    s.settimeout(5)
    try:
        s.connect((addr, port))  # the kernel's accept
        s.sendall(f"GET /v1/models HTTP/1.1\r\nHost: {addr}:{port}\r\n\r\n".encode())
    except OSError:
        pass  # refused: the gateway is gone already
    return s


def _answer_to(s: socket.socket) -> bytes:
    with s:
        try:
            return s.recv(200)
        except OSError:
            return b""  # reset


def test_mitmdump_listens_only_on_loopback_and_only_once_the_gateway_is_configured(
    tmp_path: Path,
) -> None:
    argv = ["-s", str(GATEWAY_ADDON), "-p", str(free_port()), "--set", "recorder_db="]
    seen = _start_order(argv, as_mitmdump=tmp_path).seen
    listens = [what for what in seen if what.startswith("listen ")]
    assert listens == ["listen 127.0.0.1"], seen
    assert seen.index("gateway configuring") < seen.index("listen 127.0.0.1"), seen


def test_a_refused_remote_listen_is_never_bound(tmp_path: Path) -> None:
    argv = ["-s", str(GATEWAY_ADDON), "-p", str(free_port()), "--listen-host", "0.0.0.0",
            "--set", "recorder_db="]  # fmt: skip
    start = _start_order(argv, _lan_address(), as_mitmdump=tmp_path)
    assert start.status == STARTUP_EXIT and "without gateway_key" in start.log, start.log
    assert "gateway configuring" in start.seen, start.seen
    assert not [what for what in start.seen if what.startswith("listen ")], start.seen


def test_an_allowed_remote_listen_is_bound_where_asked_once_configured(tmp_path: Path) -> None:
    argv = ["-s", str(GATEWAY_ADDON), "-p", str(free_port()), "--listen-host", "0.0.0.0",
            "--set", "gateway_allow_remote=true", "--set", "recorder_db="]  # fmt: skip
    seen = _start_order(argv, as_mitmdump=tmp_path).seen
    assert [what for what in seen if what.startswith("listen ")] == ["listen 0.0.0.0"], seen
    assert seen.index("gateway configuring") < seen.index("listen 0.0.0.0"), seen


def test_without_the_start_hook_the_gateway_is_configured_before_listening_beyond_loopback() -> (
    None
):
    """Without the start hook (mitmdump run some other way), mitmproxy binds every interface
    before it loads the gateway's script; the gateway is configured before that socket listens
    (it closes each connection there at once: client_connected) and moves to loopback before it
    says where it is on."""
    argv = ["-s", str(GATEWAY_ADDON), "-p", str(free_port()), "--set", "recorder_db="]
    seen = _start_order(argv).seen
    everywhere = [i for i, what in enumerate(seen) if what in EVERYWHERE]
    assert everywhere and seen.index("gateway configuring") < everywhere[0], seen
    for i in everywhere:
        assert seen[i].replace("listen", "close") in seen[i:], seen
    assert "listen 127.0.0.1" in seen[everywhere[-1] :], seen


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
