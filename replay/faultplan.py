"""Which interactions of a cassette a replay breaks, and how: ``--fault SPEC`` (every
interaction it fits) and ``--fault N=SPEC`` (interaction N only).

Checked when the replay starts, so a fault that cannot happen fails loudly instead of making a
test pass for nothing: a fault for one interaction must fit it (a stream fault needs a stream, a
position must exist, drop-done needs an end marker, an error needs the dialect), and a fault for
every interaction must fit at least one (the others are listed in ``notes``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from recorder import dialects
from recorder.faults.anatomy import describe, end_markers
from recorder.faults.spec import FaultSpec, MidStreamError, parse_targeted
from recorder.faults.units import split_blocks
from recorder.ir import Dialect
from replay.cassette import Interaction, LegRecord

__all__ = ["FaultPlan", "FaultPlanError", "known_dialect"]


class FaultPlanError(ValueError):
    """A fault that cannot apply where it was asked to."""


def known_dialect(name: str | None) -> Dialect | None:
    """``name`` as a dialect tapegate speaks in SSE, or None (a hand-written cassette may omit
    it)."""
    spec = dialects.named(name or "")
    return spec.name if spec is not None and spec.framing is dialects.SSE else None


@dataclass(frozen=True, slots=True)
class FaultPlan:
    every: FaultSpec | None = None
    only: Mapping[int, FaultSpec] = field(default_factory=dict)

    @classmethod
    def parse(cls, texts: Iterable[str]) -> FaultPlan:
        """From ``SPEC`` / ``N=SPEC`` strings (FaultSpecError, a ValueError, when one is bad)."""
        every: FaultSpec | None = None
        only: dict[int, FaultSpec] = {}
        for text in texts:
            index, spec = parse_targeted(text)
            if index is None:
                if every is not None:
                    raise FaultPlanError(
                        f"two faults for every interaction ({every} and {spec}): join them with "
                        "',' or target one with N=SPEC"
                    )
                every = spec
            elif index in only:
                raise FaultPlanError(f"two faults for interaction {index}: join them with ','")
            else:
                only[index] = spec
        return cls(every, only)

    def __bool__(self) -> bool:
        return self.every is not None or bool(self.only)

    def __str__(self) -> str:
        parts = [str(self.every)] if self.every is not None else []
        return " ".join(parts + [f"{i}={s}" for i, s in sorted(self.only.items())])

    def assign(
        self, targets: Sequence[tuple[Interaction, LegRecord, str | None]], where: str
    ) -> tuple[list[FaultSpec | None], list[str]]:
        """The fault of each served interaction (``(interaction, leg served, its dialect)``),
        and notes on the interactions a fault for every interaction does not fit."""
        out: list[FaultSpec | None] = [None] * len(targets)
        if not self:
            return out, []
        by_index = {it.index: n for n, (it, _, _) in enumerate(targets)}
        for index, spec in self.only.items():
            n = by_index.get(index)
            if n is None:
                raise FaultPlanError(
                    f"fault {index}={spec}: {where} has no interaction {index} to serve "
                    f"(served: {', '.join(map(str, sorted(by_index))) or 'none'})"
                )
            it, rec, dialect = targets[n]
            why = unfit(spec, rec, dialect)
            if why is not None:
                raise FaultPlanError(f"fault {index}={spec}: interaction {index} {why}")
            out[n] = spec
        notes: list[str] = []
        if self.every is not None:
            fitted = 0
            for n, (it, rec, dialect) in enumerate(targets):
                if it.index in self.only:
                    continue
                why = unfit(self.every, rec, dialect)
                if why is None:
                    out[n] = self.every
                    fitted += 1
                else:
                    notes.append(f"fault {self.every} left out of interaction {it.index}: {why}")
            if not fitted:
                raise FaultPlanError(
                    f"fault {self.every} fits no interaction of {where}: "
                    + ("; ".join(notes) or "each one has a fault of its own")
                )
        return out, notes


def unfit(spec: FaultSpec, rec: LegRecord, dialect: str | None) -> str | None:
    """Why ``spec`` cannot apply to this recorded leg, or None when it can."""
    resp = rec.response
    assert resp is not None  # the engine serves only legs with a response
    needs_dialect = spec.status is not None or any(
        isinstance(f, MidStreamError) for f in spec.faults
    )
    d = known_dialect(dialect)
    if needs_dialect and d is None:
        return f"does not say which dialect it speaks ({dialect!r}), so its error has no shape"
    if spec.status is not None:
        return None
    if resp.stream is None:
        if spec.applies_without_events():
            return None
        return "is not a stream (a whole body takes only status, stall@0 and reset@0)"
    total = len(split_blocks(resp.stream.data))
    for f in spec.positioned:
        if f.at.resolve(total) is None:
            return f"has {total} events, so {f} has no place"
    if spec.drop_done:
        if d is None:
            return f"does not say which dialect it speaks ({dialect!r}), so its end is unknown"
        if not end_markers(describe(resp.stream.data, d)):
            return "ends with no end marker to drop (its last event carries content)"
    return None
