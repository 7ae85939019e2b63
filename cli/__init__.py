"""``recorder``: the command line over the library; each module registers commands on ``app``."""

from __future__ import annotations

from cli import (  # noqa: F401  (registers commands)
    replay_cmds,
    report_cmd,
    store_cmds,
    translate_cmd,
)
from cli.app import app


def main() -> None:
    app()
