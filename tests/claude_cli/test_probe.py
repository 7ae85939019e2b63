"""Before serving: the executable, its version, its login and its models (no model call)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from recorder.claude_cli.invocation import CliPolicy
from recorder.claude_cli.models import ALIASES
from recorder.claude_cli.probe import (
    CliUnavailableError,
    check,
    list_models,
    parse_version,
    resolve_executable,
)
from tests.claude_cli.test_turn import Harness

POLICY = CliPolicy(env_names=("FAKE_CLAUDE_MODE", "FAKE_CLAUDE_VERSION"))


def test_version_and_login(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    status = asyncio.run(check(h.backend.settings.executable, h.env, POLICY))
    assert (status.version, status.logged_in, status.auth_method) == ("2.1.197", True, "api_key")
    h.env["FAKE_CLAUDE_MODE"] = "not-logged-in"
    assert not asyncio.run(check(h.backend.settings.executable, h.env, POLICY)).logged_in


@pytest.mark.parametrize(("version", "ok"), [("2.1.196", False), ("2.2.0", True), ("3.0.1", True)])
def test_too_old_a_cli_is_refused_in_one_line(tmp_path: Path, version: str, ok: bool) -> None:
    h = Harness(tmp_path)
    h.env["FAKE_CLAUDE_VERSION"] = version
    probe = check(h.backend.settings.executable, h.env, POLICY)
    if ok:
        assert asyncio.run(probe).version == version
        return
    with pytest.raises(CliUnavailableError, match=r"too old.*>= 2\.1\.197") as e:
        asyncio.run(probe)
    assert "\n" not in str(e.value)


def test_a_missing_cli_is_refused_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(CliUnavailableError, match="claude_cli_path") as e:
        asyncio.run(check(str(tmp_path / "nope"), {"PATH": "/usr/bin"}))
    assert "\n" not in str(e.value)


def test_models_come_from_the_cli(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    models = asyncio.run(list_models(h.backend.settings.executable, h.env, POLICY))
    assert [(m.id, m.resolves_to) for m in models] == [
        ("default", "claude-opus-4-8[1m]"),
        ("sonnet", "claude-sonnet-5"),
    ]
    assert not list((tmp_path / "home").glob(".fake-claude/*"))  # no session was written


def test_models_fall_back_to_the_pinned_names(tmp_path: Path) -> None:
    h = Harness(tmp_path, "crash")
    broken = tmp_path / "broken"
    broken.write_text("#!/bin/sh\nexit 3\n")
    broken.chmod(0o755)
    models = asyncio.run(list_models(str(broken), h.env))
    assert {m.id for m in models} == set(ALIASES)


def test_executable_resolution(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    repo = tmp_path / "repo"
    assert resolve_executable(None, str(bin_dir), repo) is None
    pinned = repo / "clients/node_modules/.bin/claude"
    pinned.parent.mkdir(parents=True)
    pinned.write_text("")
    assert resolve_executable(None, str(bin_dir), repo) == str(pinned)
    on_path = bin_dir / "claude"
    on_path.write_text("#!/bin/sh\n")
    on_path.chmod(0o755)
    assert resolve_executable(None, str(bin_dir), repo) == str(on_path)
    assert resolve_executable(str(pinned), os.environ.get("PATH"), repo) == str(pinned)
    assert resolve_executable(str(tmp_path / "missing"), None, repo) is None


def test_parse_version() -> None:
    assert parse_version("2.1.197 (Claude Code)\n") == (2, 1, 197)
    assert parse_version("claude 2") is None


def test_the_start_up_check_needs_no_event_loop(tmp_path: Path) -> None:
    from recorder.claude_cli.probe import check_sync

    h = Harness(tmp_path)
    assert check_sync(h.backend.settings.executable, h.env, POLICY).version == "2.1.197"
    h.env["FAKE_CLAUDE_VERSION"] = "1.0.0"
    with pytest.raises(CliUnavailableError, match="too old"):
        check_sync(h.backend.settings.executable, h.env, POLICY)
    with pytest.raises(CliUnavailableError, match="claude_cli_path"):
        check_sync(str(tmp_path / "nope"), h.env)
