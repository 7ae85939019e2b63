"""The AWS event-stream framing (recorder/eventstream.py).

Frames here are built by :func:`spec_frame`, written from the format's description with
``struct`` and ``zlib.crc32`` and independent of the module's encoder, so decoder and encoder
are each checked against the spec rather than against each other. The hand-computed example of
research/kiro.md (§ Synthetic fixtures (c)) is checked byte for byte.
"""

from __future__ import annotations

import struct
import uuid
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recorder.errors import StreamProtocolError
from recorder.wire.eventstream import (
    MAX_HEADERS,
    EventStreamDecoder,
    EventStreamError,
    Header,
    HeaderType,
    Message,
    decode_all,
    encode_message,
    message_to_json,
)

# research/kiro.md (c): one assistantResponseEvent carrying {"content":"Hi"}
SPEC_HEX = (
    "0000007c0000005c3bddcf780b3a6576656e742d74797065070016617373697374616e74526573706f6e"
    "73654576656e740d3a636f6e74656e742d747970650700106170706c69636174696f6e2f6a736f6e0d3a"
    "6d6573736167652d747970650700056576656e747b22636f6e74656e74223a224869227db02babdc"
)
SPEC = bytes.fromhex(SPEC_HEX)


def spec_header(name: str, type_byte: int, value: bytes) -> bytes:
    raw = name.encode()
    return bytes([len(raw)]) + raw + bytes([type_byte]) + value


def spec_str(name: str, value: str) -> bytes:
    raw = value.encode()
    return spec_header(name, 7, struct.pack(">H", len(raw)) + raw)


def spec_frame(headers: bytes, payload: bytes) -> bytes:
    total = 12 + len(headers) + len(payload) + 4
    prelude = struct.pack(">II", total, len(headers))
    msg = prelude + struct.pack(">I", zlib.crc32(prelude)) + headers + payload
    return msg + struct.pack(">I", zlib.crc32(msg))


def event(event_type: str, payload: bytes) -> bytes:
    return spec_frame(
        spec_str(":event-type", event_type)
        + spec_str(":content-type", "application/json")
        + spec_str(":message-type", "event"),
        payload,
    )


ALL_TYPES = (
    spec_header("t", 0, b"")
    + spec_header("f", 1, b"")
    + spec_header("byte", 2, struct.pack(">b", -7))
    + spec_header("short", 3, struct.pack(">h", -300))
    + spec_header("int", 4, struct.pack(">i", 70000))
    + spec_header("long", 5, struct.pack(">q", -(2**40)))
    + spec_header("bytes", 6, struct.pack(">H", 3) + b"\x00\xff\x10")
    + spec_header("str", 7, struct.pack(">H", 6) + "héllo".encode())
    + spec_header("ts", 8, struct.pack(">q", 1_700_000_000_123))
    + spec_header("id", 9, uuid.UUID(int=0x1234).bytes)
)
ALL_TYPES_VALUES = [
    ("t", HeaderType.BOOL_TRUE, True),
    ("f", HeaderType.BOOL_FALSE, False),
    ("byte", HeaderType.BYTE, -7),
    ("short", HeaderType.SHORT, -300),
    ("int", HeaderType.INTEGER, 70000),
    ("long", HeaderType.LONG, -(2**40)),
    ("bytes", HeaderType.BYTE_ARRAY, b"\x00\xff\x10"),
    ("str", HeaderType.STRING, "héllo"),
    ("ts", HeaderType.TIMESTAMP, 1_700_000_000_123),
    ("id", HeaderType.UUID, uuid.UUID(int=0x1234)),
]

STREAM = (
    event("assistantResponseEvent", b'{"content":"Let me check"}')
    + spec_frame(ALL_TYPES, b"\x00binary\xff")
    + event("toolUseEvent", '{"name":"f","toolUseId":"t1","input":"{\\"q\\": \\"é\\"}"}'.encode())
    + spec_frame(b"", b"")
    + event("meteringEvent", b'{"unit":"credit","usage":0.01}')
)


def test_research_example_crcs_match_zlib() -> None:
    assert SPEC[:4] == b"\x00\x00\x00\x7c" and SPEC[4:8] == b"\x00\x00\x00\x5c"
    assert struct.unpack(">I", SPEC[8:12])[0] == zlib.crc32(SPEC[:8]) == 0x3BDDCF78
    assert struct.unpack(">I", SPEC[-4:])[0] == zlib.crc32(SPEC[:-4]) == 0xB02BABDC
    assert event("assistantResponseEvent", b'{"content":"Hi"}') == SPEC


