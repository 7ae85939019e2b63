"""Server-sent events: an incremental parser and an encoder, both pure.

The parser takes bytes in arbitrary chunks (mitmproxy hands the stream callable whatever the
socket gave it) and follows the WHATWG event-stream rules: LF, CRLF or CR line ends, ``:`` comment
lines, several ``data:`` lines joined with ``\\n``, one optional space after the colon. Lines are
split on bytes before decoding, so a UTF-8 character split across two chunks is never mangled.
Comment lines are surfaced as events of their own (``comment`` set) because keep-alives matter to
a proxy; the spec's dispatcher would drop them.
"""

from __future__ import annotations

from dataclasses import dataclass

from recorder.errors import StreamProtocolError


@dataclass(slots=True)
class SseEvent:
    event: str | None = None
    data: str | None = None
    id: str | None = None
    retry: int | None = None
    comment: str | None = None  # set (and nothing else) for a ":" comment line


class SseParser:
    """Feed bytes, get complete events. ``close()`` flushes an event left without its blank line."""

    __slots__ = ("_tail", "_event", "_data", "_id", "_retry", "_pending_cr")

    def __init__(self) -> None:
        # Bytes of the unfinished last line, in pieces: joined only once a line end arrives, so
        # a long line that trickles in over many small chunks costs linear, not quadratic, work.
        self._tail: list[bytes] = []
        self._event: str | None = None
        self._data: list[str] = []
        self._id: str | None = None
        self._retry: int | None = None
        self._pending_cr = False  # last chunk ended in "\r": a following "\n" belongs to it

    def feed(self, chunk: bytes) -> list[SseEvent]:
        if not chunk:
            return []
        # Byte tests use ints (``13 in chunk``): a one-byte *bytes* needle costs ~8x more.
        if self._pending_cr and chunk[0] == 10:
            chunk = chunk[1:]
        self._pending_cr = chunk[-1:] == b"\r"
        # The held tail never holds "\r" or "\n", so line ends can be normalised per chunk.
        if 13 in chunk:
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        if 10 not in chunk:
            if chunk:
                self._tail.append(chunk)
            return []
        if self._tail:
            self._tail.append(chunk)
            chunk = b"".join(self._tail)
        complete, _, tail = chunk.rpartition(b"\n")
        self._tail = [tail] if tail else []
        out: list[SseEvent] = []
        try:
            # Decoding all complete lines at once is safe: "\n" never occurs inside a UTF-8
            # sequence. Invalid bytes take the per-line path, which names the bad line.
            text = complete.decode("utf-8")
        except UnicodeDecodeError:
            for raw in complete.split(b"\n"):
                self._line(raw, out)
            return out
        data = self._data
        for line in text.split("\n"):
            # Inlined hot path (data and event lines, the blank line that ends an event);
            # the rest goes through _text_line, which holds the full rules.
            if line.startswith("data:"):
                data.append(line[6:] if line.startswith(" ", 5) else line[5:])
            elif not line and data:
                out.append(SseEvent(self._event, "\n".join(data), self._id, self._retry))
                self._event, self._retry = None, None
                self._data = data = []
            elif line.startswith("event:"):
                self._event = line[7:] if line.startswith(" ", 6) else line[6:]
            else:
                self._text_line(line, out)
                data = self._data
        return out

    def one_event(self, chunk: bytes) -> SseEvent | None:
        """The event ``feed(chunk)`` would return when ``chunk`` is exactly one whole event of the
        common shape — an optional ``event:`` line, one ``data:`` line, the blank line, LF line
        ends — and nothing is held from earlier chunks. Then the parser is already in the state
        ``feed`` would leave (nothing held), so the caller uses this *instead of* ``feed``.
        None for any other chunk, with nothing changed: ``feed`` takes it.

        Why: servers write one event per chunk, so this is the shape of nearly every chunk of a
        stream, and recognising it costs a few byte tests instead of the line loop.
        """
        if self._tail or self._data or self._event is not None or self._retry is not None:
            return None
        if self._pending_cr or not chunk.endswith(b"\n\n") or 13 in chunk:
            return None
        # Byte offsets (cheaper than decoding first): "\n" never occurs inside a UTF-8 sequence.
        end = len(chunk) - 2  # where the blank line starts
        start = chunk.find(10) + 1  # where the second line starts
        event = None
        if start <= end:  # two lines: the first must name the event
            if not chunk.startswith(b"event:") or chunk.find(10, start) != end:
                return None
            event = chunk[7 if chunk[6] == 32 else 6 : start - 1]
        else:
            start = 0
        if not chunk.startswith(b"data:", start):
            return None
        try:
            data = chunk[start + 6 if chunk[start + 5] == 32 else start + 5 : end].decode()
            name = None if event is None else event.decode()
        except UnicodeDecodeError:
            return None  # feed names the bad line
        return SseEvent(name, data, self._id, None)

    def close(self) -> list[SseEvent]:
        """End of stream: a final line without newline still counts, then dispatch what is left."""
        out: list[SseEvent] = []
        if self._tail:
            tail = b"".join(self._tail)
            self._tail = []
            self._line(tail, out)
        self._line(b"", out)
        return out

    def _line(self, raw: bytes, out: list[SseEvent]) -> None:
        if not raw:
            self._text_line("", out)
            return
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise StreamProtocolError(f"SSE line is not valid UTF-8: {raw[:80]!r}") from e
        self._text_line(line, out)

    def _text_line(self, line: str, out: list[SseEvent]) -> None:
        if not line:
            if self._data or self._event is not None:
                if self._data:
                    out.append(SseEvent(self._event, "\n".join(self._data), self._id, self._retry))
                self._event, self._data, self._retry = None, [], None
            return
        if line.startswith("data:"):  # the hot path: most lines of a stream are data lines
            value = line[5:]
            self._data.append(value[1:] if value.startswith(" ") else value)
            return
        if line[0] == ":":
            out.append(SseEvent(comment=line[1:].removeprefix(" ")))
            return
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self._id = value
        elif name == "retry":
            if value.isascii() and value.isdigit():
                self._retry = int(value)
        # any other field name is ignored, as the spec says


def encode(ev: SseEvent) -> bytes:
    """One event as wire bytes, terminated by a blank line."""
    return encode_text(ev).encode()


def encode_text(ev: SseEvent) -> str:
    """:func:`encode` before UTF-8: a caller joins many events and encodes once."""
    data = ev.data or ""
    simple = ev.comment is None and ev.id is None and ev.retry is None
    if simple and "\n" not in data and "\r" not in data:
        # The hot path: every translated event is one line of data, maybe with a name.
        if ev.event is None:
            return f"data: {data}\n\n"
        return f"event: {ev.event}\ndata: {data}\n\n"
    if ev.comment is not None:
        return f":{ev.comment}\n\n" if ev.comment == "" else f": {ev.comment}\n\n"
    parts: list[str] = []
    if ev.event is not None:
        parts.append(f"event: {ev.event}\n")
    if ev.id is not None:
        parts.append(f"id: {ev.id}\n")
    if ev.retry is not None:
        parts.append(f"retry: {ev.retry}\n")
    if "\n" in data or "\r" in data:
        for line in data.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
            parts.append(f"data: {line}\n")
    else:
        parts.append(f"data: {data}\n")
    parts.append("\n")
    return "".join(parts)


def encode_all(events: list[SseEvent]) -> bytes:
    return b"".join(encode(e) for e in events)
