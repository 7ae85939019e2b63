"""Where the events of an SSE byte stream end, without changing a byte.

Faults are placed between events, so the injector needs the byte offset at which each event
ends. An event here is a *block*: lines up to and including the blank line that closes them
(LF, CRLF or CR line ends, as :class:`recorder.sse.SseParser` reads them). Blank lines before a
block belong to it; a block of only a keep-alive comment counts as an event. Incremental, since a
live stream arrives in arbitrary chunks: a blank line ended by a ``\\r`` at the very end of the
bytes seen so far is settled only by the next byte (a ``\\n`` may belong to it).
"""

from __future__ import annotations

__all__ = ["BlockSplitter", "split_blocks"]


class BlockSplitter:
    """Feed bytes, get the absolute offsets where blocks end."""

    __slots__ = ("_buf", "_base", "_scan", "_line", "_filled", "_pending_cr", "_held")

    def __init__(self) -> None:
        self._buf = bytearray()  # bytes since the last block end
        self._base = 0  # absolute offset of _buf[0]
        self._scan = 0  # where in _buf the scan goes on
        self._line = 0  # where in _buf the current line starts
        self._filled = False  # the current block has a line that is not blank
        self._pending_cr = False  # _buf ends in a "\r" line end: a "\n" next belongs to it
        self._held = False  # ... and that line was the blank line closing the block

    @property
    def position(self) -> int:
        """Bytes fed so far."""
        return self._base + len(self._buf)

    def feed(self, data: bytes) -> list[int]:
        """Absolute offsets (exclusive) of the blocks that ``data`` completed."""
        out: list[int] = []
        if not data:
            return out
        if self._pending_cr:
            self._pending_cr = False
            if data[0] == 10:  # the "\n" of a "\r\n" split across chunks
                self._buf += data[:1]
                data = data[1:]
                self._scan = self._line = len(self._buf)
            if self._held:
                self._held = False
                self._cut(len(self._buf), out)
            if not data:
                return out
        self._buf += data
        self._lines(out)
        return out

    def _lines(self, out: list[int]) -> None:
        buf = self._buf
        n = len(buf)
        i = self._scan
        while True:
            lf = buf.find(b"\n", i)
            end = buf.find(b"\r", i, lf if lf >= 0 else n)
            if end < 0:
                end = lf
            if end < 0:
                break
            blank = end == self._line
            if buf[end] == 13 and end + 1 == n:  # its "\n" may come with the next chunk
                self._pending_cr = True
                self._line = self._scan = n
                if blank and self._filled:
                    self._held = True
                elif not blank:
                    self._filled = True
                return
            nxt = end + 2 if buf[end] == 13 and buf[end + 1] == 10 else end + 1
            self._line = i = nxt
            if not blank:
                self._filled = True
            elif self._filled:
                self._cut(nxt, out)
                buf, n, i = self._buf, len(self._buf), 0
        self._scan = i

    def finish(self) -> list[int]:
        """End of the stream: a held blank line, or a last block without its blank line."""
        out: list[int] = []
        self._pending_cr = False
        if self._held:
            self._held = False
            self._cut(len(self._buf), out)
        if self._buf and (self._filled or self._line < len(self._buf)):
            self._cut(len(self._buf), out)
        return out

    def _cut(self, at: int, out: list[int]) -> None:
        out.append(self._base + at)
        self._base += at
        del self._buf[:at]
        self._scan = self._line = 0
        self._filled = False


def split_blocks(data: bytes) -> list[int]:
    """End offsets of every block of a whole stream (the last one is ``len(data)`` unless the
    stream ends in blank lines that close nothing)."""
    s = BlockSplitter()
    return s.feed(data) + s.finish()
