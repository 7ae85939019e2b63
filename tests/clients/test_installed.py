"""The real clients in clients/node_modules are the versions clients/package.json pins: what
scripts/install-clients.sh (run by .ci/run) installs, and what the client tests drive."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable

import pytest

from fakes.claude_code import CLIENTS_DIR
from tests.prereqs import missing

pytestmark = pytest.mark.clients

PINS: dict[str, str] = json.loads((CLIENTS_DIR / "package.json").read_text())["dependencies"]


def _first_word(out: str) -> str:  # "2.1.197 (Claude Code)"
    return out.split()[0] if out.split() else ""


def _last_word(out: str) -> str:  # "codex-cli 0.169.0"
    return out.split()[-1] if out.split() else ""


@pytest.mark.parametrize(
    ("package", "binary", "version_in"),
    [("@anthropic-ai/claude-code", "claude", _first_word), ("@openai/codex", "codex", _last_word)],
    ids=["claude-code", "codex"],
)
def test_the_installed_client_is_the_pinned_version(
    package: str, binary: str, version_in: Callable[[str], str]
) -> None:
    path = CLIENTS_DIR / "node_modules" / ".bin" / binary
    if not path.exists():
        missing(f"{package} {PINS[package]} (clients/node_modules/.bin/{binary})")
    out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert version_in(out.stdout) == PINS[package], out.stdout
