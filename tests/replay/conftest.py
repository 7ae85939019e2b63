"""Shared helpers for the replay tests: the two hand-written example cassettes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

ROOT = Path(__file__).resolve().parents[2]
ANTHROPIC = ROOT / "cassettes" / "anthropic-hello"
OPENAI = ROOT / "cassettes" / "openai-hello"


def recorded_body(cassette: Path, index: int, leg: str = "upstream") -> Any:
    doc = json.loads((cassette / "cassette.json").read_text())
    return doc["interactions"][index][leg]["request"]["body"]


@pytest.fixture
def snapshot_json(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    return snapshot.with_defaults(extension_class=JSONSnapshotExtension)
