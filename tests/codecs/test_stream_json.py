"""stream_json.loads must be json.loads: the same value (types and key order included) or the
same refusal, also where jiter alone would refuse or differ."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from recorder.codecs.stream_json import loads


@dataclass(frozen=True)
class Case:
    id: str
    text: str


CASES = [
    Case("chunk", '{"id":"c","choices":[{"index":0,"delta":{"content":"hi é 🙂"}}],"usage":null}'),
    Case("duplicate keys: last value, first position", '{"a":1,"b":2,"a":3}'),
    Case("lone surrogate escape (jiter refuses)", '"\\ud800"'),
    Case("lone low surrogate escape (jiter refuses)", '{"t":"\\udc00x"}'),
    Case("surrogate pair escape", '"\\ud83d\\ude00"'),
    Case("deep nesting (jiter's limit is 200)", "[" * 300 + "]" * 300),
    Case("NaN and Infinity", "[NaN, Infinity, -Infinity]"),
    Case("huge exponent", "[1e400, -1e400, 1e-400]"),
    Case("big int", "123456789012345678901234567890"),
    Case("float precision", "[0.30000000000000004, 9007199254740993.0, 4.9e-324]"),
    Case("int vs float", "[1, 1.0, -0, -0.0, 1E5]"),
    Case("whitespace padding", ' \n\t{ "a" : [ 1 , 2 ] }\r\n'),
]

BAD = [
    Case("trailing comma", '{"a":1,}'),
    Case("extra data", "{} x"),
    Case("raw control character in a string", '"a\nb"'),
    Case("leading zero", "01"),
    Case("single quotes", "{'a': 1}"),
    Case("truncated", '{"a":'),
    Case("empty", ""),
    Case("int with more than 4300 digits", "1" * 4301),
    Case("form feed is not JSON whitespace", "\x0c{}"),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_same_value_as_json_loads(case: Case) -> None:
    want = json.loads(case.text)
    got = loads(case.text)
    assert repr(got) == repr(want)  # repr: types, key order, nan


@pytest.mark.parametrize("case", BAD, ids=lambda c: c.id)
def test_same_refusal_as_json_loads(case: Case) -> None:
    with pytest.raises(ValueError):
        json.loads(case.text)
    with pytest.raises(ValueError):
        loads(case.text)


def test_str_with_lone_surrogate_is_parsed_like_json_loads() -> None:
    text = '"\ud800"'  # not encodable as UTF-8: jiter raises TypeError, the fallback parses
    assert loads(text) == json.loads(text) == "\ud800"
