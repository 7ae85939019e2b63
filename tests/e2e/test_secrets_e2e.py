"""No secret is stored, exported or logged, and the files that hold recordings are the owner's
only (issue 11). The real gateway, recording, against the fake upstream: credentials under
names nobody listed (``x-auth-token``, ``client_secret=`` …) are redacted in DuckDB, its WAL,
an exported cassette and mitmdump's flow lines; the database, WAL, sidecar and cassette files
are created 0600 (a cassette 0644 only on request); the gateway key can come from the
environment, so that the process list does not show it."""

from __future__ import annotations

import stat
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from fakes.procs import BIN, free_port, start_service
from fakes.upstream import FakeUpstream
from tests.e2e.conftest import GATEWAY_ADDON
from tests.e2e.test_recording_e2e import query

pytestmark = pytest.mark.e2e

GATEWAY_KEY = "gw-key-from-env-41c9e2"
HEADER_SECRETS = {
    "x-auth-token": "hdr-auth-token-0a1b",
    "x-access-token": "hdr-access-token-2c3d",
    "x-amz-security-token": "hdr-amz-4e5f",
    "x-client-secret": "hdr-client-secret-6a7b",
    "x-tenant-id": "hdr-tenant-8c9d",  # not on the built-in list: recorder_redact adds it
}
QUERY_SECRETS = {
    "client_secret": "q-client-secret-1111",
    "password": "q-password-2222",
    "signature": "q-signature-3333",
    "access-token": "q-access-token-4444",
}
SECRETS = [GATEWAY_KEY, *HEADER_SECRETS.values(), *QUERY_SECRETS.values()]


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def _leaks(paths: list[Path]) -> list[tuple[str, str]]:
    found = []
    for p in paths:
        data = p.read_bytes()
        found += [(p.name, s) for s in SECRETS if s.encode() in data]
    return found


def test_no_secret_is_stored_exported_or_logged(fake: FakeUpstream, tmp_path: Path) -> None:
    db = tmp_path / "secrets.duckdb"
    port = free_port()
    argv = [
        str(BIN / "mitmdump"), "-s", str(GATEWAY_ADDON), "-p", str(port),
        "--listen-host", "127.0.0.1", "--set", f"gateway_upstream={fake.url}/v1",
        "--set", "gateway_upstream_api=openai", "--set", f"recorder_db={db}",
        "--set", "gateway_key_env=TAPEGATE_TEST_GATEWAY_KEY", "--set", "gateway_retries=0",
        "--set", "recorder_redact=x-tenant-*",
    ]  # fmt: skip
    svc = start_service(
        "secrets", argv, port=port, log_dir=tmp_path, env={"TAPEGATE_TEST_GATEWAY_KEY": GATEWAY_KEY}
    )
    try:
        assert GATEWAY_KEY not in Path(f"/proc/{svc.proc.pid}/cmdline").read_text()
        body = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
        headers = {"x-api-key": GATEWAY_KEY, **HEADER_SECRETS}
        with httpx.Client(base_url=svc.url, timeout=30) as c:
            bad = {**HEADER_SECRETS, "x-api-key": "wrong"}
            r = c.post("/v1/messages", params=QUERY_SECRETS, json=body, headers=bad)
            assert r.status_code == 401
            for stream in (False, True):
                r = c.post("/v1/messages", params=QUERY_SECRETS, json=body | {"stream": stream},
                           headers=headers)  # fmt: skip
                assert r.status_code == 200, r.text
        rows = query(db, "select client_request_url, client_request_headers from exchanges")
        assert len(rows) == 3
        assert "client_secret=[redacted]" in str(rows)
        # While it runs: the database, its write-ahead log and the sidecar.
        files = [p for p in tmp_path.glob(db.name + "*") if p.is_file()]
        assert {p.name for p in files} >= {db.name, db.name + ".wal", db.name + ".tapegate.json"}
        assert _leaks(files) == []
        assert {p.name: _mode(p) for p in files} == {p.name: 0o600 for p in files}
    finally:
        svc.stop()
    files = [p for p in tmp_path.glob(db.name + "*") if p.is_file()]
    assert _leaks(files) == [] and all(_mode(p) == 0o600 for p in files)
    time.sleep(0.2)  # the log file is flushed at exit
    log = svc.log.read_text()
    assert "/v1/messages?client_secret=[redac" in log  # the flow line (cut short by mitmdump)
    assert [s for s in SECRETS if s in log] == []

    # Exported: secrets redacted, files 0600 unless asked for 0644.
    for world_readable, mode in ((False, 0o600), (True, 0o644)):
        out = tmp_path / f"cassette-{mode:o}"
        argv = [
            str(BIN / "recorder"),
            "export",
            str(out),
            "--db",
            str(db),
            "--redact",
            "x-tenant-*",
        ]
        if world_readable:
            argv.append("--world-readable")
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr
        written = [p for p in out.iterdir() if p.is_file()]
        assert written and _leaks(written) == []
        assert {p.name: _mode(p) for p in written} == {p.name: mode for p in written}
