"""Reading JSON that anyone may have sent, for code that records or inspects it (never the
translation of a request, which refuses bad input with an error instead).

Recorded bodies and events come from clients and upstreams: they may nest deeper than Python's
recursion limit (``json.loads`` then raises ``RecursionError``, which is not a ``ValueError``)
or hold lone UTF-16 surrogates (``"\\udfff"`` is valid JSON, yet no UTF-8 encoder, DuckDB or a
cassette file, accepts the string it decodes to). Whatever the recorder accepted it must be able
to store, so every reader of such data goes through here. Pure.
"""

from __future__ import annotations

import json
import re
from typing import Any

# A lone surrogate escape in JSON text: a high one not followed by a low one, or a low one not
# preceded by a high one. (A valid pair, as ensure_ascii writes an emoji, is fine everywhere.)
_LONE_SURROGATE_ESCAPE = re.compile(
    r"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})"
    r"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}"
)
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
UNREADABLE = (ValueError, RecursionError)  # UnicodeDecodeError is a ValueError


def loads(raw: bytes | str | None) -> Any:
    """The JSON value of ``raw``, or None when it is empty, not JSON, or nested too deeply."""
    if not raw:
        return None
    try:
        return json.loads(raw)
    except UNREADABLE:
        return None


def has_lone_surrogate_escape(text: str) -> bool:
    return "\\u" in text and _LONE_SURROGATE_ESCAPE.search(text) is not None


def clean(s: str) -> str:
    """``s`` as a str any UTF-8 encoder takes: each lone surrogate (a JSON ``\\udfff``, or a
    header byte mitmproxy kept with ``surrogateescape``) becomes U+FFFD."""
    if s.isascii():
        return s
    try:
        s.encode("utf-8")
        return s
    except UnicodeEncodeError:
        return _LONE_SURROGATE.sub("\ufffd", s)


def dumps(value: Any) -> str:
    """JSON text of a free-form value (notes, extra): non-ASCII kept, surrogates replaced,
    anything json cannot write as its ``str()``."""
    return clean(json.dumps(value, ensure_ascii=False, default=str))


# Every byte but brackets and quotes goes; braces become brackets (depth is all that is asked).
_DROP = bytes(b for b in range(256) if b not in b'[]{}"')
_SQUARE = bytes.maketrans(b"{}", b"[]")


def nests_deeper(raw: bytes, limit: int) -> bool:
    """The JSON text ``raw`` (valid: parsed already) nests more than ``limit`` arrays/objects
    deep. Bytes operations only (no Python loop per value): it costs about what parsing does.

    Escaped quotes go first, so the quotes left alternate in and out of strings; the brackets
    outside strings stay, as one kind; each ``replace`` of ``[]`` then removes exactly one
    level (it does not rescan what it joined)."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    if b'\\"' in raw:
        raw = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    outside = b"".join(raw.translate(None, _DROP).split(b'"')[::2]).translate(_SQUARE)
    for _ in range(limit):
        if not outside:
            return False
        outside = outside.replace(b"[]", b"")
    return bool(outside)


def deeper_than(value: Any, limit: int) -> bool:
    """``value`` nests more than ``limit`` arrays/objects deep (iterative: any depth is safe)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, dict):
            children: Any = v.values()
        elif isinstance(v, list):
            children = v
        else:
            continue
        if d > limit:
            return True
        stack.extend((c, d + 1) for c in children if isinstance(c, dict | list))
    return False
