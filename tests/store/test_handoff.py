"""Exchange -> bytes -> Exchange for the gateway's writer process: nothing lost, nothing changed."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from recorder import ir
from recorder.exchange import Exchange
from recorder.store.handoff import pack, unpack
from tests.store import samples


@dataclass(frozen=True)
class Case:
    name: str
    exchange: Exchange


def _odd() -> Exchange:
    ex = samples.streaming(id="odd")
    ex.notes = [ir.Note("tools[0].cache_control", "dropped")]
    ex.extra = {"nested": {"list": [1, 2.5, None, True]}, "bytes?": "no"}
    assert ex.usage is not None
    ex.usage.extra = {"server_tool_use": {"web_search_requests": 1}}
    return ex


CASES = [
    Case("streaming", samples.streaming()),
    Case("plain", samples.plain()),
    Case("failed before any response", samples.failed()),
    Case("notes, extras, usage extras", _odd()),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_round_trip_is_exact(case: Case) -> None:
    assert unpack(pack(case.exchange)) == case.exchange


def test_a_value_marshal_cannot_hold_is_stored_as_its_json_reading() -> None:
    ex = samples.plain(id="sets")
    ex.extra = {"odd": {1, 2}.__class__.__name__, "obj": object()}
    back = unpack(pack(ex))
    assert back.extra["odd"] == "set" and back.extra["obj"].startswith("<object object")
