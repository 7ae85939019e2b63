"""The recorder's writer process starts before the gateway's modules load, not after.

mitmproxy imports ``addons/gateway.py`` (~0.3 s of the gateway's own modules) and only then
configures its addons, when the Recorder opens its database in a writer process and waits
until that holds the file: an interpreter, DuckDB and the database more (~0.3 s). Started
early, the child does that while mitmproxy and the gateway load (the box has a second core
for it); the Recorder takes it and sends it its settings
(:func:`recorder.store.spawn.prestart`). The project's start hook starts it first thing
(:mod:`addons.deferred_listen`); where that hook is not installed, :func:`before_loading`
does, first thing in ``addons/gateway.py``. Only where mitmdump or mitmweb start the
gateway, and not when the command line turns recording off (``--set recorder_db=``); a child
that is not taken ends when the gateway does (or at once, :meth:`Recorder.configure`).
"""

from __future__ import annotations

import gc
from typing import Any

from mitmproxy import ctx

from addons.startup import checks_startup
from recorder.store.spawn import DEFAULT_DB, prestart


def before_loading() -> None:
    """Under mitmdump/mitmweb, before the gateway's modules load: the writer process starts,
    and what mitmproxy loaded is set aside from the garbage collector (it is not garbage, yet
    every full collection while the gateway loads, and the one at its start, walked all of it:
    ~30 ms of the start; the Gateway freezes what it loaded itself in ``running``)."""
    master = getattr(ctx, "master", None)  # unset outside mitmproxy (an import in a test)
    if master is None or not checks_startup(master):
        return
    gc.freeze()
    if not recording_off(master.options):
        prestart(database_given(master.options))  # a no-op if the start hook started one


def database_given(options: Any) -> str:
    """The ``recorder_db`` the options hold (declared, or given and not declared yet)."""
    if "recorder_db" in options:
        return str(options.recorder_db)
    given = getattr(options.deferred.get("recorder_db"), "val", None)
    return str(given[-1]) if isinstance(given, list) and given else DEFAULT_DB


def recording_off(options: Any) -> bool:
    """The options say that nothing is recorded to a database: ``recorder_db`` is empty, as
    declared (a script reloaded) or as given on the command line (not declared yet)."""
    return database_given(options) == ""
