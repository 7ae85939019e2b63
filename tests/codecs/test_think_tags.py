"""Inline ``<think>`` splitting: whole strings, and the same text cut at every position."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from recorder.codecs.think_tags import Segment, ThinkTagSplitter, merge, split_think_tags


@dataclass(frozen=True)
class Case:
    name: str
    text: str
    want: list[Segment]


CASES = [
    Case("plain", "Hello <b>world</b>", [("text", "Hello <b>world</b>")]),
    Case(
        "think_then_text",
        "<think>\nhmm\n</think>\n\nAnswer",
        [("thinking", "hmm\n"), ("text", "Answer")],
    ),
    Case("thinking_tag", "<thinking>a</thinking>b", [("thinking", "a"), ("text", "b")]),
    Case("leading_whitespace", "\n  <think>x</think>y", [("thinking", "x"), ("text", "y")]),
    Case("empty_think_block", "<think>\n\n</think>\n\nHi", [("text", "Hi")]),
    Case("tag_later_is_text", "Use <think> tags", [("text", "Use <think> tags")]),
    Case(
        "close_must_match_open",
        "<thinking>a</think>b</thinking>c",
        [("thinking", "a</think>b"), ("text", "c")],
    ),
    Case(
        "unclosed_stays_thinking", "<think>never closed </thi", [("thinking", "never closed </thi")]
    ),
    Case("orphan_close_is_text", "reasoning</think>answer", [("text", "reasoning</think>answer")]),
    Case("tag_prefix_only", "<thi", [("text", "<thi")]),
    Case("whitespace_only", "  \n", [("text", "  \n")]),
    Case("lt_but_not_tag", "<tool>x", [("text", "<tool>x")]),
    Case("unicode", "<think>ü🌍</think>é", [("thinking", "ü🌍"), ("text", "é")]),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_whole_string(case: Case) -> None:
    assert split_think_tags(case.text) == case.want


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_every_two_way_cut_gives_the_same_segments(case: Case) -> None:
    for cut in range(len(case.text) + 1):
        s = ThinkTagSplitter()
        got = s.push(case.text[:cut]) + s.push(case.text[cut:]) + s.flush()
        assert merge(got) == case.want, f"cut at {cut}"


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_one_character_at_a_time(case: Case) -> None:
    s = ThinkTagSplitter()
    got = [seg for ch in case.text for seg in s.push(ch)] + s.flush()
    assert merge(got) == case.want


def test_text_is_released_as_soon_as_it_cannot_be_a_tag() -> None:
    s = ThinkTagSplitter()
    assert s.push("<t") == []
    assert s.push("x") == [("text", "<tx")]
    assert s.in_text


def test_thinking_holds_back_only_a_possible_closing_tag() -> None:
    s = ThinkTagSplitter()
    assert s.push("<think>abc</th") == [("thinking", "abc")]
    assert s.push("e") == [("thinking", "</the")]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_in_text_means_everything_further_is_text(case: Case) -> None:
    """``in_text`` is read by the stream decoder's fast path: once set, text passes as is."""
    for cut in range(len(case.text) + 1):
        s = ThinkTagSplitter()
        s.push(case.text[:cut])
        if s.in_text:
            assert s.push("<think>z") == [("text", "<think>z")], f"cut at {cut}"
    s = ThinkTagSplitter()
    s.push(case.text)
    s.flush()
    ends_in_text = bool(case.want) and case.want[-1][0] == "text"
    assert s.in_text == ends_in_text
