"""Start-up mistakes in one line: unknown options of ours, and option errors while starting.

mitmproxy keeps a ``--set`` it does not know for an addon that may declare it later and never
complains, so ``gateway_upstrem=URL`` would silently send prompts to the vendors' APIs: an unknown
option that this project would own (one of its prefixes, or close to one of its options) stops
the gateway. And an ``OptionsError`` raised by ``configure()`` while mitmproxy starts is logged
with a traceback, followed by "proxy listening at ..." before mitmproxy exits: :func:`refuse`
says the mistake in one line and exits at once instead (``termlog_verbosity=debug`` adds the
traceback). After start (an option changed in mitmweb), it raises ``OptionsError`` as usual:
mitmproxy reports it and keeps the previous value.
"""

from __future__ import annotations

import asyncio
import difflib
import logging
import os
import re
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import Any, NoReturn

from mitmproxy import ctx, exceptions

logger = logging.getLogger("tapegate")

# Options this project declares start with one of these: a --set with such a name that nobody
# declared is a typo of ours, never another addon's option.
OWN_PREFIXES = ("gateway_", "recorder_", "console_", "otel_", "messagelog", "claude_cli_", "kiro_")
STARTUP_EXIT = 2  # a usage mistake, as for the recorder command

# Run when a start is refused, before the process exits: what the start made and must not
# outlive it (the Recorder's database, created for a gateway that never ran).
_undo_on_refusal: list[Callable[[], None]] = []


def on_refusal(undo: Callable[[], None]) -> None:
    """Have ``undo`` run if the start is refused (:func:`refuse`, :func:`stop_start`)."""
    if undo not in _undo_on_refusal:
        _undo_on_refusal.append(undo)


def _refused() -> None:
    for undo in _undo_on_refusal:
        try:
            undo()
        except Exception as e:  # noqa: BLE001 - the refusal is what the user must see
            logger.debug(f"tapegate: undoing the start: {type(e).__name__}: {e}")


def unknown_option(
    given: Iterable[str], known: Collection[str], *, all_loaded: bool = False
) -> str | None:
    """Why the options ``given`` but declared by no addon stop the gateway (None: none is
    ours). Ours: one of our prefixes, or close to one of our declared options; once every
    script has loaded (``all_loaded``: no later addon can declare it), also one of ours
    without its prefix (``upstream=URL`` for gateway_upstream, which sent prompts to the
    vendors' APIs without a word)."""
    ours = sorted(k for k in known if k.startswith(OWN_PREFIXES))
    for name in sorted(given):
        # Option names are lower case: GATEWAY_UPSTREAM (as an environment variable is
        # spelt) is a typo of ours too, not another addon's option.
        close = difflib.get_close_matches(name.lower(), ours, n=1, cutoff=0.75)
        if all_loaded and not close:
            close = sorted((k for k in ours if k.endswith(f"_{name.lower()}")), key=len)[:1]
        if not name.lower().startswith(OWN_PREFIXES) and not close:
            continue  # another addon's (loaded later), or mitmproxy's business
        hint = f"; did you mean {close[0]}?" if close else ""
        return f"unknown option {name}{hint} (mitmdump -s addons/gateway.py --options lists all)"
    return None


def cancelled_stream_noise(record: logging.LogRecord) -> bool:
    """False for the error CPython 3.12.0/3.12.1's asyncio logs when a stream server's
    connection handler is cancelled (``StreamReaderProtocol``'s callback asks the cancelled task
    for its exception): mitmproxy cancels the handlers of connections still open when it stops,
    so every Ctrl-C with a keep-alive client printed a CancelledError traceback."""
    exc = record.exc_info[1] if record.exc_info else None
    return not (
        isinstance(exc, asyncio.CancelledError)
        and "StreamReaderProtocol.connection_made" in record.getMessage()
    )


