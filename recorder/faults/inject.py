"""Applying a fault spec to a stream's bytes: sans-I/O, the same code for a recording and a live
upstream.

The input is the stream as chunks with the delay before each (a recording's timing, or 0 for a
live chunk); the output is chunks with delays plus how the response ends:

* ``complete`` — as the source ended (the faults, if any, left the end alone),
* ``closed`` — the body ends here and the connection is closed (truncate, error),
* ``reset`` — the connection is reset here, the body never completes (reset).

Unfaulted stretches keep their recorded chunking; a fault cuts a chunk at the event boundary it
applies to. Everything before a fault is the source's own bytes, so a faulted stream is valid SSE
up to the fault. ``rechunk`` then re-cuts the result (it changes the chunking, never the bytes).

:class:`StreamFaults` is incremental. A fault counted from the end (``@-1``, ``@50%``) or
``drop-done`` needs the whole stream first; :func:`live` then buffers it and applies the faults
when the source ends (a recording knows its length: :func:`apply` never waits).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Literal, assert_never

from recorder import ir
from recorder.codecs.http_status import kind_of_status
from recorder.dialects import codec
from recorder.faults.anatomy import describe, end_markers, error_event
from recorder.faults.spec import (
    DropDone,
    FaultSpec,
    Garbage,
    MidStreamError,
    Positioned,
    RechunkMode,
    Reset,
    Stall,
    Status,
    Truncate,
)
from recorder.faults.units import BlockSplitter, split_blocks

__all__ = [
    "GARBAGE",
    "Chunks",
    "Ending",
    "FaultedStream",
    "StreamFaults",
    "apply",
    "error_message",
    "live",
    "status_reply",
]

Ending = Literal["complete", "closed", "reset"]
Chunks = list[tuple[float, bytes]]  # (seconds to wait before, bytes)

# An event whose data is neither UTF-8 nor JSON: what a broken proxy or a corrupted buffer sends.
GARBAGE: Final = b"data: \xc3(\xff\xfe tapegate garbage {\n\n"

_MESSAGES: Final[dict[ir.ErrorKind, str]] = {
    "invalid_request": "Invalid request",
    "authentication": "Invalid authentication",
    "permission": "Permission denied",
    "not_found": "Not found",
    "request_too_large": "Request too large",
    "rate_limit": "Rate limit exceeded",
    "billing": "Insufficient credit",
    "timeout": "Request timed out",
    "api_error": "Internal server error",
    "overloaded": "Overloaded",
    "bad_gateway": "Bad gateway",
    "unavailable": "Service unavailable",
}


def error_message(kind: ir.ErrorKind, fault: object) -> str:
    """What an injected error says: the usual words, and that tapegate injected it."""
    return f"{_MESSAGES[kind]} (fault injected by tapegate: {fault})"


@dataclass(slots=True)
class FaultedStream:
    chunks: Chunks
    ending: Ending
    applied: list[str] = field(default_factory=list)  # the faults that took effect, as written


def status_reply(fault: Status, dialect: ir.Dialect) -> tuple[int, list[tuple[str, str]], bytes]:
    """``status:CODE`` as a whole response: the code, the dialect's error body for it and, if
    asked, ``retry-after``."""
    import json

    kind = kind_of_status(fault.code)
    err = ir.ErrorInfo(kind, error_message(kind, fault), status=fault.code)
    _, body = codec(dialect).error_from_ir(err)
    headers = [("content-type", "application/json")]
    if fault.retry_after is not None:
        headers.append(("retry-after", fault.retry_after))
    return fault.code, headers, json.dumps(body, separators=(",", ":")).encode()


# --------------------------------------------------------------------------- the injector


class StreamFaults:
    """Feed the source's chunks, get the faulted chunks; ``ending`` says how it ended (None
    while it goes on). ``total`` (the number of events) must be given when the spec counts from
    the end; ``drop`` are the numbers of the events to leave out (drop-done)."""

    def __init__(
        self,
        spec: FaultSpec,
        dialect: ir.Dialect,
        total: int | None = None,
        drop: frozenset[int] = frozenset(),
    ) -> None:
        if spec.status is not None:
            raise ValueError(f"{spec}: a status fault is a whole response, not a stream fault")
        self.spec = spec
        self.ending: Ending | None = None
        self.applied: list[str] = []
        self._at: dict[int, list[Positioned]] = {}
        for f in spec.positioned:
            if f.at.relative and total is None:
                raise ValueError(f"{f}: counted from the end, it needs the stream's length")
            at = f.at.resolve(total) if total is not None else f.at.value
            if at is not None:
                self._at.setdefault(at, []).append(f)
        self._drop = drop
        if drop:
            self.applied.append(str(DropDone()))
        self._splitter = BlockSplitter()
        self._count = 0  # events completed
        self._pos = 0  # source bytes seen
        self._started = False
        self._wait = 0.0  # delay owed to the next piece (dropped bytes, stalls)
        self._dialect = dialect
        mode = spec.rechunk.mode if spec.rechunk is not None else None
        self._rechunk = _Rechunker(mode) if mode is not None else None
        if spec.rechunk is not None:
            self.applied.append(str(spec.rechunk))

    @property
    def events(self) -> int:
        """Source events passed on so far."""
        return self._count

    def feed(self, data: bytes, delay: float = 0.0) -> Chunks:
        out: Chunks = []
        self._wait += delay
        if not self._started:
            self._started = True
            self._edits(out)
        if self.ending is not None or not data:
            return self._out(out)
        start = self._pos
        self._pos += len(data)
        prev = start
        for end in self._splitter.feed(data):
            self._piece(data[prev - start : end - start], out)
            self._count += 1
            self._edits(out)
            if self.ending is not None:
                return self._out(out)
            prev = end
        self._piece(data[prev - start :], out)
        return self._out(out)

    def finish(self) -> Chunks:
        """The source ended: what is left to send. ``ending`` is set afterwards."""
        out: Chunks = []
        if not self._started:
            self._started = True
            self._edits(out)
        if self.ending is None:
            for _ in self._splitter.finish():
                self._count += 1
                self._edits(out)
                if self.ending is not None:
                    break
        if self._wait > 0:  # a stall right before the end still holds the end back
            out.append((self._wait, b""))
            self._wait = 0.0
        if self.ending is None:
            self.ending = "complete"
        return self._out(out, final=True)

    # ------------------------------------------------------------------ internals

    def _piece(self, data: bytes, out: Chunks) -> None:
        if not data:
            return
        if self._count + 1 in self._drop:
            return  # the delay stays owed to what follows
        out.append((self._wait, data))
        self._wait = 0.0

    def _edits(self, out: Chunks) -> None:
        for f in self._at.pop(self._count, ()):
            self.applied.append(str(f))
            match f:
                case Stall(ms=ms):
                    self._wait += ms / 1000
                case Garbage():
                    out.append((self._wait, GARBAGE))
                    self._wait = 0.0
                case MidStreamError(kind=kind):
                    err = ir.ErrorInfo(kind, error_message(kind, f))
                    out.append((self._wait, error_event(self._dialect, err)))
                    self._wait = 0.0
                    self.ending = "closed"
                case Truncate():
                    self.ending = "closed"
                case Reset():
                    self.ending = "reset"
                case _:
                    assert_never(f)
            if self.ending is not None:
                if self._wait > 0:
                    out.append((self._wait, b""))
                    self._wait = 0.0
                return

    def _out(self, out: Chunks, final: bool = False) -> Chunks:
        if self._rechunk is None:
            return out
        return self._rechunk.push(out, final or self.ending is not None)


# --------------------------------------------------------------------------- rechunking


class _Rechunker:
    """The same bytes, cut adversarially. Delays of merged pieces add up; ``bytes`` gives a
    piece's delay to its first byte."""

    def __init__(self, mode: RechunkMode) -> None:
        self.mode = mode
        self._held = bytearray()  # bytes not yet sent (split, coalesce)
        self._base = 0  # offset of _held[0] in the output stream
        self._wait = 0.0  # delay owed to the next chunk sent
        self._splitter = BlockSplitter()  # split: the events of the output stream
        self._block = 0  # split: where the next event starts

    def push(self, pieces: Chunks, final: bool) -> Chunks:
        out: Chunks = []
        match self.mode:
            case "bytes":
                for delay, data in pieces:
                    out.append((delay, data[:1]))
                    out += [(0.0, data[i : i + 1]) for i in range(1, len(data))]
            case "coalesce":
                for delay, data in pieces:
                    self._wait += delay
                    self._held += data
                if final:
                    out = self._flush()
            case "split":
                for delay, data in pieces:
                    self._wait += delay
                    self._held += data
                    for end in self._splitter.feed(data):
                        out += self._cut(end)
                if final:
                    for end in self._splitter.finish():
                        out += self._cut(end)
                    out += self._flush()
            case _:
                assert_never(self.mode)
        return out

    def _flush(self) -> Chunks:
        if not self._held and self._wait == 0:
            return []
        out = [(self._wait, bytes(self._held))]
        self._base += len(self._held)
        self._held.clear()
        self._wait = 0.0
        return out

    def _cut(self, end: int) -> Chunks:
        """Send up to the last cut inside the event that ends at ``end``; the rest of it goes
        out with the head of the next event."""
        start, self._block = self._block, end
        out: Chunks = []
        for c in _cut_points(bytes(self._held[start - self._base : end - self._base])):
            at = start + c - self._base
            out.append((self._wait, bytes(self._held[:at])))
            self._wait = 0.0
            del self._held[:at]
            self._base += at
        return out


