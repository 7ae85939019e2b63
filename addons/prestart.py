"""The recorder's writer process starts before the gateway's modules load, not after.

mitmproxy imports ``addons/gateway.py`` (~0.5 s of the gateway's own modules) and only then
configures its addons, when the Recorder opens its database in a writer process and waits
until that holds the file: an interpreter and DuckDB more (~0.3 s), one after the other. Started
here, first thing in ``addons/gateway.py``, the child loads while the gateway does (the box has a
second core for it); the Recorder takes it and sends it its settings
(:func:`recorder.store.spawn.prestart`). Only where mitmdump or mitmweb start the
gateway, and not when the command line turns recording off (``--set recorder_db=``); a child
that is not taken exits quietly when the gateway does (or at once, :meth:`Recorder.configure`).
"""

from __future__ import annotations

import gc
from typing import Any

from mitmproxy import ctx

from addons.startup import checks_startup
from recorder.store.spawn import prestart


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
        prestart()


def recording_off(options: Any) -> bool:
    """The options say that nothing is recorded to a database: ``recorder_db`` is empty, as
    declared (a script reloaded) or as given on the command line (not declared yet)."""
    if "recorder_db" in options:
        return bool(options.recorder_db == "")
    given = getattr(options.deferred.get("recorder_db"), "val", None)
    return isinstance(given, list) and given[-1:] == [""]
