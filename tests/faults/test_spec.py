"""The fault grammar: every form parses to what it says, prints back canonically, and every
mistake is refused with a message naming the piece."""

from __future__ import annotations

import pytest

from recorder.faults.spec import (
    DropDone,
    FaultSpecError,
    Garbage,
    MidStreamError,
    Pos,
    Rechunk,
    Reset,
    Stall,
    Status,
    Truncate,
    parse,
    parse_targeted,
)


@pytest.mark.parametrize(
    ("text", "faults", "canonical"),
    [
        ("truncate@3", (Truncate(Pos(3)),), "truncate@3"),
        ("truncate@0", (Truncate(Pos(0)),), "truncate@0"),
        ("truncate@-1", (Truncate(Pos(-1)),), "truncate@-1"),
        ("truncate@50%", (Truncate(Pos(50, percent=True)),), "truncate@50%"),
        ("error@2", (MidStreamError(Pos(2), "api_error"),), "error@2:api_error"),
        ("error@2:overloaded", (MidStreamError(Pos(2), "overloaded"),), "error@2:overloaded"),
        ("error@2:overloaded_error", (MidStreamError(Pos(2), "overloaded"),), "error@2:overloaded"),
        ("error@-2:rate-limit", (MidStreamError(Pos(-2), "rate_limit"),), "error@-2:rate_limit"),
        ("status:529", (Status(529),), "status:529"),
        ("status:529:retry-after=2", (Status(529, "2"),), "status:529:retry-after=2"),
        ("status:429:retry-after=0.5", (Status(429, "0.5"),), "status:429:retry-after=0.5"),
        ("stall@1:5000", (Stall(Pos(1), 5000),), "stall@1:5000"),
        ("rechunk:bytes", (Rechunk("bytes"),), "rechunk:bytes"),
        ("rechunk:split", (Rechunk("split"),), "rechunk:split"),
        ("rechunk:coalesce", (Rechunk("coalesce"),), "rechunk:coalesce"),
        ("drop-done", (DropDone(),), "drop-done"),
        ("garbage@4", (Garbage(Pos(4)),), "garbage@4"),
        ("reset@-1", (Reset(Pos(-1)),), "reset@-1"),
        (
            " stall@2:100 , error@4:timeout,rechunk:split ",
            (Stall(Pos(2), 100), MidStreamError(Pos(4), "timeout"), Rechunk("split")),
            "stall@2:100,error@4:timeout,rechunk:split",
        ),
    ],
)
def test_parses_every_form(text: str, faults: tuple[object, ...], canonical: str) -> None:
    spec = parse(text)
    assert spec.faults == faults
    assert str(spec) == canonical
    assert parse(str(spec)) == spec


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty fault"),
        ("truncate@3,", "empty fault"),
        ("explode@3", "unknown fault 'explode@3'; known faults: truncate@K"),
        ("truncate", "malformed fault 'truncate': expected truncate@K"),
        ("truncate@x", "expected truncate@K"),
        ("truncate@101%", "a percentage must be 0% to 100%"),
        ("truncate@-0", "write @0"),
        ("error@2:melted", "unknown error kind 'melted'; kinds: invalid_request"),
        ("status:200", "the status must be an error, 400 to 599"),
        ("status:52", "expected status:CODE[:retry-after=S]"),
        ("status:529:retry-after=soon", "expected status:CODE[:retry-after=S]"),
        ("stall@2", "expected stall@K:MS"),
        ("stall@2:99999999", "a stall of at most"),
        ("rechunk:lines", "rechunk mode must be one of bytes, split, coalesce"),
        ("drop-done@3", "expected drop-done"),
        ("status:529,truncate@2", "cannot be joined with other faults"),
        ("truncate@2,error@3", "at most one of truncate, error and reset"),
        ("reset@1,reset@2", "at most one of truncate, error and reset"),
        ("rechunk:bytes,rechunk:split", "rechunk given twice"),
        ("drop-done,drop-done", "drop-done given twice"),
    ],
)
def test_refuses_with_a_message_naming_the_piece(text: str, message: str) -> None:
    with pytest.raises(FaultSpecError) as info:
        parse(text)
    assert message in str(info.value)


def test_targeted() -> None:
    assert parse_targeted("3=truncate@2") == (3, parse("truncate@2"))
    assert parse_targeted(" 0 = status:529") == (0, parse("status:529"))
    assert parse_targeted("truncate@2") == (None, parse("truncate@2"))
    with pytest.raises(FaultSpecError):
        parse_targeted("x=truncate@2")


@pytest.mark.parametrize(
    ("pos", "total", "at"),
    [
        (Pos(3), 10, 3),
        (Pos(0), 10, 0),
        (Pos(10), 10, 10),
        (Pos(11), 10, None),
        (Pos(-1), 10, 9),
        (Pos(-10), 10, 0),
        (Pos(-11), 10, None),
        (Pos(50, True), 9, 4),
        (Pos(100, True), 9, 9),
        (Pos(0, True), 9, 0),
    ],
)
def test_positions_resolve_against_the_number_of_events(pos: Pos, total: int, at: int) -> None:
    assert pos.resolve(total) == at


def test_what_a_spec_needs() -> None:
    assert parse("truncate@-1").needs_total and parse("error@10%").needs_total
    assert parse("drop-done").needs_total
    assert not parse("truncate@3,stall@1:10,rechunk:bytes").needs_total
    assert parse("status:529").applies_without_events()
    assert parse("stall@0:100,reset@0").applies_without_events()
    assert not parse("stall@1:100").applies_without_events()
    assert not parse("rechunk:bytes").applies_without_events()
