"""AWS event stream (``application/vnd.amazon.eventstream``): an incremental decoder and an
encoder, both pure.

The binary framing AWS streaming APIs answer with (Kiro / CodeWhisperer, Bedrock, Transcribe).
Every message, all integers big-endian::

    0   total length   u32   the whole message, these 4 bytes and the trailing CRC included
    4   headers length u32   bytes of the headers section only
    8   prelude CRC    u32   CRC-32 (zlib's) of bytes 0..7
    12  headers        H     entries: name length u8, name, value type u8, value
    ..  payload              total - H - 16 bytes
    -4  message CRC    u32   CRC-32 of every byte before it, the prelude CRC included

Both CRCs are checked, every header value type of the spec is decoded, and a frame that is
corrupt in any way is an :class:`EventStreamError` naming the frame's byte offset: never a
guess, never a resynchronisation by scanning for the next plausible frame. The decoder takes
bytes in arbitrary chunks (a frame split anywhere, several frames in one chunk) and keeps only
the unfinished frame. Once broken it stays broken: the stream cannot be trusted past that point.
"""

from __future__ import annotations

import base64
import json
import struct
import uuid
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Final

from recorder.errors import StreamProtocolError

__all__ = [
    "CONTENT_TYPE",
    "EventStreamDecoder",
    "EventStreamError",
    "Header",
    "HeaderType",
    "HeaderValue",
    "Message",
    "decode_all",
    "encode_message",
    "message_to_json",
]

CONTENT_TYPE: Final = "application/vnd.amazon.eventstream"

PRELUDE_LEN: Final = 12  # total length, headers length, prelude CRC
OVERHEAD: Final = PRELUDE_LEN + 4  # ... and the message CRC
# The spec's limits: a message of at most 16 MiB, a headers section of at most 128 KiB.
MAX_MESSAGE: Final = 16 * 1024 * 1024
MAX_HEADERS: Final = 128 * 1024

_PRELUDE = struct.Struct(">III")
_U32 = struct.Struct(">I")


class EventStreamError(StreamProtocolError):
    """A frame broke the event-stream format (bad CRC, impossible length, malformed header),
    or the stream ended inside a frame."""


class HeaderType(IntEnum):
    BOOL_TRUE = 0
    BOOL_FALSE = 1
    BYTE = 2
    SHORT = 3
    INTEGER = 4
    LONG = 5
    BYTE_ARRAY = 6
    STRING = 7
    TIMESTAMP = 8  # int64 milliseconds since the epoch
    UUID = 9


HeaderValue = bool | int | bytes | str | uuid.UUID

# fixed-size value types: (struct, signed range check)
_FIXED: Final[dict[HeaderType, struct.Struct]] = {
    HeaderType.BYTE: struct.Struct(">b"),
    HeaderType.SHORT: struct.Struct(">h"),
    HeaderType.INTEGER: struct.Struct(">i"),
    HeaderType.LONG: struct.Struct(">q"),
    HeaderType.TIMESTAMP: struct.Struct(">q"),
}
_LEN16 = struct.Struct(">H")


@dataclass(frozen=True, slots=True)
class Header:
    """One header value with its wire type (ints of four widths and timestamps look alike)."""

    type: HeaderType
    value: HeaderValue


@dataclass(frozen=True, slots=True)
class Message:
    """One decoded message. ``headers`` keeps the wire order (duplicates included)."""

    headers: tuple[tuple[str, Header], ...]
    payload: bytes

    def header(self, name: str) -> HeaderValue | None:
        for key, h in self.headers:
            if key == name:
                return h.value
        return None

    def string(self, name: str) -> str | None:
        """A string header's value; None when absent or of another type."""
        value = self.header(name)
        return value if isinstance(value, str) else None


# --------------------------------------------------------------------------- decoding


