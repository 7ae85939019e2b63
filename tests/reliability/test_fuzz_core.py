"""Property-based fuzzing of the pure core: the SSE parser, every codec's decoders (request,
response, error, stream) and the translate entry point, on broken real traffic. Each target may
raise only its documented error types (recorder.errors), never hangs (a watchdog per case) and
never amplifies its input without bound. Scale and seed: tests/reliability/fuzzing.py."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from recorder import ir
from recorder.context import Context
from recorder.dialects import codec
from recorder.errors import StreamProtocolError, TranslationError
from recorder.sse import SseParser
from recorder.translate import (
    StreamTranslator,
    parse_json,
    translate_error,
    translate_request,
    translate_response,
)
from tests.reliability.fuzzing import (
    BYTE_STREAMS,
    CLIENTS,
    CODECS,
    REQUESTS,
    RESPONSES,
    SSE_BYTES,
    SSE_UPSTREAMS,
    STATUSES,
    bodies,
    case,
    chunked,
    event_streams,
    expected,
    framed_streams,
    fuzz,
    stream_bytes,
    unwrap,
)

# (client, upstream): every client dialect against every upstream whose answer is JSON / SSE
PAIRS = list(itertools.product(CLIENTS, CODECS))
SSE_PAIRS = list(itertools.product(CLIENTS, SSE_UPSTREAMS))
# The codecs' documented failures. RecursionError is the translator's documented answer to
# absurdly deep JSON (StreamTranslator turns it into a stream error; the request and response
# paths answer it in the client's dialect): allowed from a codec, never from an entry point
# that promises not to raise.
CODEC_ERRORS = (TranslationError, RecursionError)


# --------------------------------------------------------------------------- SSE


@fuzz
@given(data=st.data(), raw=SSE_BYTES)
def test_sse_parser(data: st.DataObject, raw: bytes) -> None:
    chunks = data.draw(chunked(raw))
    with case("sse parser"):
        try:
            p = SseParser()
            got = [e for c in chunks for e in p.feed(c)] + p.close()
        except StreamProtocolError:
            expected("sse parser")
            return
    # chunking never changes the events
    whole = SseParser()
    assert got == whole.feed(raw) + whole.close()


# --------------------------------------------------------------------------- codec decoders


@pytest.mark.parametrize("dialect", CODECS)
@fuzz
@given(data=st.data())
def test_request_decoders(data: st.DataObject, dialect: ir.Dialect) -> None:
    body = unwrap(data.draw(bodies(REQUESTS[dialect])))
    with case(f"{dialect} request_to_ir"):
        try:
            codec(dialect).request_to_ir(body)
        except CODEC_ERRORS:
            expected(f"{dialect} request_to_ir")


@pytest.mark.parametrize("dialect", SSE_UPSTREAMS)
@fuzz
@given(data=st.data())
def test_response_decoders(data: st.DataObject, dialect: ir.Dialect) -> None:
    body = unwrap(data.draw(bodies(RESPONSES[dialect] or REQUESTS[dialect])))
    with case(f"{dialect} response_to_ir"):
        try:
            codec(dialect).response_to_ir(body, Context(dialect, dialect))
        except CODEC_ERRORS:
            expected(f"{dialect} response_to_ir")


@pytest.mark.parametrize("dialect", CODECS)
@fuzz
@given(data=st.data(), status=STATUSES)
def test_error_decoders_read_anything(
    data: st.DataObject, dialect: ir.Dialect, status: int
) -> None:
    body: Any = unwrap(
        data.draw(
            bodies(RESPONSES[dialect] or REQUESTS[dialect])
            | st.binary(max_size=200)
            | st.text(max_size=200)
        )
    )
    with case(f"{dialect} error_to_ir"):
        err = codec(dialect).error_to_ir(status, body)  # any body, even text: never raises
    assert isinstance(err, ir.ErrorInfo) and isinstance(err.message, str)


@pytest.mark.parametrize("dialect", SSE_UPSTREAMS)
@fuzz
@given(data=st.data())
def test_stream_decoders(data: st.DataObject, dialect: ir.Dialect) -> None:
    events = data.draw(event_streams(dialect))
    with case(f"{dialect} StreamDecoder"):
        dec = codec(dialect).stream_decoder(Context(dialect, dialect))
        try:
            for ev in events:
                dec.push(ev)
            dec.finish()
        except CODEC_ERRORS:
            expected(f"{dialect} StreamDecoder")


# --------------------------------------------------------------------------- translate entry point


@pytest.mark.parametrize("pair", PAIRS, ids="->".join)
@fuzz
@given(data=st.data())
def test_translate_request(data: st.DataObject, pair: tuple[ir.Dialect, ir.Dialect]) -> None:
    client, upstream = pair
    body = unwrap(data.draw(bodies(REQUESTS[client])))
    with case(f"translate_request {client}->{upstream}"):
        try:
            out = translate_request(body, Context(client, upstream))
        except CODEC_ERRORS:
            expected(f"translate_request {client}->{upstream}")
            return
    assert isinstance(out, dict)


@pytest.mark.parametrize("pair", SSE_PAIRS, ids="->".join)
@fuzz
@given(data=st.data())
def test_translate_response(data: st.DataObject, pair: tuple[ir.Dialect, ir.Dialect]) -> None:
    client, upstream = pair
    body = unwrap(data.draw(bodies(RESPONSES[upstream] or REQUESTS[upstream])))
    with case(f"translate_response {client}->{upstream}"):
        try:
            out = translate_response(body, Context(client, upstream))
        except CODEC_ERRORS:
            expected(f"translate_response {client}->{upstream}")
            return
    assert isinstance(out, dict)


@pytest.mark.parametrize("pair", PAIRS, ids="->".join)
@fuzz
@given(data=st.data(), status=STATUSES)
def test_translate_error(
    data: st.DataObject, pair: tuple[ir.Dialect, ir.Dialect], status: int
) -> None:
    client, upstream = pair
    body: Any = unwrap(
        data.draw(bodies(RESPONSES[upstream] or REQUESTS[upstream]) | st.binary(max_size=100))
    )
    with case(f"translate_error {client}->{upstream}"):
        code, out = translate_error(status, body, Context(client, upstream))
    assert 400 <= code <= 599 and json.dumps(out)


@pytest.mark.parametrize("pair", SSE_PAIRS, ids="->".join)
@fuzz
@given(data=st.data())
def test_stream_translator_never_raises(
    data: st.DataObject, pair: tuple[ir.Dialect, ir.Dialect]
) -> None:
    client, upstream = pair
    raw = data.draw(stream_bytes(upstream))
    chunks = data.draw(chunked(raw))
    with case(f"StreamTranslator {client}->{upstream}"):
        t = StreamTranslator(Context(client, upstream))
        out = b"".join(t.feed(c) for c in chunks) + t.close()
    # memory bounded: the output is proportional to the input, never an amplification
    assert len(out) <= 20 * len(raw) + 4096
    if client != upstream:
        # what reaches the client is well-formed SSE: it parses, and its last event ends it
        p = SseParser()
        p.feed(out)
        p.close()
        assert out == b"" or out.endswith(b"\n\n")


@pytest.mark.parametrize("dialect", BYTE_STREAMS)
@fuzz
@given(data=st.data())
def test_byte_stream_decoders(data: st.DataObject, dialect: ir.Dialect) -> None:
    """Codecs with their own stream framing (AWS event streams): broken frames, broken
    payloads, flipped bytes, in any chunking."""
    raw = data.draw(framed_streams())
    chunks = data.draw(chunked(raw))
    with case(f"{dialect} BytesDecoder"):
        frames = codec(dialect).frames()
        dec = codec(dialect).stream_decoder(Context("anthropic", dialect))
        try:
            for c in chunks:
                for frame in frames.feed(c):
                    dec.push(frame)
            for frame in frames.close():
                dec.push(frame)
            dec.finish()
        except CODEC_ERRORS:
            expected(f"{dialect} BytesDecoder")


@fuzz
@given(raw=SSE_BYTES | st.binary(max_size=200))
def test_parse_json(raw: bytes) -> None:
    with case("parse_json"):
        try:
            parse_json(raw)
        except TranslationError:
            expected("parse_json")
