"""Reading and editing mitmproxy header fields in one pass, with exactly the semantics of its
``Headers`` mapping (``h[name] = v``, ``del h[name]``, ``name in h``, ``h.get(name)``).

Why this exists: every ``Headers`` access goes through several layers of generic mapping code
that re-encode the name and lower-case every field again (1-3 µs per access). Preparing one
upstream request took a dozen of them, about 30 µs per request on the event loop. Here the
fields (a tuple of ``(bytes, bytes)`` pairs) are lower-cased once and the edits are plain list
operations; the result is assigned back to ``headers.fields`` in one go.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

Fields = tuple[tuple[bytes, bytes], ...]
Kind = Literal["set", "drop", "default"]
# (kind, lower-case name, name as written when appended, value). ``set`` is ``h[name] = value``
# (the first field of that name keeps its place and spelling, later ones go; else appended),
# ``drop`` is ``del h[name]`` (when present), ``default`` is ``if name not in h: h[name] = value``.
Edit = tuple[Kind, bytes, bytes, bytes]


def encode(s: str) -> bytes:
    """A header name or value as mitmproxy stores it."""
    return s.encode("utf-8", "surrogateescape")


def set_(name: str, value: str) -> Edit:
    raw = encode(name)
    return ("set", raw.lower(), raw, encode(value))


def drop(name: str) -> Edit:
    raw = encode(name)
    return ("drop", raw.lower(), raw, b"")


def default(name: str, value: str) -> Edit:
    raw = encode(name)
    return ("default", raw.lower(), raw, encode(value))


def get(fields: Fields, name: bytes) -> str | None:
    """``Headers.get(name)``: repeated fields folded with ", "; ``name`` in lower case."""
    values = [v for k, v in fields if k.lower() == name]
    if not values:
        return None
    return ", ".join(v.decode("utf-8", "surrogateescape") for v in values)


def has(fields: Fields, name: bytes) -> bool:
    return any(k.lower() == name for k, _ in fields)


def apply(fields: Fields, edits: Iterable[Edit]) -> Fields:
    """``fields`` after the ``edits``, in order."""
    rows = [(k.lower(), k, v) for k, v in fields]
    for kind, low, name, value in edits:
        if kind == "drop":
            rows = [r for r in rows if r[0] != low]
        elif kind == "default":
            if not any(r[0] == low for r in rows):
                rows.append((low, name, value))
        else:
            out: list[tuple[bytes, bytes, bytes]] = []
            done = False
            for r in rows:
                if r[0] != low:
                    out.append(r)
                elif not done:
                    out.append((low, r[1], value))
                    done = True
            if not done:
                out.append((low, name, value))
            rows = out
    return tuple((k, v) for _, k, v in rows)
