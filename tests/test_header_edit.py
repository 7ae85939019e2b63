"""Header edits in one pass give exactly what mitmproxy's ``Headers`` operations give one by one
(order of fields, spelling of names, repeated fields)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pytest
from mitmproxy import http

from recorder import header_edit
from recorder.header_edit import Edit

FIELDS = (
    (b"Host", b"127.0.0.1:8080"),
    (b"Content-Type", b"application/json"),
    (b"x-api-key", b"k1"),
    (b"X-Api-Key", b"k2"),
    (b"anthropic-version", b"2023-06-01"),
    (b"content-length", b"2"),
)


def one_by_one(fields: header_edit.Fields, edits: list[Edit]) -> header_edit.Fields:
    """The reference: the same edits as ``Headers`` operations."""
    h = http.Headers(fields)
    for kind, _, name, value in edits:
        key = name.decode()
        if kind == "drop":
            if key in h:
                del h[key]
        elif kind == "default":
            if key not in h:
                h[key] = value.decode()
        else:
            h[key] = value.decode()
    return h.fields


@dataclass(frozen=True)
class Case:
    name: str
    edits: list[Edit]


CASES = [
    Case("nothing", []),
    Case("set keeps the first field's place and spelling", [header_edit.set_("X-API-KEY", "n")]),
    Case("set appends a new name as written", [header_edit.set_("X-Extra", "1")]),
    Case("drop removes every repeat", [header_edit.drop("x-api-key")]),
    Case("drop of an absent name", [header_edit.drop("proxy-authorization")]),
    Case(
        "drop then set appends", [header_edit.drop("x-api-key"), header_edit.set_("x-api-key", "u")]
    ),
    Case("default when present", [header_edit.default("Anthropic-Version", "x")]),
    Case("default when absent", [header_edit.default("accept-encoding", "identity")]),
    Case(
        "set after a default of the same name",
        [header_edit.default("a", "1"), header_edit.set_("A", "2")],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_edits_match_headers_operations(case: Case) -> None:
    assert header_edit.apply(FIELDS, case.edits) == one_by_one(FIELDS, case.edits)


POOL = [
    header_edit.set_("host", "up:9000"),
    header_edit.set_("Content-Length", "10"),
    header_edit.drop("x-api-key"),
    header_edit.set_("authorization", "Bearer k"),
    header_edit.default("anthropic-version", "2023-06-01"),
    header_edit.drop("anthropic-version"),
    header_edit.set_("X-Api-Key", "r"),
]


def test_every_pair_and_triple_of_edits_matches() -> None:
    for n in (2, 3):
        for edits in itertools.permutations(POOL, n):
            assert header_edit.apply(FIELDS, edits) == one_by_one(FIELDS, list(edits)), edits


def test_get_folds_repeats_like_headers() -> None:
    h = http.Headers(FIELDS)
    assert header_edit.get(FIELDS, b"x-api-key") == h.get("x-api-key") == "k1, k2"
    assert header_edit.get(FIELDS, b"cookie") is None
    assert header_edit.has(FIELDS, b"content-type") and not header_edit.has(FIELDS, b"cookie")