def repeated_option(deferred: dict[str, Any]) -> str | None:
    """Why an option of ours given more than once stops the gateway (None: none is). mitmproxy
    keeps ``--set`` values for options not declared yet; given twice, the option's declaration
    fails, and the gateway's addons were left loaded but never configured: a proxy that neither
    translated nor recorded, saying nothing."""
    for name, value in sorted(deferred.items()):
        values = getattr(value, "val", None)  # mitmproxy's unconverted --set strings
        if name.startswith(OWN_PREFIXES) and isinstance(values, list) and len(values) > 1:
            given = ", ".join(map(repr, values))
            return f"{name} is set {len(values)} times ({given}): set it once"
    return None


def unparsable_value(deferred: dict[str, Any], declared: dict[str, Any]) -> str | None:
    """Why a ``--set`` value of an option declared by now stops the gateway (None: each
    converts). mitmproxy converts the ``--set`` strings of a script's options once the script
    has loaded, and when one does not convert (``gateway_retries=abc``,
    ``gateway_http2=yes``) it drops the whole script without a word: mitmdump then started no
    gateway at all (a plain proxy, or none listening). ``declared``: mitmproxy's declared
    options by name (``typespec``, ``name``)."""
    for name, value in sorted(deferred.items()):
        option = declared.get(name)
        values = getattr(value, "val", None)  # mitmproxy's unconverted --set strings
        if option is None or not isinstance(values, list) or len(values) != 1:
            continue  # not declared yet (another addon's), converted, or repeated_option's
        problem = _unconvertible(option.typespec, values[0])
        if problem is not None:
            return f"{name} must be {problem}, got {values[0]!r}"
    return None


def _unconvertible(typespec: Any, given: str) -> str | None:
    """What ``given`` should have been for an option of ``typespec`` (None: it converts), by
    mitmproxy's rules: an int option needs digits (an ``int | None`` one may be empty), a bool
    one true, false or nothing."""
    if typespec in (int, int | None):
        if given == "" and typespec is not int:
            return None
        try:
            int(given)
        except ValueError:
            return "a whole number"
    elif typespec is bool and given not in ("", "true", "false", "toggle"):
        return "true or false"
    return None


class ListenFailures(logging.Filter):
    """mitmproxy's error when a listener cannot bind (the OSError, then advice to take another
    port with ``--mode``), kept out of the log while the gateway starts: :func:`listen_failure`
    says it in one line and stops the start with exit 2, as every start-up mistake. Logged
    as it was, mitmproxy exited 1 after the gateway had said where it listened."""

    def __init__(self) -> None:
        super().__init__()
        self.active = True
        self.seen: list[str] = []

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.active and "failed to listen on" in message:
            self.seen.append(message)
            return False
        # Re-declaring a listener that never bound (the gateway's running(), when mitmproxy
        # bound at its start) stops it first, and mitmproxy logs that stop's empty
        # AssertionError as an empty error line.
        return not (self.active and not message.strip())


LISTEN_FAILURES = ListenFailures()
PROXYSERVER_LOG = "mitmproxy.addons.proxyserver"


def listen_refusal(message: str) -> str:
    """One line from mitmproxy's listen error, e.g. ``[Errno 98] HTTP(S) proxy failed to
    listen on 127.0.0.1:8080 with [Errno 98] error while attempting to bind on address
    ('127.0.0.1', 8080): address already in use``."""
    first = message.splitlines()[0] if message else ""
    where = re.search(r"failed to listen on (\S+)", first)
    reason = first.rsplit(": ", 1)[-1] if ": " in first else first
    line = f"cannot listen on {where.group(1) if where else 'its address'}: {reason}"
    if "in use" in reason:
        line += " (another gateway there? -p PORT listens on another port)"
    return line


def _servers(master: Any) -> Any:
    return getattr(master.addons.get("proxyserver"), "servers", None)


def listeners_settling(master: Any) -> bool:
    """mitmproxy is still starting (or changing) its listeners: the update the gateway's
    running() started."""
    servers = _servers(master)
    return servers is not None and bool(servers.is_updating)