def test_decodes_the_research_example() -> None:
    (msg,) = decode_all(SPEC)
    assert msg.string(":event-type") == "assistantResponseEvent"
    assert msg.string(":content-type") == "application/json"
    assert msg.string(":message-type") == "event"
    assert msg.payload == b'{"content":"Hi"}'
    assert message_to_json(msg) == {
        "headers": {
            ":event-type": "assistantResponseEvent",
            ":content-type": "application/json",
            ":message-type": "event",
        },
        "payload": {"content": "Hi"},
    }


def test_encoder_writes_the_research_example() -> None:
    headers = {
        ":event-type": "assistantResponseEvent",
        ":content-type": "application/json",
        ":message-type": "event",
    }
    assert encode_message(headers, b'{"content":"Hi"}') == SPEC


def test_every_header_type() -> None:
    (msg,) = decode_all(spec_frame(ALL_TYPES, b"x"))
    assert [(n, h.type, h.value) for n, h in msg.headers] == ALL_TYPES_VALUES
    # the encoder writes the same bytes from the decoded headers
    assert encode_message(msg.headers, b"x") == spec_frame(ALL_TYPES, b"x")
    view = message_to_json(msg)
    assert view["headers"]["bytes"] == "AP8Q" and view["headers"]["id"] == str(
        uuid.UUID(int=0x1234)
    )
    assert view["payload"] == "x"
    assert message_to_json(Message((), b"\xff"))["payload_base64"] == "/w=="


def test_research_example_needs_more_data_until_the_last_byte() -> None:
    dec = EventStreamDecoder()
    assert dec.feed(SPEC[:123]) == []
    assert dec.pending == 123
    with pytest.raises(EventStreamError, match="ended inside a frame"):
        dec.close()


@pytest.mark.parametrize(("flip", "why"), [(8, "prelude CRC"), (123, "message CRC")])
def test_research_example_flipped_byte(flip: int, why: str) -> None:
    bad = bytearray(SPEC)
    bad[flip] ^= 0x01
    with pytest.raises(EventStreamError, match=why):
        decode_all(bytes(bad))


def test_every_split_offset_gives_the_same_messages() -> None:
    whole = decode_all(STREAM)
    assert len(whole) == 5
    for cut in range(len(STREAM) + 1):
        dec = EventStreamDecoder()
        got = dec.feed(STREAM[:cut]) + dec.feed(STREAM[cut:])
        dec.close()
        assert got == whole, cut


def test_byte_by_byte_and_three_way_splits() -> None:
    whole = decode_all(STREAM)
    dec = EventStreamDecoder()
    got = [m for i in range(len(STREAM)) for m in dec.feed(STREAM[i : i + 1])]
    assert got == whole
    n = len(STREAM)
    for a in range(0, n, 7):
        for b in range(a, n, 11):
            dec = EventStreamDecoder()
            got = dec.feed(STREAM[:a]) + dec.feed(STREAM[a:b]) + dec.feed(STREAM[b:])
            assert got == whole, (a, b)


def test_any_single_byte_corruption_is_an_error_never_a_guess() -> None:
    for at in range(len(STREAM)):
        bad = bytearray(STREAM)
        bad[at] ^= 0xA5
        dec = EventStreamDecoder()
        with pytest.raises(EventStreamError):
            dec.feed(bytes(bad))
            dec.close()


def test_error_names_the_frame_offset_and_stays_broken() -> None:
    first = event("a", b"{}")
    bad = bytearray(event("b", b"{}"))
    bad[-1] ^= 0xFF
    dec = EventStreamDecoder()
    with pytest.raises(EventStreamError, match=f"frame at byte {len(first)}: message CRC") as e:
        dec.feed(first + bytes(bad))
    assert isinstance(e.value, StreamProtocolError)  # the translator's mid-stream error path
    with pytest.raises(EventStreamError):
        dec.feed(first)
    with pytest.raises(EventStreamError):
        dec.close()


def _with_prelude(total: int, hlen: int, rest: bytes = b"") -> bytes:
    prelude = struct.pack(">II", total, hlen)
    return prelude + struct.pack(">I", zlib.crc32(prelude)) + rest


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (_with_prelude(15, 0), "below the minimum"),
        (_with_prelude(20, 5), "does not fit"),
        (_with_prelude(2**31, 0), "exceeds the limit"),
        (_with_prelude(MAX_HEADERS + 1000, MAX_HEADERS + 1), "headers length"),
        (spec_frame(spec_header("x", 10, b""), b""), "unknown value type 10"),
        (spec_frame(b"\x00\x07", b""), "empty name"),
        (spec_frame(spec_header("s", 7, b"\x00\x09abc"), b""), "runs past"),
        (spec_frame(spec_header("s", 7, b"\x00\x01\xff"), b""), "not UTF-8"),
        (spec_frame(spec_header("i", 4, b"\x00\x01"), b""), "runs past"),
        (spec_frame(b"\x05ab", b""), "runs past"),
        (spec_frame(b"\x01\xff\x00", b""), "name at byte 12 is not UTF-8"),
    ],
)
def test_malformed_frames(data: bytes, why: str) -> None:
    with pytest.raises(EventStreamError, match=why):
        decode_all(data)


