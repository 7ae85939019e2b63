"""A refusing local HTTP(S) proxy that notices when a client tries to leave the machine.

Client processes get ``HTTPS_PROXY``/``HTTP_PROXY`` pointing here and ``NO_PROXY`` naming the
loopback hosts, so traffic to the gateway goes direct while anything bound for another host (a
``CONNECT api.anthropic.com:443`` or an absolute-form ``GET http://example.com/``) arrives here,
is logged and refused with 403. A test fails when :attr:`EgressGuard.attempts` is not empty.

Stdlib only and thread-based, so it can run inside the pytest process without an event loop.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

LOOPBACK_HOSTS = "127.0.0.1,localhost,::1"


@dataclass(frozen=True, slots=True)
class EgressAttempt:
    method: str
    target: str  # "host:port" for CONNECT, the absolute URL otherwise
    user_agent: str | None

    def __str__(self) -> str:
        return f"{self.method} {self.target} (User-Agent: {self.user_agent})"


class _RefusingHandler(BaseHTTPRequestHandler):
    server: _GuardServer
    protocol_version = "HTTP/1.1"

    def _refuse(self) -> None:
        self.server.attempts.append(
            EgressAttempt(self.command, self.path, self.headers.get("User-Agent"))
        )
        body = b"tapegate egress guard: no network beyond 127.0.0.1 in tests\n"
        self.send_response(403, "Egress refused")
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.close_connection = True

    do_CONNECT = do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _refuse

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        """Silence the default stderr log; attempts are kept in ``server.attempts``."""


class _GuardServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _RefusingHandler)
        self.attempts: list[EgressAttempt] = []


class EgressGuard:
    """Context manager: ``with EgressGuard() as guard: run(env=guard.env(base))``."""

    def __init__(self) -> None:
        self._server = _GuardServer()
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="egress-guard", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def attempts(self) -> list[EgressAttempt]:
        return list(self._server.attempts)

    def env(self) -> dict[str, str]:
        """Proxy variables for a client process, in both spellings (tools read either)."""
        env: dict[str, str] = {}
        for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY"):
            env[name] = env[name.lower()] = self.url
        env["NO_PROXY"] = env["no_proxy"] = LOOPBACK_HOSTS
        return env

    def allow(self, target: str) -> list[EgressAttempt]:
        """Take the (refused) attempts to ``target`` off the record: a test that knows a client
        tries it and accepts that it was refused. Returns them."""
        taken = [a for a in self._server.attempts if a.target == target]
        self._server.attempts[:] = [a for a in self._server.attempts if a.target != target]
        return taken

    def assert_no_egress(self) -> None:
        attempts = self.attempts
        assert not attempts, "client tried to reach a non-loopback host:\n" + "\n".join(
            f"  {a}" for a in attempts
        )

    def __enter__(self) -> EgressGuard:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
