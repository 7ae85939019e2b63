"""Faults on purpose: break a recorded or live stream the way real upstreams break.

:mod:`.spec` is the vocabulary (parsed and validated in one place), :mod:`.inject` applies it to
stream bytes, :mod:`.anatomy` asks the dialect's codec what each event means (so no dialect is
named here), :mod:`.units` finds where events end.
"""

from recorder.faults.inject import FaultedStream, StreamFaults, apply, live, status_reply
from recorder.faults.spec import FaultSpec, FaultSpecError, parse, parse_targeted

__all__ = [
    "FaultSpec",
    "FaultSpecError",
    "FaultedStream",
    "StreamFaults",
    "apply",
    "live",
    "parse",
    "parse_targeted",
    "status_reply",
]
