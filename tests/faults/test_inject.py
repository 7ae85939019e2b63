"""Each fault applied to real recorded streams of both dialects: the bytes before the fault are
the recording's own (with its chunking), the fault looks the way the dialect's codec says a
failure looks there, and the live (incremental) injector agrees with the whole-stream one at any
chunking."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recorder import ir
from recorder.context import Context
from recorder.dialects import codec
from recorder.errors import StreamProtocolError
from recorder.faults.inject import GARBAGE, Chunks, StreamFaults, apply, live, status_reply
from recorder.faults.spec import parse
from recorder.faults.units import split_blocks
from recorder.sse import SseEvent, SseParser
from replay.cassette import load

ROOT = Path(__file__).resolve().parents[2] / "cassettes"
# (cassette, leg) -> a recorded stream: Anthropic and OpenAI, text + tool call, one with UTF-8
STREAMS = {
    "anthropic": ("o2a-stream-tool", "upstream"),
    "openai": ("a2o-stream-tool", "upstream"),
    "anthropic-utf8": ("anthropic-hello", "upstream"),
}


def recorded(name: str) -> tuple[Chunks, ir.Dialect]:
    cassette, leg = STREAMS[name]
    cas = load(ROOT / cassette)
    it = next(i for i in cas.interactions if i.stream)
    rec = it.leg(leg)  # type: ignore[arg-type]
    assert rec is not None and rec.response is not None and rec.response.stream is not None
    dialect = it.upstream_dialect if leg == "upstream" else it.client_dialect
    assert dialect in ("anthropic", "openai")
    return [(0.0, c) for _, c in rec.response.stream.chunks()], dialect  # type: ignore[return-value]


def blocks(chunks: Chunks) -> list[bytes]:
    data = b"".join(c for _, c in chunks)
    ends = split_blocks(data)
    return [data[a:b] for a, b in zip([0, *ends], ends, strict=False)]


def joined(chunks: Chunks) -> bytes:
    return b"".join(c for _, c in chunks)


def decode(data: bytes, dialect: ir.Dialect) -> tuple[list[SseEvent], list[ir.StreamEvent]]:
    """What a client of the dialect reads: wire events, then their meaning, then the end."""
    p = SseParser()
    wire = p.feed(data) + p.close()
    dec = codec(dialect).stream_decoder(Context(dialect, dialect))
    meaning = [m for ev in wire for m in dec.push(ev)] + dec.finish()
    return wire, meaning


DIALECTS = ["anthropic", "openai"]


@pytest.mark.parametrize("name", DIALECTS)
def test_no_fault_is_the_recording(name: str) -> None:
    chunks, dialect = recorded(name)
    out = apply(chunks, parse("stall@0:0"), dialect)
    assert [c for _, c in out.chunks if c] == [c for _, c in chunks]
    assert out.ending == "complete"


@pytest.mark.parametrize("name", DIALECTS)
@pytest.mark.parametrize("k", [0, 1, 3, 5])
def test_truncate_keeps_k_whole_events_then_closes(name: str, k: int) -> None:
    chunks, dialect = recorded(name)
    out = apply(chunks, parse(f"truncate@{k}"), dialect)
    assert joined(out.chunks) == b"".join(blocks(chunks)[:k])
    assert out.ending == "closed" and out.applied == [f"truncate@{k}"]
    # the dialect's own decoder sees a stream that ended before its terminal event
    _, meaning = decode(joined(out.chunks), dialect)
    assert isinstance(meaning[-1], ir.StreamError)
    assert "ended before" in meaning[-1].error.message


@pytest.mark.parametrize("name", DIALECTS)
def test_unfaulted_stretch_keeps_the_recorded_chunking(name: str) -> None:
    chunks, dialect = recorded(name)
    k = 4
    out = apply(chunks, parse(f"truncate@{k}"), dialect)
    data = joined(chunks)
    cut = split_blocks(data)[k - 1]
    kept, pos = [], 0
    for _, c in chunks:  # the recorded chunks up to the cut, the last one cut there
        if pos >= cut:
            break
        kept.append(c[: cut - pos])
        pos += len(c)
    assert [c for _, c in out.chunks] == kept


@pytest.mark.parametrize("name", DIALECTS)
@pytest.mark.parametrize("kind", ["overloaded", "api_error", "rate_limit"])
def test_error_is_the_dialects_error_event_at_that_point(name: str, kind: ir.ErrorKind) -> None:
    chunks, dialect = recorded(name)
    out = apply(chunks, parse(f"error@2:{kind}"), dialect)
    data = joined(out.chunks)
    assert data.startswith(b"".join(blocks(chunks)[:2]))
    assert out.ending == "closed"
    wire, meaning = decode(data, dialect)
    assert len(wire) == 3  # two recorded events, then the error
    err = meaning[-1]
    assert isinstance(err, ir.StreamError) and err.error.kind == kind
    assert f"fault injected by tapegate: error@2:{kind}" in err.error.message
    # nothing follows the error in the stream, not even the end marker
    assert [type(m) for m in meaning].count(ir.StreamError) == 1


@pytest.mark.parametrize("name", DIALECTS)
def test_reset_ends_without_closing_the_body(name: str) -> None:
    chunks, dialect = recorded(name)
    out = apply(chunks, parse("reset@-1"), dialect)
    assert joined(out.chunks) == b"".join(blocks(chunks)[:-1])
    assert out.ending == "reset"


@pytest.mark.parametrize("name", DIALECTS)
def test_stall_waits_before_the_next_event_only(name: str) -> None:
    chunks, dialect = recorded(name)
    out = apply(chunks, parse("stall@2:1500"), dialect)
    assert joined(out.chunks) == joined(chunks)
    assert sum(d for d, _ in out.chunks) == pytest.approx(1.5)
    sent = b""
    for delay, c in out.chunks:
        if delay:
            assert sent == b"".join(blocks(chunks)[:2])  # the wait comes right after event 2
        sent += c


def test_stall_at_the_end_still_holds_the_end_back() -> None:
    chunks, dialect = recorded("openai")
    n = len(blocks(chunks))
    out = apply(chunks, parse(f"stall@{n}:200"), dialect)
    assert out.chunks[-1] == (0.2, b"") and out.ending == "complete"


@pytest.mark.parametrize("name", DIALECTS)
def test_garbage_is_one_undecodable_event_and_the_rest_follows(name: str) -> None:
    chunks, dialect = recorded(name)
    out = apply(chunks, parse("garbage@3"), dialect)
    b = blocks(chunks)
    assert joined(out.chunks) == b"".join(b[:3]) + GARBAGE + b"".join(b[3:])
    assert out.ending == "complete"
    with pytest.raises(StreamProtocolError, match="not valid UTF-8"):
        decode(joined(out.chunks), dialect)
    with pytest.raises(UnicodeDecodeError):
        GARBAGE.decode()
    with pytest.raises(ValueError):
        json.loads(GARBAGE.removeprefix(b"data: ").decode("utf-8", "replace"))


def test_drop_done_leaves_out_the_openai_done_line_only() -> None:
    chunks, dialect = recorded("openai")
    out = apply(chunks, parse("drop-done"), dialect)
    b = blocks(chunks)
    assert b[-1] == b"data: [DONE]\n\n"
    assert joined(out.chunks) == b"".join(b[:-1])
    _, meaning = decode(joined(out.chunks), dialect)
    # a finish_reason was sent: a tolerant client (ours) reads a complete answer
    assert isinstance(meaning[-1], ir.UsageUpdate)


def test_drop_done_leaves_out_anthropics_message_stop() -> None:
    chunks, dialect = recorded("anthropic")
    out = apply(chunks, parse("drop-done"), dialect)
    b = blocks(chunks)
    assert b"message_stop" in b[-1]
    assert joined(out.chunks) == b"".join(b[:-1])
    _, meaning = decode(joined(out.chunks), dialect)
    assert isinstance(meaning[-1], ir.StreamError)  # ended before message_stop


def _rechunked(name: str, mode: str) -> tuple[Chunks, Chunks, ir.Dialect]:
    chunks, dialect = recorded(name)
    out = apply(chunks, parse(f"rechunk:{mode}"), dialect)
    assert joined(out.chunks) == joined(chunks) and out.ending == "complete"
    return chunks, out.chunks, dialect


@pytest.mark.parametrize("name", [*DIALECTS, "anthropic-utf8"])
def test_rechunk_bytes_sends_one_byte_per_chunk(name: str) -> None:
    chunks, out, _ = _rechunked(name, "bytes")
    assert all(len(c) == 1 for _, c in out)


@pytest.mark.parametrize("name", [*DIALECTS, "anthropic-utf8"])
def test_rechunk_coalesce_sends_everything_at_once(name: str) -> None:
    chunks, out, _ = _rechunked(name, "coalesce")
    assert len(out) == 1


@pytest.mark.parametrize("name", [*DIALECTS, "anthropic-utf8"])
def test_rechunk_split_cuts_every_event_mid_line_and_mid_character(name: str) -> None:
    chunks, out, dialect = _rechunked(name, "split")
    data = joined(chunks)
    ends = set(split_blocks(data))
    bounds, pos = set(), 0
    for _, c in out[:-1]:
        pos += len(c)
        bounds.add(pos)
    assert not bounds & ends  # no chunk ends where an event ends
    starts = [0, *sorted(ends)][:-1]
    for a, b in zip(starts, sorted(ends), strict=True):
        inside = [x for x in bounds if a < x < b]
        assert len(inside) >= 2, data[a:b]  # cut in its first line and before its blank line
        first_line_end = a + min(i for i in (data.find(b"\n", a), data.find(b"\r", a)) if i >= 0)
        assert any(a < x < first_line_end for x in inside)
        multi = next((i for i in range(a, b) if data[i] >= 0xC0), None)
        if multi is not None:  # a multi-byte character is split between two chunks
            assert multi + 1 in bounds
    if name == "anthropic-utf8":
        assert any(0xC0 <= c[-1] for _, c in out)
    # and the client reads the same events
    assert decode(joined(out), dialect)[0] == decode(data, dialect)[0]


def test_rechunk_with_an_ending_flushes_before_it() -> None:
    chunks, dialect = recorded("anthropic")
    out = apply(chunks, parse("rechunk:coalesce,error@50%"), dialect)
    assert len(out.chunks) == 1 and out.ending == "closed"
    assert out.chunks[0][1].endswith(b"\n\n") and b"event: error" in out.chunks[0][1]
    out = apply(chunks, parse("rechunk:split,truncate@3"), dialect)
    assert joined(out.chunks) == b"".join(blocks(chunks)[:3])


@pytest.mark.parametrize("name", DIALECTS)
def test_positions_from_the_end_and_percentages(name: str) -> None:
    chunks, dialect = recorded(name)
    n = len(blocks(chunks))
    for spec, keep in [("truncate@-1", n - 1), ("truncate@-3", n - 3), ("truncate@50%", n // 2)]:
        assert joined(apply(chunks, parse(spec), dialect).chunks) == b"".join(blocks(chunks)[:keep])


def test_a_position_past_the_end_does_not_happen() -> None:
    chunks, dialect = recorded("openai")
    out = apply(chunks, parse("truncate@500"), dialect)
    assert joined(out.chunks) == joined(chunks) and out.ending == "complete" and not out.applied


@pytest.mark.parametrize("dialect", DIALECTS)
def test_status_is_the_dialects_error_body_with_retry_after(dialect: ir.Dialect) -> None:
    spec = parse("status:529:retry-after=2").status
    assert spec is not None
    code, headers, body = status_reply(spec, dialect)
    assert code == 529 and ("retry-after", "2") in headers
    err = codec(dialect).error_to_ir(code, json.loads(body))
    assert err.kind == "overloaded" and "status:529" in err.message
    code, headers, body = status_reply(parse("status:503").faults[0], dialect)  # type: ignore[arg-type]
    assert code == 503 and all(k != "retry-after" for k, _ in headers)
    assert codec(dialect).error_to_ir(code, json.loads(body)).kind == "unavailable"


ABSOLUTE = [
    "truncate@4",
    "error@3:overloaded",
    "stall@2:100,garbage@5",
    "reset@6",
    "rechunk:split",
    "rechunk:bytes,truncate@3",
    "rechunk:coalesce,stall@1:10",
    "rechunk:split,error@5:timeout",
]


@settings(max_examples=60, deadline=None)
@given(
    name=st.sampled_from(DIALECTS),
    spec=st.sampled_from(ABSOLUTE),
    cuts=st.lists(st.integers(0, 2000), max_size=12),
)
def test_live_injector_agrees_with_the_recording_at_any_chunking(
    name: str, spec: str, cuts: list[int]
) -> None:
    chunks, dialect = recorded(name)
    want = apply(chunks, parse(spec), dialect)
    data = joined(chunks)
    inj = live(parse(spec), dialect)
    assert isinstance(inj, StreamFaults)  # absolute positions: no buffering
    got: Chunks = []
    prev = 0
    for cut in [*sorted({min(c, len(data)) for c in cuts}), len(data)]:
        got += inj.feed(data[prev:cut])
        prev = cut
    got += inj.finish()
    assert joined(got) == joined(want.chunks)
    assert inj.ending == want.ending and inj.applied == want.applied
    if "bytes" in spec:
        assert all(len(c) <= 1 for _, c in got)


def test_live_injector_buffers_what_needs_the_length() -> None:
    chunks, dialect = recorded("openai")
    for spec in ("truncate@-1", "drop-done", "error@50%"):
        inj = live(parse(spec), dialect)
        assert all(inj.feed(c) == [] for _, c in chunks)
        out = inj.finish()
        assert joined(out) == joined(apply(chunks, parse(spec), dialect).chunks)
    with pytest.raises(ValueError, match="needs the stream's length"):
        StreamFaults(parse("truncate@-1"), "openai")
