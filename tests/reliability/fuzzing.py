"""The fuzzing harness: how many cases, which seed, a watchdog per case, a tally per target, and
strategies that start from real traffic (the fixtures and the shipped cassettes) and break it.

Random JSON almost never gets past a codec's first ``isinstance``; a recorded request with one
field swapped for the wrong type, a key dropped, an unknown block type or a thousand levels of
nesting reaches every branch. So most cases are mutations of real bodies and streams.

Scale: ``TAPEGATE_LONG=1`` runs ``LONG_CASES`` (10,000) per target, CI runs ``CI_CASES``.
``TAPEGATE_FUZZ_SEED=N`` replays a run; the seed of every run is printed in the summary and in
every failure.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, get_args

from hypothesis import HealthCheck, seed, settings
from hypothesis import strategies as st

from recorder import dialects, ir
from recorder.sse import SseEvent, SseParser, encode_text

ROOT = Path(__file__).resolve().parents[2]
LONG = os.environ.get("TAPEGATE_LONG") == "1"
LONG_CASES, CI_CASES = 10_000, 60
CASES = int(os.environ.get("TAPEGATE_FUZZ_CASES") or (LONG_CASES if LONG else CI_CASES))
SEED = int(os.environ.get("TAPEGATE_FUZZ_SEED") or random.SystemRandom().randrange(1 << 32))
CASE_TIMEOUT = 10.0  # seconds: a case that takes longer is a hang
SEEDS_PER_SOURCE = 25


# Every codec, served by the gateway or not, grouped by what it can do (asked of the registry).
CODECS: tuple[ir.Dialect, ...] = get_args(ir.Dialect)
CLIENTS = tuple(e.name for e in dialects.ENTRIES if e.encodes)  # can answer a client
BYTE_STREAMS = tuple(e.name for e in dialects.ENTRIES if e.framing is not dialects.SSE)
SSE_UPSTREAMS = tuple(d for d in CODECS if d not in BYTE_STREAMS)

F = TypeVar("F", bound=Callable[..., Any])


def fuzz(fn: F) -> F:
    """Hypothesis with this run's seed and case count; no per-case deadline (the machine is
    shared and slow), the watchdog catches hangs instead."""
    wrapped = settings(
        max_examples=CASES,
        deadline=None,
        print_blob=True,
        database=None,  # the seed, not a local example database, reproduces a run
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )(seed(SEED)(fn))
    return wrapped


@dataclass
class Tally:
    cases: Counter[str] = field(default_factory=Counter)
    expected_errors: Counter[str] = field(default_factory=Counter)  # documented error types
    slowest: dict[str, float] = field(default_factory=dict)


TALLY = Tally()


class Hang(Exception):
    """A case ran past CASE_TIMEOUT."""


@contextlib.contextmanager
def case(target: str) -> Iterator[None]:
    """One fuzz case of ``target``: counted, timed, and interrupted if it hangs."""

    def alarm(signum: int, frame: object) -> None:
        raise Hang(f"{target}: one case ran over {CASE_TIMEOUT} s (seed {SEED})")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, CASE_TIMEOUT)
    t0 = time.perf_counter()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        took = time.perf_counter() - t0
        TALLY.cases[target] += 1
        TALLY.slowest[target] = max(TALLY.slowest.get(target, 0.0), took)


def expected(target: str) -> None:
    TALLY.expected_errors[target] += 1


# --------------------------------------------------------------------------- seeds: real traffic


def _json_files(sub: str) -> list[Any]:
    return [json.loads(p.read_text()) for p in sorted((ROOT / "tests/fixtures").glob(sub))]


def _cassette_docs() -> Iterator[dict[str, Any]]:
    for f in sorted((ROOT / "cassettes").glob("*/cassette.json")):
        yield json.loads(f.read_text())


def _seeds() -> tuple[dict[str, list[Any]], dict[str, list[Any]], dict[str, list[bytes]]]:
    requests: dict[str, list[Any]] = {d: [] for d in CODECS}
    responses: dict[str, list[Any]] = {d: [] for d in CODECS}
    streams: dict[str, list[bytes]] = {d: [] for d in CODECS}
    for d in CODECS:
        requests[d] += _json_files(f"{d}/requests/*.json") + _json_files(f"{d}/*.json")
        responses[d] += _json_files(f"{d}/responses/*.json")
        for p in sorted((ROOT / "tests/fixtures").glob(f"{d}/streams*/*.sse")):
            streams[d].append(p.read_bytes())
    for doc in _cassette_docs():
        for it in doc["interactions"]:
            for leg in ("client", "upstream"):
                dialect, rec = it[f"{leg}_dialect"], it.get(leg)
                if rec is None or dialect not in requests:
                    continue
                if isinstance(rec["request"].get("body"), dict):
                    requests[dialect].append(rec["request"]["body"])
                resp = rec.get("response") or {}
                if isinstance(resp.get("body"), dict):
                    responses[dialect].append(resp["body"])
                if resp.get("stream"):
                    path = ROOT / "cassettes" / doc["name"] / resp["stream"]["file"]
                    if path.is_file():
                        streams[dialect].append(path.read_bytes())
    _translated_seeds(requests, responses, streams)
    return requests, responses, streams


def _translated_seeds(
    requests: dict[str, list[Any]], responses: dict[str, list[Any]], streams: dict[str, list[bytes]]
) -> None:
    """Every codec gets seeds in its own dialect: the other dialects' real traffic translated
    through the IR (a new dialect with few recordings is fuzzed as well as the old ones)."""
    from recorder.context import Context
    from recorder.dialects import codec
    from recorder.errors import TranslationError

    native = {d: (list(requests[d]), list(responses[d]), list(streams[d])) for d in CODECS}
    for src, (reqs, resps, strs) in native.items():
        for dst in CODECS:
            if dst == src:
                continue
            ctx = Context(src, dst)
            for body in reqs[:SEEDS_PER_SOURCE]:
                with contextlib.suppress(TranslationError):
                    ir_req = codec(src).request_to_ir(body)
                    requests[dst].append(codec(dst).request_from_ir(ir_req, ctx))
            if dst not in CLIENTS or src in BYTE_STREAMS:
                continue  # no JSON response or SSE stream to write in dst, or to read from src
            for body in resps[:SEEDS_PER_SOURCE]:
                with contextlib.suppress(TranslationError):
                    ir_resp = codec(src).response_to_ir(body, ctx)
                    responses[dst].append(codec(dst).response_from_ir(ir_resp, ctx))
            for data in strs[:SEEDS_PER_SOURCE]:
                with contextlib.suppress(TranslationError):
                    dec = codec(src).stream_decoder(ctx)
                    enc = codec(dst).stream_encoder(ctx)
                    out = [w for ev in _events(data) for i in dec.push(ev) for w in enc.push(i)]
                    out += [w for i in dec.finish() for w in enc.push(i)] + enc.finish()
                    streams[dst].append("".join(encode_text(w) for w in out).encode())


def _events(data: bytes) -> list[SseEvent]:
    p = SseParser()
    return p.feed(data) + p.close()


REQUESTS, RESPONSES, STREAMS = _seeds()


# --------------------------------------------------------------------------- strategies

_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.sampled_from(["", "text", "tool_use", "image", "assistant", "user", "system", "\ud800"])
)
JSON = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=16,
)
# Keys the codecs read: a random dict with these is more likely to get somewhere.
_KEYS = [
    "type", "role", "content", "text", "model", "messages", "tools", "tool_calls", "tool_choice",
    "id", "name", "input", "arguments", "function", "system", "stream", "max_tokens", "thinking",
    "source", "image_url", "usage", "choices", "delta", "finish_reason", "stop_reason", "index",
    "error", "message", "signature", "data", "partial_json", "content_block", "reasoning_content",
    "cache_control", "tool_use_id", "is_error", "stop_sequences", "temperature", "n",
]  # fmt: skip


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths(v, (*prefix, i))
    return out


def _get(doc: Any, path: tuple[Any, ...]) -> Any:
    for p in path:
        doc = doc[p]
    return doc


def _nest(value: Any, depth: int, as_list: bool) -> Any:
    for _ in range(depth):
        value = [value] if as_list else {"content": value}
    return value


class Doc:
    """A drawn JSON value. Wrapped because Hypothesis pretty-prints every drawn value with a
    recursive printer that a thousand levels of nesting overflow; this prints it as JSON,
    shortened, with the nesting depth."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __repr__(self) -> str:
        try:
            text = json.dumps(self.value, ensure_ascii=False)
        except (RecursionError, ValueError):
            text = "<too deep to print>"
        return f"Doc({text[:3000]}{'...' if len(text) > 3000 else ''})"


