"""The message log (``messagelog``): each exchange's conversation as one JSON line, into one
file or one file per session, rotated by size. Format: :mod:`recorder.observe.messagelog` and
docs/observe.md."""

from __future__ import annotations

from typing import Any

from mitmproxy import ctx

from addons import declare
from addons.observe.hub import Observers
from addons.startup import refuse
from recorder.observe.messagelog_config import LogConfig

OPTIONS = ("messagelog", "messagelog_by_session", "messagelog_max_mb", "messagelog_keep",
           "messagelog_full")  # fmt: skip


class MessageLogger:
    def __init__(self, hub: Observers) -> None:
        self.hub = hub

    def load(self, loader: Any) -> None:
        declare.options(loader, [
            (
                "messagelog", str, "",
                "Write each exchange's conversation as one JSON line to this file (or, with "
                "messagelog_by_session, one file per session in this directory); empty: off.",
            ),
            ("messagelog_by_session", bool, False, "One JSONL file per session in messagelog."),
            ("messagelog_max_mb", int, 100, "Rotate a message log file past this size (MB)."),
            ("messagelog_keep", int, 5, "Rotated message log files kept (FILE.1 ... FILE.N)."),
            (
                "messagelog_full", bool, False,
                "Log every message of every request (default: only a turn's new messages).",
            ),
        ])  # fmt: skip

    def configure(self, updated: set[str]) -> None:
        if not set(OPTIONS) & updated:
            return
        o = ctx.options
        if o.messagelog_max_mb <= 0 or o.messagelog_keep < 0:
            refuse("messagelog_max_mb must be more than 0 and messagelog_keep not negative")
        cfg = None
        if o.messagelog:
            cfg = LogConfig(
                o.messagelog, by_session=o.messagelog_by_session,
                max_bytes=o.messagelog_max_mb << 20, keep=o.messagelog_keep,
                full=o.messagelog_full,
            )  # fmt: skip
        self.hub.want_log(cfg)
