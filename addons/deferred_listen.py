"""mitmproxy listens only once the gateway has checked its options, never before.

mitmdump binds its listening sockets before it loads any script: with mitmproxy's default
``listen_host`` (every interface) the proxy would listen beyond loopback while the gateway loads,
and a ``--listen-host 0.0.0.0`` that the gateway refuses (no ``gateway_key``) would be bound
before the refusal. So this module runs first thing when Python starts in the project's
environment (``addons/tapegate_deferred_listen.pth``, installed with the project), and when the
command is mitmdump or mitmweb loading this gateway it adds ``--set server=false``: mitmproxy
then binds nothing at start, and the Gateway turns the server on in ``running`` — on loopback
unless the command line chose an address — after its options passed (or it has stopped the start).

The same moment starts the recorder's writer process (:func:`recorder.store.spawn.prestart`):
its interpreter, DuckDB and the database load while mitmproxy does, not after the gateway.

Every Python start in the environment runs the ``.pth`` line, so that line imports this module
only for a mitmproxy command, and this module imports nothing beyond the standard library.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

GATEWAY_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "gateway.py")
MITMPROXY_COMMANDS = ("mitmdump", "mitmweb")
# The command line lists options or the version, or turns the server off itself: leave it be.
NOT_A_START = frozenset(
    {"--options", "--commands", "--version", "-h", "--help", "-n", "--no-server"}
)

deferred = False  # this process's command line was changed: the Gateway turns the server on
listen_host_given = False  # the command line chose a listen address ("" included)


def defers(argv: Sequence[str]) -> bool:
    """The command ``argv`` is mitmdump/mitmweb loading this gateway, and it neither only
    inspects options nor sets mitmproxy's ``server`` option itself."""
    if not argv or os.path.basename(argv[0]) not in MITMPROXY_COMMANDS:
        return False
    args = argv[1:]
    if any(a in NOT_A_START or _sets(a, "server") for a in args):
        return False
    return any(_names_gateway(a) for a in args)


def chooses_listen_host(argv: Sequence[str]) -> bool:
    return any(a.startswith("--listen-host") or _sets(a, "listen_host") for a in argv[1:])


def _sets(arg: str, option: str) -> bool:
    """``arg`` is the value of a ``--set`` (``option=…``, or ``--set=option=…``)."""
    return arg.startswith((f"{option}=", f"--set={option}="))


def _names_gateway(arg: str) -> bool:
    for prefix in ("--scripts=", "scripts=", "-s"):
        if arg.startswith(prefix) and len(arg) > len(prefix):
            arg = arg[len(prefix) :]
            break
    return arg.endswith("gateway.py") and os.path.abspath(arg) == GATEWAY_SCRIPT


def apply(argv: list[str]) -> None:
    """Adds ``--set server=false`` to ``argv`` (``sys.argv``) when :func:`defers` says so, and
    starts the recorder's writer process then, beside mitmproxy's own start."""
    global deferred, listen_host_given
    if deferred or not defers(argv):
        return
    from recorder.store.spawn import prestart_for  # the standard library only, as this module

    prestart_for(argv)
    argv.extend(["--set", "server=false"])
    deferred = True
    listen_host_given = chooses_listen_host(argv)
