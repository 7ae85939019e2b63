"""Recorder addon (placeholder until the store lands): writes each finished Exchange to DuckDB."""

from __future__ import annotations


class Recorder:
    """Reads ``flow.metadata["tapegate.exchange"]`` in ``response``/``error`` and stores it."""
