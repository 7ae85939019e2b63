"""The real gateway's start as a user sees it: a mistake is one line and a non-zero exit before
anything listens; a good start says what is in effect."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

from fakes.procs import BIN, REPO, free_port, start_service
from tests.e2e.conftest import GATEWAY_ADDON

STARTUP_EXIT = 2


def mitmdump(tmp_path: Path, *sets: str, db: str = "") -> list[str]:
    argv = [str(BIN / "mitmdump"), "-s", str(GATEWAY_ADDON), "-p", str(free_port())]
    for s in [f"recorder_db={db}", *sets]:
        argv += ["--set", s]
    return argv


def fails_at_start(tmp_path: Path, *sets: str, db: str = "") -> str:
    done = subprocess.run(
        mitmdump(tmp_path, *sets, db=db), cwd=tmp_path, capture_output=True, text=True,
        timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    out = done.stdout + done.stderr
    assert done.returncode == STARTUP_EXIT, out
    assert "Traceback" not in out and "listening" not in out, out
    problem = [line for line in out.splitlines() if "Loading script" not in line]
    assert len(problem) == 1, out
    return problem[0]


def test_a_mistyped_option_stops_the_gateway_naming_the_right_one(tmp_path: Path) -> None:
    line = fails_at_start(tmp_path, "gateway_upstrem=http://127.0.0.1:9/v1")
    assert "unknown option gateway_upstrem; did you mean gateway_upstream?" in line


def test_a_refused_start_leaves_no_database_behind(tmp_path: Path) -> None:
    """The writer process opens the command line's database while the gateway loads (not after
    it): a start refused after that removes the file it created."""
    argv = [str(BIN / "mitmdump"), "-s", str(GATEWAY_ADDON), "-p", str(free_port()),
            "--set", "gateway_upstrem=http://127.0.0.1:9/v1"]  # fmt: skip
    done = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)  # fmt: skip
    assert done.returncode == STARTUP_EXIT, done.stdout + done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_port_in_use_stops_the_start_and_leaves_no_database(tmp_path: Path) -> None:
    """Refused once the database was opened (the listener binds after it): the database the
    start created goes with it."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        argv = [str(BIN / "mitmdump"), "-s", str(GATEWAY_ADDON), "-p", str(port),
                "--set", "gateway_upstream=http://127.0.0.1:9/v1"]  # fmt: skip
        done = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL)  # fmt: skip
    out = done.stdout + done.stderr
    assert done.returncode == STARTUP_EXIT, out
    assert f"cannot listen on 127.0.0.1:{port}: address already in use" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_an_option_given_twice_stops_the_gateway(tmp_path: Path) -> None:
    # Before: mitmproxy failed to declare the gateway's options, and the gateway listened as a
    # plain proxy that neither translated nor recorded, saying nothing.
    line = fails_at_start(tmp_path, "recorder_db=again.duckdb")  # recorder_db= comes first
    assert line.endswith("tapegate: recorder_db is set 2 times ('', 'again.duckdb'): set it once")
    assert not (tmp_path / "again.duckdb").exists()  # opened early for nothing: gone


def test_a_bad_routes_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "routes.yaml").write_text("routes:\n  - name: x\n    upstream: nope\n")
    line = fails_at_start(tmp_path, "gateway_config=routes.yaml")
    assert line.endswith(
        "tapegate: routes.yaml: routes[0].upstream: upstream must be an http(s) URL with a "
        "host, got 'nope'"
    )


def test_a_second_gateway_on_the_same_database_is_one_line(tmp_path: Path) -> None:
    db = str(tmp_path / "t.duckdb")
    port = free_port()
    argv = [str(BIN / "mitmdump"), "-s", str(GATEWAY_ADDON), "-p", str(port),
            "--listen-host", "127.0.0.1", "--set", f"recorder_db={db}"]  # fmt: skip
    first = start_service("first", argv, port=port, log_dir=tmp_path, cwd=REPO)
    try:
        line = fails_at_start(tmp_path, db=db)
        assert f"cannot record to {db}: process" in line
        assert "another gateway recording there?" in line
    finally:
        first.stop()
    log = first.log.read_text()
    assert "tapegate gateway on http://127.0.0.1:" in log
    assert f"  recording  {db}" in log
    assert "each client's vendor API, with the client's own key" in log


def test_stopping_with_a_client_connected_logs_no_cancelled_error(tmp_path: Path) -> None:
    port = free_port()
    argv = [str(BIN / "mitmdump"), "-s", str(GATEWAY_ADDON), "-p", str(port),
            "--listen-host", "127.0.0.1", "--set", "recorder_db="]  # fmt: skip
    gw = start_service("gateway", argv, port=port, log_dir=tmp_path, cwd=REPO)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as keep_alive:
            keep_alive.sendall(f"HEAD / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
            assert keep_alive.recv(1024).startswith(b"HTTP/1.1 200")
            gw.stop()  # SIGTERM while the connection is open
    finally:
        gw.stop()
    log = gw.log.read_text()
    assert "CancelledError" not in log and "Traceback" not in log, log
