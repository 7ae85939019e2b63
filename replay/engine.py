"""The replay engine: which recorded response answers a request, and when each chunk goes out.

Pure and front-door agnostic: the server and the httpx transports ask :meth:`ReplayEngine.handle`
for a :class:`Reply` (status, headers, body or chunks with the delay before each) and do the I/O
and sleeping themselves. Play counts are kept under a lock because one engine may be shared by a
server thread and an in-process transport (the pytest fixture does that).

Rules (vcrpy's, typed): each interaction plays once, the first unplayed match in recorded order
wins; ``repeat=True`` lets played interactions answer again (least played first).

Interactions are keyed by content, never by arrival order: the key is the hash of the canonical
request (which holds the whole conversation so far, so a request's position in the conversation
is part of it), and among identical requests the n-th to arrive gets the n-th recorded answer. So
an agent that fans requests out with ``asyncio.gather`` replays the same whatever order they
arrive in (tests/replay/test_concurrency.py). ``strict=True``
makes :meth:`check` fail when an interaction was never played or a request missed. A miss is
answered with status 404 in the client's dialect: 404 because "no such recorded resource" is what
happened, and no SDK retries a 404 (they retry 408/409/429/5xx), so a miss fails fast.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Literal

from recorder.faults.inject import Ending, apply, status_reply
from recorder.faults.spec import FaultSpec, Stall
from recorder.faults.spec import Reset as FaultReset
from recorder.ir import Dialect
from replay.cassette import Cassette, Interaction, Leg, LegRecord, json_bytes
from replay.faultplan import FaultPlan, known_dialect
from replay.matching import MatchPolicy, RequestView, describe, explain_miss, view

Role = Literal["upstream", "gateway"]
ROLE_LEG: dict[Role, Leg] = {"upstream": "upstream", "gateway": "client"}
LEG_SAYS: dict[Leg, str] = {
    "client": "cassette's client leg (what the recorded client sent)",
    "upstream": "cassette's upstream leg (what the gateway sent upstream)",
}
ROLE_USE: dict[Role, str] = {
    "gateway": 'to test a client against what it saw, replay that leg: role="gateway" '
    "(recorder replay --as gateway)",
    "upstream": 'to stand where the gateway stood, replay that leg: role="upstream" '
    "(recorder replay --as upstream)",
}
MISS_STATUS = 404


class NotFullyPlayedError(AssertionError):
    """Strict replay ended with interactions never played, or with requests that missed."""


@dataclass(frozen=True, slots=True)
class Timing:
    """``instant`` (no delay), ``recorded`` (the recorded gaps) or ``scaled`` (gaps x factor)."""

    mode: Literal["instant", "recorded", "scaled"] = "instant"
    factor: float = 1.0

    @classmethod
    def parse(cls, text: str | Timing) -> Timing:
        """``instant`` | ``recorded`` | ``xN`` / ``Nx`` (N times the recorded gaps, e.g. x0.5)."""
        if isinstance(text, Timing):
            return text
        t = text.strip().lower()
        if t in ("instant", "fast", "0"):
            return cls("instant", 0.0)
        if t in ("recorded", "realistic", "x1", "1x"):
            return cls("recorded", 1.0)
        num = t.removeprefix("x").removesuffix("x")
        try:
            factor = float(num)
        except ValueError:
            msg = f"timing must be instant, recorded or xN (e.g. x2), not {text!r}"
            raise ValueError(msg) from None
        if factor < 0:
            raise ValueError(f"timing factor must not be negative: {text!r}")
        return cls("scaled", factor)

    @property
    def scale(self) -> float:
        return 0.0 if self.mode == "instant" else self.factor

    def delays(self, offsets: list[float]) -> list[float]:
        """Seconds to wait before each chunk: recorded gaps (the first from the start) x scale."""
        if self.scale == 0.0:
            return [0.0] * len(offsets)
        out, prev = [], 0.0
        for t in offsets:
            out.append(max(t - prev, 0.0) * self.scale)
            prev = max(prev, t)
        return out


@dataclass(slots=True)
class Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes = b""
    chunks: list[tuple[float, bytes]] | None = None  # (delay before, bytes) for a stream
    index: int | None = None  # the interaction that answered; None on a miss
    miss: str | None = None  # the explanation, on a miss
    # Faults: how the response ends ("closed": the body ends, then the connection; "reset": the
    # connection is reset after the chunks, before the body completes; for a reply that is not
    # a stream, before anything is sent), and the wait before the response head.
    ending: Ending = "complete"
    delay: float = 0.0
    fault: str | None = None

    @property
    def streamed(self) -> bool:
        return self.chunks is not None


@dataclass(slots=True)
class _Entry:
    interaction: Interaction
    record: LegRecord
    view: RequestView
    plays: int = 0
    fault: FaultSpec | None = None  # a faulted interaction answers repeats (a client retries)
    dialect: Dialect | None = None


@dataclass(slots=True)
class ReplayEngine:
    cassette: Cassette
    role: Role = "upstream"
    policy: MatchPolicy = field(default_factory=MatchPolicy)
    strict: bool = True
    repeat: bool = False
    timing: Timing = field(default_factory=Timing)
    faults: FaultPlan = field(default_factory=FaultPlan)
    misses: list[str] = field(default_factory=list)
    fault_notes: list[str] = field(default_factory=list)  # where a fault for all did not fit
    _entries: list[_Entry] = field(default_factory=list)
    _by_key: dict[str, list[_Entry]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if self.role not in ROLE_LEG:
            raise ValueError(f"role must be 'upstream' or 'gateway', not {self.role!r}")
        self.timing = Timing.parse(self.timing)
        leg = ROLE_LEG[self.role]
        for it in self.cassette.interactions:
            rec = it.leg(leg)
            if rec is None or rec.response is None:
                continue  # nothing to serve for this role (e.g. the gateway answered itself)
            r = rec.request
            e = _Entry(it, rec, view(r.method, r.url, r.body, r.headers, self.policy))
            e.dialect = known_dialect(it.client_dialect if leg == "client" else it.upstream_dialect)
            self._entries.append(e)
            self._by_key.setdefault(e.view.key, []).append(e)
        targets = [(e.interaction, e.record, e.dialect) for e in self._entries]
        specs, self.fault_notes = self.faults.assign(targets, self.where)
        for e, spec in zip(self._entries, specs, strict=True):
            e.fault = spec

    @property
    def where(self) -> str:
        return f"cassette {self.cassette.name!r} (role {self.role})"

    def handle(
        self, method: str, url: str, body: bytes | None, headers: dict[str, str] | None = None
    ) -> Reply:
        req = view(method, url, body, headers, self.policy)
        with self._lock:
            entry, message = self._pick(req)
            if entry is None:
                self.misses.append(message)
                return miss_reply(req.path, message)
            entry.plays += 1
        return self._reply(entry)

    def _pick(self, req: RequestView) -> tuple[_Entry | None, str]:
        found = self._by_key.get(req.key, [])
        for e in found:
            if e.plays == 0:
                return e, ""
        if found and (self.repeat or found[-1].fault is not None):
            return min(found, key=lambda e: e.plays), ""
        if found:
            e = found[-1]
            return None, (
                f"the request matches interaction {describe(e.interaction.index, e.view)} of "
                f"{self.where}, but it was already played ({e.plays}x) and each interaction "
                "plays once: record the repeat, or allow repeats (--repeat / repeat=True)"
            )
        cands = [(e.interaction.index, e.view) for e in self._entries]
        return None, explain_miss(req, cands, self.where) + self._other_leg_hint(req)

    def _other_leg_hint(self, req: RequestView) -> str:
        """A miss that the cassette's other leg would answer says so: a test of a client
        replays the client leg (role "gateway"), one standing where the gateway stood the
        upstream leg; mixing them up is the usual first miss on a translating cassette."""
        other: Role = "gateway" if self.role == "upstream" else "upstream"
        leg = ROLE_LEG[other]
        same_path: int | None = None
        for it in self.cassette.interactions:
            rec = it.leg(leg)
            if rec is None or rec.response is None:
                continue
            r = rec.request
            v = view(r.method, r.url, r.body, r.headers, self.policy)
            if v.key == req.key:
                return (
                    f". It is interaction {describe(it.index, v)} of the {LEG_SAYS[leg]}: "
                    f"{ROLE_USE[other]}"
                )
            if same_path is None and (v.method, v.path) == (req.method, req.path):
                same_path = it.index
        ours = any((e.view.method, e.view.path) == (req.method, req.path) for e in self._entries)
        if same_path is None or ours:
            return ""
        return (
            f". The {LEG_SAYS[leg]} has {req.method} {req.path} requests "
            f"(#{same_path}): {ROLE_USE[other]}"
        )

    def _reply(self, e: _Entry) -> Reply:
        resp = e.record.response
        assert resp is not None  # entries without a response were skipped
        headers = [(k, v) for k, v in resp.headers.items()]
        tag = ("x-tapegate-replay", f"{self.cassette.name}#{e.interaction.index}")
        headers.append(tag)
        index, fault = e.interaction.index, e.fault
        if fault is not None and fault.status is not None:
            assert e.dialect is not None  # FaultPlan.assign checked
            code, err_headers, body = status_reply(fault.status, e.dialect)
            err_headers += [tag, ("x-tapegate-fault", str(fault))]
            return Reply(code, err_headers, body, index=index, fault=str(fault))
        if resp.stream is not None:
            recorded = resp.stream.chunks()
            delays = self.timing.delays([t for t, _ in recorded])
            chunks = [(d, c) for d, (_, c) in zip(delays, recorded, strict=True)]
            if fault is None:
                return Reply(resp.status, headers, chunks=chunks, index=index)
            assert e.dialect is not None
            out = apply(chunks, fault, e.dialect)
            headers.append(("x-tapegate-fault", str(fault)))
            return Reply(
                resp.status, headers, chunks=out.chunks, index=index, ending=out.ending,
                fault=str(fault),
            )  # fmt: skip
        if fault is None:
            return Reply(resp.status, headers, resp.body or b"", index=index)
        # A body that is not a stream: only a stall or a reset before it apply (FaultPlan checked).
        delay = sum(f.ms for f in fault.faults if isinstance(f, Stall)) / 1000
        reset = any(isinstance(f, FaultReset) for f in fault.faults)
        ending: Ending = "reset" if reset else "complete"
        headers.append(("x-tapegate-fault", str(fault)))
        return Reply(
            resp.status, headers, resp.body or b"", index=index, ending=ending, delay=delay,
            fault=str(fault),
        )  # fmt: skip

    # ------------------------------------------------------------------ bookkeeping

    def unplayed(self) -> list[Interaction]:
        with self._lock:
            return [e.interaction for e in self._entries if e.plays == 0]

    def play_counts(self) -> dict[int, int]:
        with self._lock:
            return {e.interaction.index: e.plays for e in self._entries}

    def problems(self, unplayed: bool = True) -> list[str]:
        """What makes a strict replay fail: unplayed interactions (unless told not to count
        them: a faulted run may stop early) and misses."""
        out = [
            f"interaction {describe(e.interaction.index, e.view)} was never played"
            for e in self._entries
            if e.plays == 0 and unplayed
        ]
        return out + [f"miss: {m}" for m in self.misses]

    def check(self, unplayed: bool = True) -> None:
        """Raise :class:`NotFullyPlayedError` in strict mode if anything went unplayed or missed."""
        if not self.strict:
            return
        problems = self.problems(unplayed)
        if problems:
            raise NotFullyPlayedError(
                f"{self.where} was not replayed cleanly:\n  " + "\n  ".join(problems)
            )


def miss_reply(path: str, message: str) -> Reply:
    """A 404 in the dialect the path belongs to, so the client's SDK raises a readable error."""
    if "/messages" in path:
        body: dict[str, object] = {
            "type": "error",
            "error": {"type": "not_found_error", "message": message},
        }
    else:
        body = {
            "error": {
                "message": message,
                "type": "invalid_request_error",
                "param": None,
                "code": "cassette_miss",
            }
        }
    headers = [("content-type", "application/json"), ("x-tapegate-replay", "miss")]
    return Reply(MISS_STATUS, headers, json_bytes(body), miss=message)
