"""Redaction of secrets and the EventTape observer."""

from __future__ import annotations

import pytest

from recorder.codecs import anthropic
from recorder.context import Context, IdFactory
from recorder.dialects import codec
from recorder.exchange import (
    REDACTED,
    EventTape,
    Exchange,
    redact_headers,
    redact_url,
    untape,
)
from recorder.ir import Dialect
from recorder.sse import SseEvent, encode
from recorder.translate import StreamTranslator
from tests.translate import streams


def test_secret_headers_are_redacted_case_insensitively() -> None:
    headers = [
        ("X-Api-Key", "sk-ant-secret"),
        ("authorization", "Bearer sk-secret"),
        ("Cookie", "a=b"),
        ("content-type", "application/json"),
    ]
    out = redact_headers(headers)
    assert out[:3] == [("X-Api-Key", REDACTED), ("authorization", REDACTED), ("Cookie", REDACTED)]
    assert out[3] == ("content-type", "application/json")


def test_keys_in_urls_are_redacted() -> None:
    url = "https://user:pw@example.com/v1/models?key=AIzaSECRET&alt=sse&api_key=sk-1"
    out = redact_url(url)
    assert "AIzaSECRET" not in out and "sk-1" not in out and "pw" not in out
    assert "alt=sse" in out


def test_event_tape_keeps_both_legs_bytes_and_untape_makes_timed_events() -> None:
    now = [10.0]
    ex = Exchange(id="e1", started_at=1000.0)
    tape = EventTape(ex, lambda: now[0], 10.0, anthropic.is_token)
    now[0] = 10.5
    tape.upstream(b"data: {}\n\ndata: [DO", [SseEvent(None, "{}")])
    now[0] = 10.75
    ping = SseEvent("ping", '{"type":"ping"}')
    tape.client([ping], encode(ping))
    now[0] = 11.0
    delta = SseEvent("content_block_delta", '{"type":"content_block_delta"}')
    tape.client([delta], encode(delta))
    now[0] = 11.25
    tape.upstream(b"NE]", [])
    now[0] = 11.5
    tape.upstream(b"", [SseEvent(None, "[DONE]")])  # the end flushed an unterminated event
    assert ex.t_upstream_first_byte == 0.5
    assert ex.t_first_token == 1.0  # the ping is no token
    assert tape.last is delta
    assert ex.events == [] and ex.taped is not None  # nothing parsed on the proxy's thread
    untape(ex)
    assert [(e.leg, e.seq, e.t, e.event, e.data) for e in ex.events] == [
        ("upstream", 0, 0.5, None, "{}"),
        ("client", 0, 0.75, "ping", '{"type":"ping"}'),
        ("client", 1, 1.0, "content_block_delta", '{"type":"content_block_delta"}'),
        ("upstream", 1, 1.5, None, "[DONE]"),
    ]
    assert [(c.seq, c.t) for c in ex.chunks] == [(0, 0.5), (1, 1.25)]
    assert ex.taped is None


def test_untape_of_a_cut_off_stream_keeps_whole_events_and_every_raw_chunk() -> None:
    ex = Exchange(id="e2", started_at=0.0)
    tape = EventTape(ex, lambda: 1.0, 0.0, anthropic.is_token)
    tape.upstream(b"data: one\n\ndata: tw", [SseEvent(None, "one")])
    tape.upstream(b"\xff\xfe\n\n", [])  # not UTF-8: no event, but the bytes are kept
    untape(ex)  # no end marker: the client went away
    assert [e.data for e in ex.events] == ["one"]
    assert [c.data for c in ex.chunks] == [b"data: one\n\ndata: tw", b"\xff\xfe\n\n"]


class _Tee:
    """The live events, as an observer sees them, next to an EventTape of the same stream."""

    def __init__(self, ex: Exchange, client: Dialect) -> None:
        self.tape = EventTape(ex, lambda: 0.0, 0.0, codec(client).is_token)
        self.live: list[tuple[str, str | None, str | None, str | None]] = []

    def upstream(self, chunk: bytes, events: list[SseEvent]) -> None:
        self.tape.upstream(chunk, events)
        self.live += [("upstream", e.event, e.data, e.comment) for e in events]

    def client(self, events: list[SseEvent], wire: bytes) -> None:
        self.tape.client(events, wire)
        self.live += [("client", e.event, e.data, e.comment) for e in events]


def _streams() -> list[tuple[str, Dialect, Dialect, bytes]]:
    out: list[tuple[str, Dialect, Dialect, bytes]] = []
    for name, body in {**streams.OPENAI_STREAMS, **streams.OPENAI_FAILING_STREAMS}.items():
        out += [(name, "anthropic", "openai", body), (name, "openai", "openai", body)]
    for name, body in {**streams.ANTHROPIC_STREAMS, **streams.ANTHROPIC_FAILING_STREAMS}.items():
        out += [(name, "openai", "anthropic", body), (name, "anthropic", "anthropic", body)]
    return out


@pytest.mark.parametrize(
    ("name", "client", "upstream", "body"),
    _streams(),
    ids=lambda v: v if isinstance(v, str) else "",
)
@pytest.mark.parametrize("size", [7, 64, 1 << 20])  # chunkings: small, medium, whole
def test_untape_gives_the_events_the_translator_saw(
    name: str, client: Dialect, upstream: Dialect, body: bytes, size: int
) -> None:
    ex = Exchange(id=name, started_at=0.0)
    tee = _Tee(ex, client)
    tr = StreamTranslator(Context(client=client, upstream=upstream, ids=IdFactory("t")), tee)
    for i in range(0, len(body), size):
        tr.feed(body[i : i + size])
    tr.feed(b"")
    untape(ex)
    assert [(e.leg, e.event, e.data, e.comment) for e in ex.events] == tee.live
    taped = b"".join(c.data for c in ex.chunks)
    # A failed stream stops reading, and so does one whose terminal event (an error chunk, say)
    # came before the body's end: what follows is no part of the stream.
    assert taped == body or ((tr.failed or tr.done) and body.startswith(taped))
