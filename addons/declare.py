"""Declaring an addon's options in one go.

mitmproxy's ``loader.add_option`` announces each option as it is added: a configure hook through
every addon loaded so far (mitmproxy's own ~50) before the next one. For the gateway's ~40 that
was ~10-15 ms of every start. :func:`options` adds them all, then announces them once, which is
what mitmproxy's ``OptManager.add_option`` does one option at a time (its internals, as of
mitmproxy 11/12). An option declared already (the script reloaded) goes through
``add_option``, which keeps it when nothing changed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from mitmproxy import optmanager

# name, type, default, help (as for loader.add_option), and optionally its choices
Spec = tuple[str, type, Any, str] | tuple[str, type, Any, str, Sequence[str]]


def options(loader: Any, specs: Iterable[Spec]) -> None:
    opts = loader.master.options
    added: set[str] = set()
    for name, typespec, default, help_text, *choices in specs:
        allowed = choices[0] if choices else None
        if name in opts:
            loader.add_option(name, typespec, default, help_text, allowed)
        else:
            opts._options[name] = optmanager._Option(name, typespec, default, help_text, allowed)
            added.add(name)
    if added:
        opts.changed.send(updated=added)
