"""Deterministic ids and reversible tool-name shortening."""

from __future__ import annotations

from recorder.context import IdFactory, ToolNameMap


def test_ids_are_deterministic_per_seed() -> None:
    a, b, c = IdFactory("s"), IdFactory("s"), IdFactory("t")
    seq_a = [a.make("msg_") for _ in range(3)]
    assert seq_a == [b.make("msg_") for _ in range(3)]
    assert len(set(seq_a)) == 3
    assert c.make("msg_") != seq_a[0]
    assert all(i.startswith("msg_") for i in seq_a)


def test_short_valid_names_are_untouched() -> None:
    names = ToolNameMap()
    assert names.shorten("get_weather") == "get_weather"
    assert names.from_wire == {}


def test_long_names_are_shortened_reversibly_and_stably() -> None:
    long = "mcp__some_server__" + "a" * 80
    names = ToolNameMap()
    wire = names.shorten(long)
    assert len(wire) <= 64
    assert names.restore(wire) == long
    assert ToolNameMap().shorten(long) == wire  # same name, same wire name, in any exchange


def test_invalid_characters_are_mapped() -> None:
    names = ToolNameMap()
    wire = names.shorten("functions.Bash:0")
    assert all(ch.isalnum() or ch in "_-" for ch in wire)
    assert names.restore(wire) == "functions.Bash:0"


def test_distinct_long_names_sharing_a_prefix_stay_distinct() -> None:
    names = ToolNameMap()
    a = names.shorten("x" * 70 + "a")
    b = names.shorten("x" * 70 + "b")
    assert a != b