def test_max_message_is_configurable() -> None:
    with pytest.raises(EventStreamError, match="exceeds the limit of 100"):
        EventStreamDecoder(max_message=100).feed(event("x", b"y" * 200))


@pytest.mark.parametrize(
    "bad",
    [
        {"n": Header(HeaderType.BYTE, 300)},
        {"n": Header(HeaderType.STRING, b"x")},
        {"n": Header(HeaderType.BOOL_TRUE, False)},
        {"n": Header(HeaderType.LONG, True)},
        {"n": Header(HeaderType.UUID, "x")},
        {"n": "x" * 70000},
        {"": "x"},
    ],
)
def test_encoder_refuses_values_the_format_cannot_hold(bad: dict[str, Header]) -> None:
    with pytest.raises(ValueError):
        encode_message(bad, b"")


def test_encoder_needs_explicit_int_widths() -> None:
    with pytest.raises(TypeError):
        encode_message({"n": 5}, b"")  # type: ignore[dict-item]


# --------------------------------------------------------------------------- fuzzing

_header_values = st.one_of(
    st.booleans().map(lambda b: Header(HeaderType.BOOL_TRUE if b else HeaderType.BOOL_FALSE, b)),
    st.integers(-128, 127).map(lambda v: Header(HeaderType.BYTE, v)),
    st.integers(-(2**15), 2**15 - 1).map(lambda v: Header(HeaderType.SHORT, v)),
    st.integers(-(2**31), 2**31 - 1).map(lambda v: Header(HeaderType.INTEGER, v)),
    st.integers(-(2**63), 2**63 - 1).map(lambda v: Header(HeaderType.LONG, v)),
    st.binary(max_size=40).map(lambda v: Header(HeaderType.BYTE_ARRAY, v)),
    st.text(max_size=40).map(lambda v: Header(HeaderType.STRING, v)),
    st.integers(-(2**63), 2**63 - 1).map(lambda v: Header(HeaderType.TIMESTAMP, v)),
    st.uuids().map(lambda v: Header(HeaderType.UUID, v)),
)
_messages = st.builds(
    lambda hs, p: (tuple(hs), p),
    st.lists(st.tuples(st.text(min_size=1, max_size=20), _header_values), max_size=6),
    st.binary(max_size=200),
)


def _no_surrogates(hs: tuple[tuple[str, Header], ...]) -> bool:
    def ok(s: str) -> bool:
        try:
            s.encode()
        except UnicodeEncodeError:
            return False
        return True

    return all(ok(n) and (not isinstance(h.value, str) or ok(h.value)) for n, h in hs)


@settings(max_examples=200, deadline=None)
@given(st.lists(_messages, min_size=1, max_size=5), st.lists(st.integers(0, 5000), max_size=6))
def test_round_trip_at_random_splits(msgs: list, cuts: list[int]) -> None:
    msgs = [(hs, p) for hs, p in msgs if _no_surrogates(hs)]
    data = b"".join(encode_message(hs, p) for hs, p in msgs)
    points = sorted({min(c, len(data)) for c in cuts} | {0, len(data)})
    dec = EventStreamDecoder()
    got: list[Message] = []
    for a, b in zip(points, points[1:], strict=False):
        got += dec.feed(data[a:b])
    dec.close()
    assert got == [Message(hs, p) for hs, p in msgs]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.binary(max_size=64), max_size=8))
def test_arbitrary_bytes_raise_only_the_documented_error(chunks: list[bytes]) -> None:
    dec = EventStreamDecoder()
    try:
        for c in chunks:
            dec.feed(c)
        dec.close()
    except EventStreamError:
        pass


@settings(max_examples=500, deadline=None)
@given(
    st.integers(0, len(STREAM) - 1),
    st.integers(1, 255),
    st.integers(0, len(STREAM)),
    st.binary(max_size=12),
)
def test_mutated_streams_raise_only_the_documented_error(
    at: int, xor: int, cut: int, junk: bytes
) -> None:
    bad = bytearray(STREAM)
    bad[at] ^= xor
    data = bytes(bad[:cut]) + junk + bytes(bad[cut:])
    dec = EventStreamDecoder()
    with pytest.raises(EventStreamError):
        dec.feed(data[:cut])
        dec.feed(data[cut:])
        dec.close()
