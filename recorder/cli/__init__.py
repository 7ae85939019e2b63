"""``recorder``: the command line over the library; each module registers commands on ``app``."""

from __future__ import annotations

from recorder.cli import replay_cmds, store_cmds, translate_cmd  # noqa: F401  (registers commands)
from recorder.cli.app import app


def main() -> None:
    app()
