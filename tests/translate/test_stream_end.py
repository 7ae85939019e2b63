"""A stream ends at its terminal event, not at the end of the upstream's body.

``StreamTranslator.done`` turns true with the chunk that completes the upstream's terminal
event (``[DONE]``, ``message_stop``, an error), translated or passed through, at every byte
split; what the upstream sends afterwards never reaches the client, and a translated stream's
closing events go out at that moment (the gateway ends the client's response there: see
addons/response/stream_end.py and tests/e2e/test_gateway_edges_e2e.py).
"""

from __future__ import annotations

import pytest

from recorder.context import Context, IdFactory
from recorder.dialects import codec
from recorder.ir import Dialect
from recorder.sse import SseParser
from recorder.translate import StreamTranslator
from tests.translate.streams import (
    ANTHROPIC_FAILING_STREAMS,
    ANTHROPIC_STREAMS,
    OPENAI_FAILING_STREAMS,
    OPENAI_STREAMS,
    RESPONSES_FAILING_STREAMS,
    RESPONSES_STREAMS,
)

AFTER = b'data: {"after": "the end"}\n\n'  # the upstream goes on after its terminal event
# Failing streams whose failure is not a terminal event: a translation failure ends them where
# it happens (tests/translate/test_translator_edges.py)
NOT_TERMINAL_FAILURES = {"malformed_json", "json_nested_too_deep"}

CASES = [
    *((n, "openai", raw) for n, raw in OPENAI_STREAMS.items()),
    *((n, "openai", raw) for n, raw in OPENAI_FAILING_STREAMS.items()),
    *((n, "anthropic", raw) for n, raw in ANTHROPIC_STREAMS.items()),
    *((n, "anthropic", raw) for n, raw in ANTHROPIC_FAILING_STREAMS.items()),
    *((n, "responses", raw) for n, raw in RESPONSES_STREAMS.items()),
    *((n, "responses", raw) for n, raw in RESPONSES_FAILING_STREAMS.items()),
]
DIALECTS: tuple[Dialect, ...] = ("anthropic", "openai", "responses")
TRANSLATED = [
    (name, upstream, client, raw)
    for name, upstream, raw in CASES
    if name not in NOT_TERMINAL_FAILURES
    for client in DIALECTS
    if client != upstream
]


def translator(client: Dialect, upstream: Dialect) -> StreamTranslator:
    ctx = Context(client=client, upstream=upstream, ids=IdFactory("t"), created=1700000000)
    ctx.include_usage = True
    # An observer, as in the gateway: a pass-through stream is then parsed.
    return StreamTranslator(ctx, _Quiet())


class _Quiet:
    def upstream(self, chunk: bytes, events: object) -> None:
        pass

    def client(self, events: object, wire: bytes) -> None:
        pass


def terminal_end(raw: bytes, dialect: Dialect) -> int | None:
    """The offset just past the first event of ``raw`` that ends the stream."""
    ends = codec(dialect).is_terminal
    parser = SseParser()
    for i in range(len(raw)):
        if any(ends(ev) for ev in parser.feed(raw[i : i + 1])):
            return i + 1
    return None


def whole_events(data: bytes) -> bytes:
    """``data`` up to the end of its last whole event (ended by a blank line, LF or CRLF)."""
    ends = [data.rfind(sep) + len(sep) for sep in (b"\n\n", b"\n\r\n") if sep in data]
    return data[: max(ends, default=0)]


@pytest.mark.parametrize(("name", "dialect", "raw"), CASES, ids=[f"{u}-{n}" for n, u, _ in CASES])
def test_pass_through_ends_with_the_chunk_that_holds_the_terminal_event(
    name: str, dialect: Dialect, raw: bytes
) -> None:
    end = terminal_end(raw, dialect)
    stream = raw + AFTER
    for cut in range(1, len(stream)):
        tr = translator(dialect, dialect)
        first = tr.feed(stream[:cut])
        assert tr.done is (end is not None and cut >= end), f"cut {cut}"
        second = tr.feed(stream[cut:])
        if end is None:
            assert not tr.done and first + second == stream
        elif cut >= end:
            # whole events pass (a pass-through goes whole events at a time); the rest is not
            # the stream's
            assert first == whole_events(stream[:cut]) and second == b""
        else:
            assert tr.done and first + second == stream  # one chunk: it passes whole
        tr.close()
        assert tr.done


@pytest.mark.parametrize(
    ("name", "dialect", "client", "raw"),
    TRANSLATED,
    ids=[f"{u}-{n}-to-{c}" for n, u, c, _ in TRANSLATED],
)
def test_translation_ends_at_the_upstreams_terminal_event(
    name: str, dialect: Dialect, client: Dialect, raw: bytes
) -> None:
    end = terminal_end(raw, dialect)
    whole = translator(client, dialect)
    expected = whole.feed(raw) + whole.close()
    after = AFTER if end is not None else b""  # without a terminal event, nothing is "after"
    for cut in range(1, len(raw) + 1):
        tr = translator(client, dialect)
        first = tr.feed((raw + after)[:cut])
        ended = end is not None and cut >= end
        # Done earlier only where the translation failed (content the client's dialect cannot
        # carry): the client got its error event, which ends its stream too.
        assert tr.done is ended or (tr.done and tr.failed), f"cut {cut}"
        if tr.done:
            # the client's closing events are out already: nothing waits for the body's end
            assert first == expected, f"cut {cut}"
            assert tr.feed(raw[cut:] + after) == b"" and tr.close() == b""
        else:
            assert first + tr.feed(raw[cut:] + after) + tr.close() == expected, f"cut {cut}"
