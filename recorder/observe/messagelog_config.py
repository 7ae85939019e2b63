"""Where and how the message log (:mod:`recorder.observe.messagelog`) writes: the gateway reads
it from its ``messagelog*`` options at start-up; the log itself runs in the observer process."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True, frozen=True)
class LogConfig:
    path: str  # a .jsonl file, or a directory when by_session
    by_session: bool = False
    max_bytes: int = 100 << 20
    keep: int = 5
    full: bool = False  # every message every time, not only the new ones
