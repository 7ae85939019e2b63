"""Options declared in one go are those ``loader.add_option`` would declare, announced once."""

from __future__ import annotations

from typing import Any

import pytest
from mitmproxy import exceptions
from mitmproxy.test import taddons

from addons import declare

SPECS: list[declare.Spec] = [
    ("tg_a", str, "x", "The first."),
    ("tg_b", int, 3, "The second."),
    ("tg_c", str, "on", "The third, with choices.", ("on", "off")),
]


class _Declares:
    def __init__(self, specs: list[declare.Spec]) -> None:
        self.specs = specs

    def load(self, loader: Any) -> None:
        declare.options(loader, self.specs)


class _Watches:
    """Loaded before the declaring addon: sees what mitmproxy announces."""

    def __init__(self) -> None:
        self.seen: list[set[str]] = []

    def configure(self, updated: set[str]) -> None:
        if any(name.startswith("tg_") for name in updated):
            self.seen.append(set(updated))


class _AddsOneByOne:
    def load(self, loader: Any) -> None:
        for name, *rest in SPECS:
            loader.add_option(f"one_{name}", *rest)


def test_declared_options_are_as_add_option_makes_them_and_announced_once() -> None:
    watch = _Watches()
    with taddons.context(watch) as tctx:
        tctx.master.addons.add(_Declares(SPECS), _AddsOneByOne())
        assert watch.seen == [{"tg_a", "tg_b", "tg_c"}]
        o = tctx.options
        for name, *_ in SPECS:
            ours, theirs = o._options[name], o._options[f"one_{name}"]
            for attr in ("typespec", "default", "help", "choices", "value"):
                assert getattr(ours, attr) == getattr(theirs, attr), (name, attr)
        tctx.configure(watch, tg_b=4)
        assert o.tg_b == 4
        with pytest.raises(exceptions.OptionsError):
            o.set("tg_b=four")  # typed as declared


def test_declaring_again_keeps_the_options_and_their_values() -> None:
    """A script reloaded declares its options again: unchanged, they keep their values."""
    with taddons.context() as tctx:
        tctx.master.addons.add(_Declares(SPECS))
        tctx.options.update(tg_a="set")
        tctx.master.addons.remove(tctx.master.addons.get("_declares"))
        tctx.master.addons.add(_Declares(SPECS))
        assert tctx.options.tg_a == "set"
