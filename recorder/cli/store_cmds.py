"""Commands: (to be written)."""

from __future__ import annotations

from recorder.cli.app import app  # noqa: F401