def unwrap(value: Any) -> Any:
    return value.value if isinstance(value, Doc) else value


@st.composite
def mutated(draw: st.DrawFn, seeds: list[Any]) -> Doc:
    return Doc(_mutate(draw, seeds))


def _mutate(draw: st.DrawFn, seeds: list[Any]) -> Any:
    """A real body with 0-3 things broken: a field of the wrong type, a key dropped or added,
    an unknown block type, deep nesting, a huge or strange string."""
    doc = json.loads(json.dumps(draw(st.sampled_from(seeds))))
    for _ in range(draw(st.integers(0, 3))):
        paths = _paths(doc)
        path = draw(st.sampled_from(paths))
        action = draw(
            st.sampled_from(
                ["replace", "replace", "drop", "add", "type", "nest", "string", "listify"]
            )
        )
        new: Any
        match action:
            case "replace":
                new = draw(JSON)
            case "type":
                new = draw(
                    st.sampled_from(
                        [
                            "image",
                            "tool_use",
                            "thinking",
                            "x_unknown",
                            "document",
                            "tool_result",
                            "redacted_thinking",
                            "input_audio",
                            7,
                            None,
                        ]
                    )
                )
                target = _get(doc, path)
                if isinstance(target, dict):
                    target["type"] = new
                    continue
            case "nest":
                new = _nest(_get(doc, path), draw(st.integers(50, 900)), draw(st.booleans()))
            case "string":
                new = draw(
                    st.sampled_from(
                        ["", "\x00", "\ud800", "é" * 5000, "{", "[DONE]", "x" * 100_000]
                    )
                )
            case "listify":
                new = [_get(doc, path)]
            case "drop" | "add":
                parent_path = path[:-1]
                parent = _get(doc, parent_path) if path else None
                if action == "drop" and path and isinstance(parent, dict):
                    parent.pop(path[-1], None)
                elif action == "drop" and path and isinstance(parent, list) and parent:
                    parent.pop(path[-1])
                else:
                    target = _get(doc, path)
                    if isinstance(target, dict):
                        target[draw(st.sampled_from(_KEYS))] = draw(JSON)
                    elif isinstance(target, list):
                        target.append(draw(JSON))
                continue
        if not path:
            doc = new
        else:
            _get(doc, path[:-1])[path[-1]] = new
    return doc


