"""The replay engine: which recorded response answers a request, and when each chunk goes out.

Pure and front-door agnostic: the server and the httpx transports ask :meth:`ReplayEngine.handle`
for a :class:`Reply` (status, headers, body or chunks with the delay before each) and do the I/O
and sleeping themselves. Play counts are kept under a lock because one engine may be shared by a
server thread and an in-process transport (the pytest fixture does that).

Rules (vcrpy's, typed): each interaction plays once, the first unplayed match in recorded order
wins; ``repeat=True`` lets played interactions answer again (least played first). ``strict=True``
makes :meth:`check` fail when an interaction was never played or a request missed. A miss is
answered with status 404 in the client's dialect: 404 because "no such recorded resource" is what
happened, and no SDK retries a 404 (they retry 408/409/429/5xx), so a miss fails fast.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Literal

from replay.cassette import Cassette, Interaction, Leg, LegRecord, json_bytes
from replay.matching import MatchPolicy, RequestView, describe, explain_miss, view

Role = Literal["upstream", "gateway"]
ROLE_LEG: dict[Role, Leg] = {"upstream": "upstream", "gateway": "client"}
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

    @property
    def streamed(self) -> bool:
        return self.chunks is not None


@dataclass(slots=True)
class _Entry:
    interaction: Interaction
    record: LegRecord
    view: RequestView
    plays: int = 0


@dataclass(slots=True)
class ReplayEngine:
    cassette: Cassette
    role: Role = "upstream"
    policy: MatchPolicy = field(default_factory=MatchPolicy)
    strict: bool = True
    repeat: bool = False
    timing: Timing = field(default_factory=Timing)
    misses: list[str] = field(default_factory=list)
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
            self._entries.append(e)
            self._by_key.setdefault(e.view.key, []).append(e)

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
        if found and self.repeat:
            return min(found, key=lambda e: e.plays), ""
        if found:
            e = found[-1]
            return None, (
                f"the request matches interaction {describe(e.interaction.index, e.view)} of "
                f"{self.where}, but it was already played ({e.plays}x) and each interaction "
                "plays once: record the repeat, or allow repeats (--repeat / repeat=True)"
            )
        cands = [(e.interaction.index, e.view) for e in self._entries]
        return None, explain_miss(req, cands, self.where)

    def _reply(self, e: _Entry) -> Reply:
        resp = e.record.response
        assert resp is not None  # entries without a response were skipped
        headers = [(k, v) for k, v in resp.headers.items()]
        headers.append(("x-tapegate-replay", f"{self.cassette.name}#{e.interaction.index}"))
        if resp.stream is not None:
            recorded = resp.stream.chunks()
            delays = self.timing.delays([t for t, _ in recorded])
            chunks = [(d, c) for d, (_, c) in zip(delays, recorded, strict=True)]
            return Reply(resp.status, headers, chunks=chunks, index=e.interaction.index)
        return Reply(resp.status, headers, resp.body or b"", index=e.interaction.index)

    # ------------------------------------------------------------------ bookkeeping

    def unplayed(self) -> list[Interaction]:
        with self._lock:
            return [e.interaction for e in self._entries if e.plays == 0]

    def play_counts(self) -> dict[int, int]:
        with self._lock:
            return {e.interaction.index: e.plays for e in self._entries}

    def problems(self) -> list[str]:
        """What makes a strict replay fail: unplayed interactions and misses."""
        out = [
            f"interaction {describe(e.interaction.index, e.view)} was never played"
            for e in self._entries
            if e.plays == 0
        ]
        return out + [f"miss: {m}" for m in self.misses]

    def check(self) -> None:
        """Raise :class:`NotFullyPlayedError` in strict mode if anything went unplayed or missed."""
        if not self.strict:
            return
        problems = self.problems()
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
