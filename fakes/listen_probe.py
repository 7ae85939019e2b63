"""mitmdump, saying on stderr when a socket listens, accepts a connection or closes after
listening (with its address), and when the Gateway addon is configured: the order in which the
gateway starts, told without timing it. ``python -m fakes.listen_probe MITMDUMP_ARGS...`` runs it
as a plain module; a script file named ``mitmdump`` that calls :func:`main` runs it as the
project's start hook sees mitmdump (addons/deferred_listen.py).

The socket calls are watched at the stdlib's ``socket.socket`` (asyncio's servers use them), the
Gateway at its class; mitmproxy loads ``addons/gateway.py`` as usual, which finds both patched."""

from __future__ import annotations

import socket
import sys
from typing import Any

from mitmproxy.tools.main import mitmdump

from addons.gateway_hooks import Gateway

MARK = "listen-probe:"


def note(what: str) -> None:
    print(MARK, what, file=sys.stderr, flush=True)


def _watch() -> None:
    listen, accept, close = socket.socket.listen, socket.socket.accept, socket.socket.close
    configure = Gateway.configure
    listening: set[int] = set()

    def on_listen(self: socket.socket, *args: Any) -> None:
        listen(self, *args)
        listening.add(id(self))
        note(f"listen {self.getsockname()[0]}")

    def on_accept(self: socket.socket) -> tuple[socket.socket, Any]:
        note(f"accept {self.getsockname()[0]}")
        return accept(self)

    def on_close(self: socket.socket) -> None:
        if id(self) in listening:
            listening.discard(id(self))
            note(f"close {self.getsockname()[0]}")
        close(self)

    def on_configure(self: Gateway, updated: set[str]) -> None:
        note("gateway configuring")
        configure(self, updated)

    socket.socket.listen = on_listen  # type: ignore[method-assign]
    socket.socket.accept = on_accept  # type: ignore[method-assign]
    socket.socket.close = on_close  # type: ignore[method-assign]
    Gateway.configure = on_configure  # type: ignore[method-assign]


def main() -> None:
    _watch()
    mitmdump(sys.argv[1:])


if __name__ == "__main__":
    main()