class EventStreamDecoder:
    """``feed(chunk)`` returns the messages the chunk completed; ``close()`` checks that the
    stream did not stop inside a frame. Both raise :class:`EventStreamError`."""

    __slots__ = ("_buf", "_offset", "_broken", "_checked", "max_message")

    def __init__(self, max_message: int = MAX_MESSAGE) -> None:
        self._buf = bytearray()
        self._offset = 0  # stream offset of _buf[0], for error messages
        self._broken: EventStreamError | None = None
        self._checked = 0  # total length of the pending frame once its prelude passed its CRC
        self.max_message = max_message

    @property
    def pending(self) -> int:
        """Bytes of an unfinished frame held back."""
        return len(self._buf)

    def feed(self, chunk: bytes) -> list[Message]:
        if self._broken is not None:
            raise self._broken
        if chunk:
            self._buf += chunk
        out: list[Message] = []
        buf = self._buf
        while len(buf) >= PRELUDE_LEN:
            total = self._checked or self._prelude(buf)
            if len(buf) < total:
                break
            out.append(self._message(bytes(buf[:total]), total))
            del buf[:total]  # bytearray deletes from the front without copying the rest
            self._offset += total
            self._checked = 0
        return out

    def close(self) -> None:
        if self._broken is not None:
            raise self._broken
        if self._buf:
            have = len(self._buf)
            want = f" of {self._checked}" if self._checked else ""
            self._fail(f"stream ended inside a frame ({have}{want} bytes received)")

    def _prelude(self, buf: bytearray) -> int:
        total, hlen, crc = _PRELUDE.unpack_from(buf)
        actual = zlib.crc32(memoryview(buf)[:8])
        if actual != crc:
            self._fail(f"prelude CRC mismatch (computed {actual:#010x}, frame says {crc:#010x})")
        if total < OVERHEAD:
            self._fail(f"total length {total} is below the minimum of {OVERHEAD}")
        if total > self.max_message:
            self._fail(f"total length {total} exceeds the limit of {self.max_message} bytes")
        if hlen > total - OVERHEAD:
            self._fail(f"headers length {hlen} does not fit in a frame of {total} bytes")
        if hlen > MAX_HEADERS:
            self._fail(f"headers length {hlen} exceeds the limit of {MAX_HEADERS} bytes")
        self._checked = total
        return int(total)

    def _message(self, frame: bytes, total: int) -> Message:
        (crc,) = _U32.unpack_from(frame, total - 4)
        actual = zlib.crc32(memoryview(frame)[: total - 4])
        if actual != crc:
            self._fail(f"message CRC mismatch (computed {actual:#010x}, frame says {crc:#010x})")
        (hlen,) = _U32.unpack_from(frame, 4)
        try:
            headers = _headers(frame, PRELUDE_LEN, PRELUDE_LEN + hlen)
        except _HeaderError as e:
            self._fail(f"malformed headers: {e}")
        return Message(headers, frame[PRELUDE_LEN + hlen : total - 4])

    def _fail(self, why: str) -> Any:
        self._broken = EventStreamError(f"event-stream frame at byte {self._offset}: {why}")
        self._buf.clear()
        raise self._broken


class _HeaderError(Exception):
    pass


def _headers(frame: bytes, at: int, end: int) -> tuple[tuple[str, Header], ...]:
    out: list[tuple[str, Header]] = []
    while at < end:
        start = at
        nlen = frame[at]
        at += 1
        if nlen == 0:
            raise _HeaderError(f"header at byte {start} has an empty name")
        if at + nlen + 1 > end:
            raise _HeaderError(f"header at byte {start} runs past the headers section")
        try:
            name = frame[at : at + nlen].decode()
        except UnicodeDecodeError as e:
            raise _HeaderError(f"header name at byte {start} is not UTF-8") from e
        at += nlen
        raw_type = frame[at]
        at += 1
        try:
            htype = HeaderType(raw_type)
        except ValueError:
            raise _HeaderError(f"header {name!r} has unknown value type {raw_type}") from None
        value, at = _value(frame, at, end, htype, name)
        out.append((name, Header(htype, value)))
    return tuple(out)


def _value(frame: bytes, at: int, end: int, htype: HeaderType, name: str) -> tuple[Any, int]:
    def need(n: int) -> None:
        if at + n > end:
            raise _HeaderError(f"header {name!r} value runs past the headers section")

    match htype:
        case HeaderType.BOOL_TRUE:
            return True, at
        case HeaderType.BOOL_FALSE:
            return False, at
        case HeaderType.BYTE | HeaderType.SHORT | HeaderType.INTEGER | HeaderType.LONG:
            fmt = _FIXED[htype]
            need(fmt.size)
            return fmt.unpack_from(frame, at)[0], at + fmt.size
        case HeaderType.TIMESTAMP:
            fmt = _FIXED[htype]
            need(fmt.size)
            return fmt.unpack_from(frame, at)[0], at + fmt.size
        case HeaderType.BYTE_ARRAY | HeaderType.STRING:
            need(2)
            (n,) = _LEN16.unpack_from(frame, at)
            at += 2
            need(n)
            raw = frame[at : at + n]
            if htype is HeaderType.BYTE_ARRAY:
                return raw, at + n
            try:
                return raw.decode(), at + n
            except UnicodeDecodeError as e:
                raise _HeaderError(f"header {name!r} string value is not UTF-8") from e
        case HeaderType.UUID:
            need(16)
            return uuid.UUID(bytes=frame[at : at + 16]), at + 16