def _cut_points(block: bytes) -> list[int]:
    """Offsets inside one event to cut at: the middle of its first line, inside its first
    multi-byte UTF-8 character, and between the last line and the blank line after it."""
    cuts: set[int] = set()
    first_end = min((i for i in (block.find(b"\n"), block.find(b"\r")) if i >= 0), default=-1)
    line_len = first_end if first_end >= 0 else len(block)
    if line_len >= 2:
        cuts.add(line_len // 2)
    lead = next((i for i, b in enumerate(block) if b >= 0xC0), None)
    if lead is not None and lead + 1 < len(block):
        cuts.add(lead + 1)
    stripped = block.rstrip(b"\r\n")
    if 0 < len(stripped) < len(block):
        cuts.add(len(stripped) + 1)  # inside the line ends: "\n|\n", "\r|\n\r\n"
    return sorted(c for c in cuts if 0 < c < len(block))


# --------------------------------------------------------------------------- entry points


def apply(chunks: Chunks, spec: FaultSpec, dialect: ir.Dialect) -> FaultedStream:
    """A whole recorded stream with ``spec`` applied (a recording knows its length)."""
    data = b"".join(c for _, c in chunks)
    drop: frozenset[int] = frozenset()
    if spec.drop_done:
        drop = frozenset(end_markers(describe(data, dialect)))
    total = len(split_blocks(data))
    injector = StreamFaults(spec, dialect, total=total, drop=drop)
    out: Chunks = []
    for delay, chunk in chunks:
        out += injector.feed(chunk, delay)
        if injector.ending is not None:
            break
    out += injector.finish()
    assert injector.ending is not None
    return FaultedStream(out, injector.ending, injector.applied)


class _Buffered:
    """A live stream whose faults need its length: held whole, faulted when it ends."""

    def __init__(self, spec: FaultSpec, dialect: ir.Dialect) -> None:
        self.spec, self.dialect = spec, dialect
        self.ending: Ending | None = None
        self.applied: list[str] = []
        self._chunks: Chunks = []

    def feed(self, data: bytes, delay: float = 0.0) -> Chunks:
        self._chunks.append((delay, data))
        return []

    def finish(self) -> Chunks:
        result = apply(self._chunks, self.spec, self.dialect)
        self.ending, self.applied = result.ending, result.applied
        return result.chunks


def live(spec: FaultSpec, dialect: ir.Dialect) -> StreamFaults | _Buffered:
    """An injector for a stream whose length is not known in advance."""
    return _Buffered(spec, dialect) if spec.needs_total else StreamFaults(spec, dialect)
