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
        self._tail = b""
        self._event: str | None = None
        self._data: list[str] = []
        self._id: str | None = None
        self._retry: int | None = None
        self._pending_cr = False  # last chunk ended in "\r": a following "\n" belongs to it

    def feed(self, chunk: bytes) -> list[SseEvent]:
        if not chunk:
            return []
        if self._pending_cr and chunk.startswith(b"\n"):
            chunk = chunk[1:]
        self._pending_cr = chunk.endswith(b"\r")
        buf = self._tail + chunk
        if b"\r" in buf:
            buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = buf.split(b"\n")
        self._tail = lines.pop()
        out: list[SseEvent] = []
        for raw in lines:
            self._line(raw, out)
        return out

    def close(self) -> list[SseEvent]:
        """End of stream: a final line without newline still counts, then dispatch what is left."""
        out: list[SseEvent] = []
        if self._tail:
            self._line(self._tail, out)
            self._tail = b""
        self._line(b"", out)
        return out

    def _line(self, raw: bytes, out: list[SseEvent]) -> None:
        if not raw:
            if self._data or self._event is not None:
                if self._data:
                    out.append(SseEvent(self._event, "\n".join(self._data), self._id, self._retry))
                self._event, self._data, self._retry = None, [], None
            return
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise StreamProtocolError(f"SSE line is not valid UTF-8: {raw[:80]!r}") from e
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
            if value.isdigit():
                self._retry = int(value)
        # any other field name is ignored, as the spec says


def encode(ev: SseEvent) -> bytes:
    """One event as wire bytes, terminated by a blank line."""
    if ev.comment is not None:
        return f":{ev.comment}\n\n".encode() if ev.comment == "" else f": {ev.comment}\n\n".encode()
    parts: list[str] = []
    if ev.event is not None:
        parts.append(f"event: {ev.event}\n")
    if ev.id is not None:
        parts.append(f"id: {ev.id}\n")
    if ev.retry is not None:
        parts.append(f"retry: {ev.retry}\n")
    data = ev.data or ""
    if "\n" in data or "\r" in data:
        for line in data.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
            parts.append(f"data: {line}\n")
    else:
        parts.append(f"data: {data}\n")
    parts.append("\n")
    return "".join(parts).encode()


def encode_all(events: list[SseEvent]) -> bytes:
    return b"".join(encode(e) for e in events)
