"""``recorder``: the command line over the library; each module registers commands on ``app``."""

from __future__ import annotations

from recorder.cli import (  # noqa: F401  (registers commands)
    replay_cmds,
    report_cmd,
    store_cmds,
    translate_cmd,
)
from recorder.cli.app import app


def main() -> None:
    app()