def decode_all(data: bytes) -> list[Message]:
    """A whole event-stream body as its messages (EventStreamError if any frame is bad)."""
    dec = EventStreamDecoder()
    out = dec.feed(data)
    dec.close()
    return out


# --------------------------------------------------------------------------- encoding

HeaderLike = Header | str | bool | bytes | uuid.UUID


def encode_message(
    headers: Mapping[str, HeaderLike] | Iterable[tuple[str, HeaderLike]], payload: bytes
) -> bytes:
    """One message. ``str`` values are strings, ``bool`` booleans, ``bytes`` byte arrays,
    ``UUID`` uuids; integers and timestamps need an explicit :class:`Header` (four widths)."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    hbytes = b"".join(_encode_header(name, value) for name, value in items)
    total = OVERHEAD + len(hbytes) + len(payload)
    prelude = struct.pack(">II", total, len(hbytes))
    head = prelude + _U32.pack(zlib.crc32(prelude))
    body = head + hbytes + payload
    return body + _U32.pack(zlib.crc32(body))


def _encode_header(name: str, value: HeaderLike) -> bytes:
    h = value if isinstance(value, Header) else _header_of(value)
    raw_name = name.encode()
    if not 0 < len(raw_name) < 256:
        raise ValueError(f"header name {name!r} must be 1..255 bytes")
    head = bytes([len(raw_name)]) + raw_name + bytes([h.type])
    v = h.value
    match h.type:
        case HeaderType.BOOL_TRUE | HeaderType.BOOL_FALSE:
            if v is not (h.type is HeaderType.BOOL_TRUE):
                raise ValueError(f"header {name!r}: type {h.type.name} with value {v!r}")
            return head
        case (
            HeaderType.BYTE
            | HeaderType.SHORT
            | HeaderType.INTEGER
            | HeaderType.LONG
            | HeaderType.TIMESTAMP
        ):
            if not isinstance(v, int) or isinstance(v, bool):
                raise ValueError(f"header {name!r}: {h.type.name} needs an int, got {v!r}")
            try:
                return head + _FIXED[h.type].pack(v)
            except struct.error as e:
                raise ValueError(f"header {name!r}: {v} does not fit {h.type.name}") from e
        case HeaderType.BYTE_ARRAY | HeaderType.STRING:
            if h.type is HeaderType.STRING and isinstance(v, str):
                raw = v.encode()
            elif h.type is HeaderType.BYTE_ARRAY and isinstance(v, bytes):
                raw = v
            else:
                raise ValueError(f"header {name!r}: {h.type.name} with value {v!r}")
            if len(raw) > 0xFFFF:
                raise ValueError(f"header {name!r}: value of {len(raw)} bytes is over 65535")
            return head + _LEN16.pack(len(raw)) + raw
        case HeaderType.UUID:
            if not isinstance(v, uuid.UUID):
                raise ValueError(f"header {name!r}: UUID needs a uuid.UUID, got {v!r}")
            return head + v.bytes


def _header_of(value: HeaderLike) -> Header:
    match value:
        case bool():
            return Header(HeaderType.BOOL_TRUE if value else HeaderType.BOOL_FALSE, value)
        case str():
            return Header(HeaderType.STRING, value)
        case bytes():
            return Header(HeaderType.BYTE_ARRAY, value)
        case uuid.UUID():
            return Header(HeaderType.UUID, value)
    raise TypeError(f"a header value of type {type(value).__name__} needs an explicit Header")


# --------------------------------------------------------------------------- JSON view


def message_to_json(msg: Message) -> dict[str, Any]:
    """A readable, JSON-safe view of a message (recordings, ``recorder show``): headers by
    name (byte arrays base64, UUIDs as text, timestamps as milliseconds), the payload parsed
    when it is JSON, as text when it is UTF-8, else base64 under ``payload_base64``."""
    headers: dict[str, Any] = {}
    for name, h in msg.headers:
        v = h.value
        if isinstance(v, bytes):
            v = base64.b64encode(v).decode()
        elif isinstance(v, uuid.UUID):
            v = str(v)
        headers[name] = v
    out: dict[str, Any] = {"headers": headers}
    try:
        text = msg.payload.decode()
    except UnicodeDecodeError:
        out["payload_base64"] = base64.b64encode(msg.payload).decode()
        return out
    try:
        out["payload"] = json.loads(text) if text else None
    except ValueError:
        out["payload"] = text
    return out