async def listeners_settled(master: Any) -> None:
    while listeners_settling(master):
        await asyncio.sleep(0.002)


def listen_failure(master: Any) -> str | None:
    """Once mitmproxy's listeners have settled: why one of them is not listening (None: all
    are, or there are none)."""
    LISTEN_FAILURES.active = False
    servers = _servers(master)
    if servers is None or all(s.is_running for s in servers):
        return None
    seen = LISTEN_FAILURES.seen
    return listen_refusal(seen[-1]) if seen else "cannot listen on its address"


GATEWAY_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "gateway.py")


def is_last_script(scripts: Sequence[str]) -> bool:
    """The gateway is the last of mitmproxy's ``-s`` scripts (mitmproxy loads them in order)."""
    if not scripts:
        return False
    last = os.path.abspath(os.path.expanduser(scripts[-1].strip("'\" ")))
    return last == GATEWAY_SCRIPT


class StartupCheck:
    """First in the gateway's addon list: checks the options nobody declared, and knows whether
    mitmproxy is still starting."""

    starting = True

    def load(self, loader: Any) -> None:
        asyncio_log = logging.getLogger("asyncio")
        if cancelled_stream_noise not in asyncio_log.filters:
            asyncio_log.addFilter(cancelled_stream_noise)
        proxyserver_log = logging.getLogger(PROXYSERVER_LOG)
        if checks_startup(ctx.master) and LISTEN_FAILURES not in proxyserver_log.filters:
            proxyserver_log.addFilter(LISTEN_FAILURES)
        message = repeated_option(ctx.options.deferred)
        if message is not None:
            refuse(message)

    def configure(self, updated: set[str]) -> None:
        known = ctx.options.keys()  # type: ignore[no-untyped-call]
        # The last script loads last: then no addon is left to declare an option (the usual
        # single -s addons/gateway.py), and an option of ours without its prefix stops the
        # start here, before the recorder opens its database; else once every script ran.
        last = "scripts" in known and is_last_script(ctx.options.scripts)
        message = unknown_option(ctx.options.deferred, known, all_loaded=last)
        if message is not None:
            refuse(message)

    def running(self) -> None:
        StartupCheck.starting = False
        known = ctx.options.keys()  # type: ignore[no-untyped-call]
        message = unknown_option(ctx.options.deferred, known, all_loaded=True)
        if message is not None:
            stop_start(message)

    def done(self) -> None:
        StartupCheck.starting = True


class ValueCheck:
    """Last in the gateway's addon list: its ``load`` runs once every addon before it has
    declared its options, just before mitmproxy converts their ``--set`` values."""

    def load(self, loader: Any) -> None:
        declared = ctx.options._options  # mitmproxy's declared options (no public mapping)
        message = unparsable_value(ctx.options.deferred, declared)
        if message is not None:
            refuse(message)


def refuse(message: str, cause: BaseException | None = None) -> NoReturn:
    """An unusable option: while mitmdump/mitmweb start, one line and exit; later, or outside
    them (tests), an ``OptionsError``."""
    if StartupCheck.starting and checks_startup(ctx.master):
        logger.error(f"tapegate: {message}")
        if cause is not None:
            logger.debug("the cause:", exc_info=cause)
        _refused()
        raise SystemExit(STARTUP_EXIT)
    raise exceptions.OptionsError(message) from None  # type: ignore[no-untyped-call]


def stop_start(message: str) -> None:
    """Under mitmdump/mitmweb, a mistake found once mitmproxy runs: one line and exit (later
    hooks than configure; :func:`refuse` raises OptionsError there)."""
    if checks_startup(ctx.master):
        logger.error(f"tapegate: {message}")
        _refused()
        raise SystemExit(STARTUP_EXIT)
    logger.error(f"tapegate: {message}")


def checks_startup(master: Any) -> bool:
    """mitmdump and mitmweb exit on an error logged while they start (their errorcheck addon);
    other masters (the test context) do not."""
    return master.addons.get("errorcheck") is not None