def bodies(seeds: list[Any]) -> st.SearchStrategy[Doc]:
    """Mostly mutated real bodies, some random JSON, some random objects with known keys."""
    keyed = st.dictionaries(st.sampled_from(_KEYS), JSON, max_size=6)
    return st.one_of(mutated(seeds), mutated(seeds), mutated(seeds), JSON.map(Doc), keyed.map(Doc))


@st.composite
def event_streams(draw: st.DrawFn, dialect: str) -> list[SseEvent]:
    """A recorded stream's events, broken: events dropped, repeated, swapped, their data
    mutated, random events inserted."""
    events = _events(draw(st.sampled_from(STREAMS[dialect])))
    for _ in range(draw(st.integers(0, 5))):
        if not events:
            break
        i = draw(st.integers(0, len(events) - 1))
        action = draw(
            st.sampled_from(["drop", "repeat", "swap", "mutate", "mutate", "insert", "cut"])
        )
        ev = events[i]
        match action:
            case "drop":
                del events[i]
            case "repeat":
                events.insert(i, ev)
            case "swap":
                j = draw(st.integers(0, len(events) - 1))
                events[i], events[j] = events[j], events[i]
            case "mutate":
                try:
                    obj = json.loads(ev.data or "")
                    data = json.dumps(_mutate(draw, [obj]), ensure_ascii=False)
                except (ValueError, RecursionError):
                    data = draw(st.text(max_size=40))
                events[i] = SseEvent(ev.event, data, ev.id, ev.retry, ev.comment)
            case "insert":
                name = draw(st.none() | st.sampled_from(["error", "message_stop", "ping", "x"]))
                events.insert(i, SseEvent(name, json.dumps(draw(JSON))))
            case "cut":
                del events[i:]
    return events


