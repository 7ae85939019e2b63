"""Query a database that a running gateway holds open: a loopback endpoint plus a sidecar file.

DuckDB lets no other process open a file that one process holds read-write, not even read-only
(tech.md §4). So the process that records also answers queries: :class:`QueryServer` listens on
127.0.0.1 on a free port, in its own daemon thread (never on mitmproxy's event loop), and runs
each query on a fresh cursor of the writer's connection. It writes ``<db>.tapegate.json``
(mode 0600: port, token, pid) next to the database and removes it when it stops. A client reads
that file and sends ``POST /query`` with ``X-Tapegate-Token``; a wrong token gets 403, a
statement that is wrong (:class:`QueryError`) 400, any other failure 500.

A client asks :func:`answers` first: a running gateway is then queried without this process
loading DuckDB at all.
"""

from __future__ import annotations

import hmac
import http.client
import json
import os
import secrets
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from recorder.store.results import QueryError, QueryResult, StoreError

TOKEN_HEADER = "X-Tapegate-Token"
Runner = Callable[[str, list[Any]], QueryResult]


def sidecar_path(db: str | Path) -> Path:
    return Path(str(db) + ".tapegate.json")


class QueryServer:
    def __init__(self, db: str | Path, run: Runner) -> None:
        self.db = Path(db)
        self.sidecar = sidecar_path(db)
        self.token = secrets.token_urlsafe(24)
        self._run = run
        self._httpd: ThreadingHTTPServer | None = None

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return int(self._httpd.server_address[1])

    def start(self) -> None:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self.token, self._run))
        self._httpd.daemon_threads = True
        threading.Thread(
            target=self._httpd.serve_forever, args=(0.05,), name="tapegate-query", daemon=True
        ).start()
        info = {"port": self.port, "token": self.token, "pid": os.getpid(), "db": str(self.db)}
        fd = os.open(self.sidecar, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)  # an existing file keeps its old mode through O_CREAT
        with os.fdopen(fd, "w") as f:
            json.dump(info, f)

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        self._httpd = None
        try:
            if json.loads(self.sidecar.read_text()).get("token") == self.token:
                self.sidecar.unlink()
        except (OSError, ValueError):
            pass


def _handler(token: str, run: Runner) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            if self.path != "/query":
                return self._reply(404, {"error": "not found"})
            if not hmac.compare_digest(self.headers.get(TOKEN_HEADER, ""), token):
                return self._reply(403, {"error": "bad token"})
            try:
                size = int(self.headers.get("Content-Length", "0"))
                req = json.loads(self.rfile.read(size))
                result = run(str(req["sql"]), list(req.get("params") or []))
            except QueryError as e:  # the statement's fault: the CLI says so (a usage error)
                return self._reply(400, {"error": str(e)})
            except Exception as e:  # any other failure goes back to the CLI, verbatim
                return self._reply(500, {"error": f"{type(e).__name__}: {e}"})
            self._reply(200, result.to_json())

        def _reply(self, status: int, payload: dict[str, Any]) -> None:
            body = json.dumps(payload, ensure_ascii=False).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # quiet: no stderr noise
            pass

    return Handler


def answers(db: str | Path, timeout: float = 1.0) -> bool:
    """The process named by ``db``'s sidecar file is alive and something listens at its query
    endpoint (a running gateway, as far as that can tell; a stale sidecar names a process that
    is gone, or a closed port)."""
    try:
        info = json.loads(sidecar_path(db).read_text())
        port, pid = int(info["port"]), int(info["pid"])
        if not _alive(pid):
            return False
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # no signal sent: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def remote_query(db: str | Path, sql: str, params: list[Any], timeout: float = 60.0) -> QueryResult:
    """Send a query to the process that holds ``db`` (found through its sidecar file)."""
    path = sidecar_path(db)
    try:
        info = json.loads(path.read_text())
    except FileNotFoundError:
        raise StoreError(
            f"{db} is locked by another process and has no query endpoint ({path} is missing)"
        ) from None
    # http.client, not urllib/httpx: proxy environment variables must not apply to loopback.
    conn = http.client.HTTPConnection("127.0.0.1", int(info["port"]), timeout=timeout)
    try:
        body = json.dumps({"sql": sql, "params": params})
        conn.request("POST", "/query", body, {TOKEN_HEADER: info["token"]})
        resp = conn.getresponse()
        payload = json.loads(resp.read())
    except OSError as e:
        raise StoreError(
            f"{db} is locked by pid {info.get('pid')}, whose query endpoint does not answer "
            f"({e}); if that process is gone, remove {path}"
        ) from e
    finally:
        conn.close()
    if resp.status == 400:
        raise QueryError(str(payload.get("error", payload)))
    if resp.status != 200:
        raise StoreError(str(payload.get("error", payload)))
    return QueryResult.from_json(payload)
