"""The fault vocabulary: one grammar, parsed and validated here, used by every place that breaks
a recorded or live stream on purpose (``recorder replay --fault``, ``gateway_fault``, the pytest
plugin's ``faults=[...]``).

Grammar (several faults joined with ``,``)::

    truncate@K              the stream ends after event K (no terminal event; connection closed)
    error@K[:KIND]          the dialect's mid-stream error event after event K (KIND: an IR error
                            kind such as overloaded, api_error, rate_limit; default api_error)
    status:CODE[:retry-after=S]   the request answered with CODE, a dialect error body and
                            optionally a retry-after header of S seconds
    stall@K:MS              a pause of MS milliseconds after event K
    rechunk:MODE            the same bytes in adversarial chunks: bytes | split | coalesce
    drop-done               the stream's end marker is left out (OpenAI ``data: [DONE]``; what
                            ends a stream is the dialect codec's ``is_terminal``)
    garbage@K               an undecodable line (invalid UTF-8, not JSON) after event K
    reset@K                 the TCP connection reset after event K

``K`` counts events: ``@3`` is after the third event (``@0`` before the first); ``@-1`` is before
the last event, ``@-2`` before the last two; ``@50%`` after half of them (rounded down). An event
is one SSE block up to its blank line (a keep-alive comment counts as one).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, get_args

from recorder import ir

__all__ = [
    "ERROR_KINDS",
    "RECHUNK_MODES",
    "Fault",
    "FaultSpec",
    "FaultSpecError",
    "Garbage",
    "MidStreamError",
    "Pos",
    "Rechunk",
    "Reset",
    "Stall",
    "Status",
    "DropDone",
    "Truncate",
    "parse",
    "parse_targeted",
]

ERROR_KINDS: tuple[ir.ErrorKind, ...] = get_args(ir.ErrorKind)
RechunkMode = Literal["bytes", "split", "coalesce"]
RECHUNK_MODES: tuple[RechunkMode, ...] = get_args(RechunkMode)
MAX_STALL_MS = 3_600_000  # an hour: anything longer is a typo, and a hung test


class FaultSpecError(ValueError):
    """A fault spec that does not parse or does not make sense; the message names the piece."""


@dataclass(frozen=True, slots=True)
class Pos:
    """Where in a stream: after ``value`` events, counted from the end when negative, or a
    percentage of the events when ``percent``."""

    value: int
    percent: bool = False

    @property
    def relative(self) -> bool:
        """Needs the number of events to resolve (the whole stream, for a live one)."""
        return self.percent or self.value < 0

    def resolve(self, total: int) -> int | None:
        """The number of events delivered before the fault, or None if the stream has no such
        place (fewer events than ``@K`` asks for)."""
        if self.percent:
            return total * self.value // 100
        at = total + self.value if self.value < 0 else self.value
        return at if 0 <= at <= total else None

    def __str__(self) -> str:
        return f"{self.value}%" if self.percent else str(self.value)


@dataclass(frozen=True, slots=True)
class Truncate:
    at: Pos

    def __str__(self) -> str:
        return f"truncate@{self.at}"


@dataclass(frozen=True, slots=True)
class MidStreamError:
    at: Pos
    kind: ir.ErrorKind = "api_error"

    def __str__(self) -> str:
        return f"error@{self.at}:{self.kind}"


@dataclass(frozen=True, slots=True)
class Status:
    code: int
    retry_after: str | None = None  # seconds, as written

    def __str__(self) -> str:
        tail = f":retry-after={self.retry_after}" if self.retry_after is not None else ""
        return f"status:{self.code}{tail}"


@dataclass(frozen=True, slots=True)
class Stall:
    at: Pos
    ms: int

    def __str__(self) -> str:
        return f"stall@{self.at}:{self.ms}"


@dataclass(frozen=True, slots=True)
class Rechunk:
    mode: RechunkMode

    def __str__(self) -> str:
        return f"rechunk:{self.mode}"


@dataclass(frozen=True, slots=True)
class DropDone:
    def __str__(self) -> str:
        return "drop-done"


@dataclass(frozen=True, slots=True)
class Garbage:
    at: Pos

    def __str__(self) -> str:
        return f"garbage@{self.at}"


@dataclass(frozen=True, slots=True)
class Reset:
    at: Pos

    def __str__(self) -> str:
        return f"reset@{self.at}"


Fault = Truncate | MidStreamError | Status | Stall | Rechunk | DropDone | Garbage | Reset
# Faults after which nothing more of the response is sent.
Ending = Truncate | MidStreamError | Reset
Positioned = Truncate | MidStreamError | Stall | Garbage | Reset


@dataclass(frozen=True, slots=True)
class FaultSpec:
    """A validated, ordered set of faults; ``str()`` gives the canonical spelling."""

    faults: tuple[Fault, ...]

    def __str__(self) -> str:
        return ",".join(str(f) for f in self.faults)

    @property
    def status(self) -> Status | None:
        return next((f for f in self.faults if isinstance(f, Status)), None)

    @property
    def stream_faults(self) -> tuple[Fault, ...]:
        return tuple(f for f in self.faults if not isinstance(f, Status))

    @property
    def rechunk(self) -> Rechunk | None:
        return next((f for f in self.faults if isinstance(f, Rechunk)), None)

    @property
    def positioned(self) -> tuple[Positioned, ...]:
        return tuple(f for f in self.faults if isinstance(f, Positioned))

    @property
    def drop_done(self) -> bool:
        return any(isinstance(f, DropDone) for f in self.faults)

    @property
    def needs_total(self) -> bool:
        """The stream's length must be known before anything is sent: a position counted from
        the end, a percentage, or drop-done (which must see that nothing follows the marker)."""
        return self.drop_done or any(f.at.relative for f in self.positioned)

    def applies_without_events(self) -> bool:
        """Every fault here also means something for a response that is not a stream: the
        status, or a stall / reset before the (single) body."""
        return all(
            isinstance(f, Status) or (isinstance(f, Stall | Reset) and f.at == Pos(0))
            for f in self.faults
        )


# --------------------------------------------------------------------------- parsing

_POS = r"(?P<pos>-?\d+%?)"
_PATTERNS: dict[str, re.Pattern[str]] = {
    "truncate": re.compile(rf"truncate@{_POS}"),
    "error": re.compile(rf"error@{_POS}(?::(?P<kind>[A-Za-z_-]+))?"),
    "status": re.compile(r"status:(?P<code>\d{3})(?::retry-after=(?P<ra>\d+(?:\.\d+)?))?"),
    "stall": re.compile(rf"stall@{_POS}:(?P<ms>\d+)"),
    "rechunk": re.compile(r"rechunk:(?P<mode>[a-z]+)"),
    "drop-done": re.compile(r"drop-done"),
    "garbage": re.compile(rf"garbage@{_POS}"),
    "reset": re.compile(rf"reset@{_POS}"),
}
_SHAPES = {
    "truncate": "truncate@K",
    "error": "error@K[:KIND]",
    "status": "status:CODE[:retry-after=S]",
    "stall": "stall@K:MS",
    "rechunk": "rechunk:bytes|split|coalesce",
    "drop-done": "drop-done",
    "garbage": "garbage@K",
    "reset": "reset@K",
}
_NAME = re.compile(r"[a-z-]+")
GRAMMAR = ", ".join(_SHAPES.values())


def parse(text: str) -> FaultSpec:
    """``"stall@2:500,error@4:overloaded"`` -> a FaultSpec; FaultSpecError naming the bad piece."""
    pieces = [p.strip() for p in text.split(",")]
    if not text.strip() or any(not p for p in pieces):
        raise FaultSpecError(f"empty fault in {text!r}; a fault spec is one or more of: {GRAMMAR}")
    spec = FaultSpec(tuple(_parse_one(p) for p in pieces))
    _validate(spec, text)
    return spec


def parse_targeted(text: str) -> tuple[int | None, FaultSpec]:
    """``"3=truncate@2"`` -> (3, spec): a fault for interaction 3 only; plain ``SPEC`` -> (None,
    spec), a fault for every interaction."""
    head, sep, rest = text.partition("=")
    if sep and head.strip().isdigit():
        return int(head.strip()), parse(rest)
    return None, parse(text)


def _parse_one(piece: str) -> Fault:
    m = _NAME.match(piece)
    name = m.group(0).rstrip("-") if m else ""
    pattern = _PATTERNS.get(name)
    if pattern is None:
        raise FaultSpecError(f"unknown fault {piece!r}; known faults: {GRAMMAR}")
    full = pattern.fullmatch(piece)
    if full is None:
        raise FaultSpecError(f"malformed fault {piece!r}: expected {_SHAPES[name]}")
    g = full.groupdict()
    match name:
        case "truncate":
            return Truncate(_pos(g["pos"], piece))
        case "error":
            return MidStreamError(_pos(g["pos"], piece), _kind(g["kind"], piece))
        case "status":
            code = int(g["code"])
            if not 400 <= code <= 599:
                raise FaultSpecError(f"{piece!r}: the status must be an error, 400 to 599")
            return Status(code, g["ra"])
        case "stall":
            ms = int(g["ms"])
            if ms > MAX_STALL_MS:
                raise FaultSpecError(f"{piece!r}: a stall of at most {MAX_STALL_MS} ms")
            return Stall(_pos(g["pos"], piece), ms)
        case "rechunk":
            mode = g["mode"]
            for known in RECHUNK_MODES:
                if mode == known:
                    return Rechunk(known)
            modes = ", ".join(RECHUNK_MODES)
            raise FaultSpecError(f"{piece!r}: rechunk mode must be one of {modes}")
        case "drop-done":
            return DropDone()
        case "garbage":
            return Garbage(_pos(g["pos"], piece))
        case "reset":
            return Reset(_pos(g["pos"], piece))
    raise AssertionError(name)  # pragma: no cover - _PATTERNS and this match list the same names


def _pos(text: str, piece: str) -> Pos:
    if text.endswith("%"):
        value = int(text[:-1])
        if not 0 <= value <= 100:
            raise FaultSpecError(f"{piece!r}: a percentage must be 0% to 100%")
        return Pos(value, percent=True)
    if text in ("-0", "+0"):
        raise FaultSpecError(f"{piece!r}: write @0 (before the first event) or @-1")
    return Pos(int(text))


def _kind(text: str | None, piece: str) -> ir.ErrorKind:
    if text is None:
        return "api_error"
    wanted = text.lower().replace("-", "_")
    for kind in ERROR_KINDS:
        if wanted in (kind, f"{kind}_error"):  # overloaded_error reads as overloaded
            return kind
    raise FaultSpecError(f"{piece!r}: unknown error kind {text!r}; kinds: {', '.join(ERROR_KINDS)}")


def _validate(spec: FaultSpec, text: str) -> None:
    kinds = [type(f) for f in spec.faults]
    if Status in kinds and len(kinds) > 1:
        raise FaultSpecError(
            f"{text!r}: status:CODE answers the request without a stream; it cannot be joined "
            "with other faults"
        )
    endings = [str(f) for f in spec.faults if isinstance(f, Ending)]
    if len(endings) > 1:
        raise FaultSpecError(
            f"{text!r}: at most one of truncate, error and reset ends a stream, not "
            f"{' and '.join(endings)}"
        )
    for once, name in ((Rechunk, "rechunk"), (DropDone, "drop-done")):
        if kinds.count(once) > 1:
            raise FaultSpecError(f"{text!r}: {name} given twice")
