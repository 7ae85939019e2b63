"""The SSE parser against the event-stream rules, fed at every possible chunk boundary."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from recorder.errors import StreamProtocolError
from recorder.sse import SseEvent, SseParser, encode, encode_all, encode_text


def parse_split(raw: bytes, *cuts: int) -> list[SseEvent]:
    p, out, prev = SseParser(), [], 0
    for cut in (*cuts, len(raw)):
        out += p.feed(raw[prev:cut])
        prev = cut
    return out + p.close()


@dataclass(frozen=True)
class Case:
    id: str
    raw: bytes
    expected: list[SseEvent]


CASES = [
    Case("lf", b"event: a\ndata: 1\n\n", [SseEvent("a", "1")]),
    Case("crlf", b"event: a\r\ndata: 1\r\n\r\n", [SseEvent("a", "1")]),
    Case("cr", b"event: a\rdata: 1\r\r", [SseEvent("a", "1")]),
    Case("no space after colon", b"data:1\n\n", [SseEvent(None, "1")]),
    Case("two spaces keep one", b"data:  1\n\n", [SseEvent(None, " 1")]),
    Case("multi-line data", b"data: a\ndata: b\n\n", [SseEvent(None, "a\nb")]),
    Case(
        "comment",
        b": OPENROUTER PROCESSING\n\ndata: x\n\n",
        [SseEvent(comment="OPENROUTER PROCESSING"), SseEvent(None, "x")],
    ),
    Case("empty comment", b":\n\n", [SseEvent(comment="")]),
    Case("id and retry", b"id: 7\nretry: 100\ndata: x\n\n", [SseEvent(None, "x", "7", 100)]),
    Case("unknown field ignored", b"foo: bar\ndata: x\n\n", [SseEvent(None, "x")]),
    Case("event without data is not dispatched", b"event: ping\n\n", []),
    Case("extra blank lines", b"\n\n\ndata: x\n\n\n\n", [SseEvent(None, "x")]),
    Case(
        "utf-8 multibyte", 'data: {"t": "é漢🙂"}\n\n'.encode(), [SseEvent(None, '{"t": "é漢🙂"}')]
    ),
    Case("unterminated last event flushed by close", b"data: [DONE]", [SseEvent(None, "[DONE]")]),
    Case(
        "done sentinel",
        b"data: {}\n\ndata: [DONE]\n\n",
        [SseEvent(None, "{}"), SseEvent(None, "[DONE]")],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_parse(case: Case) -> None:
    assert parse_split(case.raw) == case.expected


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_every_split_point_gives_the_same_events(case: Case) -> None:
    for i in range(len(case.raw) + 1):
        assert parse_split(case.raw, i) == case.expected, f"split at byte {i}"


def test_every_pair_of_split_points_crlf() -> None:
    raw = b"event: a\r\ndata: \xc3\xa9\r\n\r\n: c\r\n\r\ndata: 2\r\n\r\n"
    expected = [SseEvent("a", "é"), SseEvent(comment="c"), SseEvent(None, "2")]
    for i in range(len(raw) + 1):
        for j in range(i, len(raw) + 1):
            assert parse_split(raw, i, j) == expected, (i, j)


def test_invalid_utf8_is_a_protocol_error() -> None:
    with pytest.raises(StreamProtocolError):
        SseParser().feed(b"data: \xff\xfe\n\n")


@pytest.mark.parametrize(
    "ev",
    [
        SseEvent("message_start", '{"type":"message_start"}'),
        SseEvent(None, "[DONE]"),
        SseEvent(None, "line1\nline2"),
        SseEvent(comment="keep-alive"),
        SseEvent("x", "y", "id1", 5),
    ],
)
def test_encode_round_trips(ev: SseEvent) -> None:
    assert SseParser().feed(encode(ev)) == [ev]


def test_encode_all_is_concatenation() -> None:
    evs = [SseEvent("a", "1"), SseEvent(None, "2")]
    assert encode_all(evs) == b"event: a\ndata: 1\n\ndata: 2\n\n"


def test_long_line_in_tiny_chunks_is_one_event() -> None:
    # The parser holds an unfinished line in pieces and joins them once its end arrives.
    raw = b"data: " + "é".encode() * 50_000 + b"\r\n\r\n"
    p, out = SseParser(), []
    for i in range(0, len(raw), 7):
        out += p.feed(raw[i : i + 7])
    assert out == [SseEvent(None, "é" * 50_000)]
    assert p.close() == []


@pytest.mark.parametrize(
    "ev",
    [
        SseEvent("content_block_delta", '{"t":"é"}'),
        SseEvent(None, "[DONE]"),
        SseEvent(None, ""),
        SseEvent(None, None),
        SseEvent("e", "a\r\nb\rc"),
        SseEvent(comment=""),
        SseEvent("x", "y", "id1", 5),
    ],
)
def test_encode_text_is_encode_before_utf8(ev: SseEvent) -> None:
    assert encode_text(ev).encode() == encode(ev)


def test_non_ascii_digits_in_retry_are_ignored() -> None:
    assert SseParser().feed("retry: ²\ndata: x\n\n".encode()) == [SseEvent(None, "x")]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_one_event_is_feed_or_declines(case: Case) -> None:
    """``one_event`` either returns exactly what ``feed`` would (and leaves the parser as feed
    would) or returns None; checked on every prefix state the cases leave behind."""
    for cut in range(len(case.raw) + 1):
        fast, general = SseParser(), SseParser()
        fast.feed(case.raw[:cut])
        general.feed(case.raw[:cut])
        rest = case.raw[cut:]
        one = fast.one_event(rest)
        if one is None:
            continue
        assert [one] == general.feed(rest)
        tail = b"data: next\n\n"
        assert fast.feed(tail) + fast.close() == general.feed(tail) + general.close()


@dataclass(frozen=True)
class OneCase:
    id: str
    chunk: bytes
    expected: SseEvent | None


ONE_CASES = [
    OneCase("data line", b"data: {}\n\n", SseEvent(None, "{}")),
    OneCase("named", b"event: a\ndata: x\n\n", SseEvent("a", "x")),
    OneCase("no spaces", b"event:a\ndata:x\n\n", SseEvent("a", "x")),
    OneCase("empty data", b"data:\n\n", SseEvent(None, "")),
    OneCase("empty name", b"event:\ndata: x\n\n", SseEvent("", "x")),
    OneCase("utf-8", "data: é🙂\n\n".encode(), SseEvent(None, "é🙂")),
    OneCase("two data lines", b"data: a\ndata: b\n\n", None),
    OneCase("two events", b"data: a\n\ndata: b\n\n", None),
    OneCase("unfinished", b"data: a\n", None),
    OneCase("crlf", b"data: a\r\n\r\n", None),
    OneCase("id line", b"id: 1\ndata: a\n\n", None),
    OneCase("comment", b": hi\n\n", None),
    OneCase("name without data", b"event: a\n\n", None),
    OneCase("extra blank line", b"data: a\n\n\n", None),
    OneCase("invalid utf-8", b"data: \xff\n\n", None),
    OneCase("empty", b"", None),
]


@pytest.mark.parametrize("case", ONE_CASES, ids=lambda c: c.id)
def test_one_event(case: OneCase) -> None:
    assert SseParser().one_event(case.chunk) == case.expected


def test_one_event_keeps_the_last_event_id_and_declines_while_an_event_is_open() -> None:
    p = SseParser()
    p.feed(b"id: 7\ndata: a\n\n")
    assert p.one_event(b"data: b\n\n") == SseEvent(None, "b", "7")
    p.feed(b"event: x\n")
    assert p.one_event(b"data: b\n\n") is None
