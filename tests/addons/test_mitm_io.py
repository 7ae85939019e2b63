"""The body reader the gateway puts in front of mitmproxy's once a stream's terminal event
passed (addons.mitm_io.end_body_at_close): pure h11 readers, no sockets."""

from __future__ import annotations

import h11
from h11._readers import ChunkedReader, Http10Reader
from h11._receivebuffer import ReceiveBuffer

from addons.mitm_io import BodyEndsAtClose


def buffer(data: bytes) -> ReceiveBuffer:
    buf = ReceiveBuffer()
    buf += data
    return buf


def test_data_after_the_end_is_dropped_and_the_bodys_own_end_passes() -> None:
    reader = BodyEndsAtClose(ChunkedReader())
    buf = buffer(b"5\r\nlater\r\n")
    assert reader(buf) is None and not buf  # read (the framing goes on) but handed on: nothing
    buf += b"0\r\n\r\n"
    assert isinstance(reader(buf), h11.EndOfMessage)


def test_the_connections_close_ends_the_body() -> None:
    for inner in (ChunkedReader(), Http10Reader()):
        reader = BodyEndsAtClose(inner)
        assert reader(buffer(b"3\r\nabc")) is None
        assert isinstance(reader.read_eof(), h11.EndOfMessage)  # not an incomplete-body error


def test_garbage_after_the_end_is_dropped_too() -> None:
    reader = BodyEndsAtClose(ChunkedReader())
    buf = buffer(b"not a chunk size\r\n")
    assert reader(buf) is None and not buf
    buf += b"0\r\n\r\n"
    assert reader(buf) is None  # only the close ends it now
    assert isinstance(reader.read_eof(), h11.EndOfMessage)
