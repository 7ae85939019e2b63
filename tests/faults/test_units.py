"""Event boundaries found on bytes: the same at every chunking, and exactly where the SSE parser
dispatches (so a fault placed there falls between two whole events)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recorder.faults.units import BlockSplitter, split_blocks
from recorder.sse import SseEvent, SseParser


def _fed(data: bytes, cuts: list[int]) -> list[int]:
    s, out, prev = BlockSplitter(), [], 0
    for cut in [*sorted(set(cuts)), len(data)]:
        out += s.feed(data[prev:cut])
        prev = cut
    return out + s.finish()


@pytest.mark.parametrize(
    ("data", "ends"),
    [
        (b"data: a\n\ndata: b\n\n", [9, 18]),
        (b"data: a\r\n\r\ndata: b\r\n\r\n", [11, 22]),
        (b"data: a\r\rdata: b\r\r", [9, 18]),
        (b"event: x\ndata: a\n\n", [18]),
        (b": ping\n\ndata: x\n\n", [8, 17]),
        (b":\n\n", [3]),
        (b"\n\ndata: a\n\n\n\ndata: b", [11, 20]),  # blank lines open the next block
        (b"data: a\n\n\n", [9]),  # a trailing blank line closes nothing
        (b"data: a\ndata: b\n\n", [17]),
        (b"", []),
    ],
)
def test_blocks_and_every_two_way_split(data: bytes, ends: list[int]) -> None:
    assert split_blocks(data) == ends
    for cut in range(len(data) + 1):
        assert _fed(data, [cut]) == ends, cut


_LINE_END = st.sampled_from([b"\n", b"\r\n", b"\r"])
_LINE = st.one_of(
    st.builds(lambda t: b"data: " + t, st.text(max_size=8).map(lambda s: s.encode())),
    st.builds(lambda t: b"event: " + t, st.sampled_from([b"a", b"message_stop", b"error"])),
    st.builds(lambda t: b":" + t, st.sampled_from([b"", b" ping", b" OPENROUTER PROCESSING"])),
    st.just(b"id: 7"),
    st.just(b""),
)


@st.composite
def _streams(draw: st.DrawFn) -> tuple[bytes, list[int]]:
    lines = draw(st.lists(st.tuples(_LINE, _LINE_END), max_size=25))
    data = b"".join(a + b for a, b in lines)
    if draw(st.booleans()):
        data += draw(_LINE)  # a last line without its end
    cuts = draw(st.lists(st.integers(0, len(data)), max_size=8))
    return data, cuts


@settings(max_examples=400, deadline=None)
@given(_streams())
def test_any_chunking_finds_the_same_blocks_at_clean_parser_states(
    case: tuple[bytes, list[int]],
) -> None:
    data, cuts = case
    ends = split_blocks(data)
    assert _fed(data, cuts) == ends
    assert ends == sorted(set(ends)) and all(0 < e <= len(data) for e in ends)

    # at every block end the parser holds nothing: the fault falls between whole events
    def parsed(raw: bytes) -> list[SseEvent]:
        p = SseParser()
        return [replace(e, id=None) for e in p.feed(raw) + p.close()]

    pieces = [data[a:b] for a, b in zip([0, *ends], [*ends, len(data)], strict=True)]
    assert [e for raw in pieces for e in parsed(raw)] == parsed(data)