_SSE_PIECES = st.sampled_from(
    [b"data: ", b"data:", b"event: ", b"id: ", b"retry: 10", b": ping", b"\n", b"\r\n", b"\r",
     b"\n\n", b"[DONE]", b"{", b"}", b'"type":"message_stop"', b"\xc3", b"\xa9", b"\xff", b"\x00",
     "é☕".encode()]
)  # fmt: skip
SSE_BYTES = st.one_of(
    st.binary(max_size=300),
    st.lists(_SSE_PIECES | st.binary(max_size=5), max_size=60).map(b"".join),
)


@st.composite
def chunked(draw: st.DrawFn, data: bytes) -> list[bytes]:
    cuts = sorted(set(draw(st.lists(st.integers(0, len(data)), max_size=10))))
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]


def stream_bytes(dialect: str) -> st.SearchStrategy[bytes]:
    """Wire bytes of a broken stream: re-encoded broken events, or raw recorded bytes with
    bytes flipped, or SSE-shaped garbage."""

    def wire(evs: list[SseEvent]) -> bytes:
        return "".join(encode_text(e) for e in evs).encode("utf-8", "surrogatepass")

    def flip(data: bytes, at: list[int]) -> bytes:
        b = bytearray(data)
        for i in at:
            if b:
                b[i % len(b)] ^= 0xFF
        return bytes(b)

    recorded = st.sampled_from(STREAMS[dialect])
    flipped = st.builds(flip, recorded, st.lists(st.integers(0, 10_000), max_size=4))
    return st.one_of(event_streams(dialect).map(wire), flipped, SSE_BYTES)


STATUSES = st.sampled_from(
    [
        200,
        400,
        401,
        402,
        403,
        404,
        408,
        409,
        413,
        422,
        429,
        500,
        502,
        503,
        504,
        529,
        599,
        418,
        0,
        -1,
    ]
)


# Event-stream frames (binary framing with headers and a CRC per message) of the kinds a Kiro
# upstream sends, with mutated payloads; then some bytes flipped (a CRC must catch them).
_FRAME_EVENTS = ["assistantResponseEvent", "toolUseEvent", "meteringEvent", "contextUsageEvent",
                 "reasoningContentEvent", "codeReferenceEvent", "x-unknown"]  # fmt: skip
_FRAME_PAYLOADS = [
    {"content": "Hello"}, {"name": "get_weather", "toolUseId": "t1", "input": '{"city":'},
    {"name": "get_weather", "toolUseId": "t1", "input": '"Paris"}'},
    {"name": "get_weather", "toolUseId": "t1", "stop": True}, {"unit": "credit", "usage": 0.01},
    {"contextUsagePercentage": 1.5}, {"text": "thinking", "signature": "s"},
]  # fmt: skip


@st.composite
def framed_streams(draw: st.DrawFn) -> bytes:
    from recorder.wire.eventstream import encode_message

    out = b""
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(["event", "event", "event", "exception", "error"]))
        try:
            payload = json.dumps(_mutate(draw, _FRAME_PAYLOADS)).encode()
        except RecursionError:  # nested deeper than json.dumps goes: written out by hand
            payload = b'{"content":' * 5000 + b'"x"' + b"}" * 5000
        if kind == "event":
            headers = {":event-type": draw(st.sampled_from(_FRAME_EVENTS)),
                       ":content-type": "application/json", ":message-type": "event"}  # fmt: skip
        else:
            headers = {f":{kind}-type": draw(st.sampled_from(["ThrottlingException", "x"])),
                       ":message-type": kind}  # fmt: skip
        out += encode_message(headers, payload)
    flips = draw(st.lists(st.integers(0, 100_000), max_size=3))
    b = bytearray(out)
    for i in flips:
        if b:
            b[i % len(b)] ^= 0x5A
    return bytes(b) + draw(st.binary(max_size=8))
