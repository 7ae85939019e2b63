"""The recorder command as a newcomer meets it: a version, and an example in every --help."""

from __future__ import annotations

from importlib.metadata import version

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from cli import app

runner = CliRunner()
COMMANDS = sorted(get_command(app).commands)  # type: ignore[attr-defined]


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output == f"tapegate {version('tapegate')}\n"


def test_the_top_help_documents_the_exit_statuses() -> None:
    text = " ".join(runner.invoke(app, ["--help"], env={"COLUMNS": "200"}).output.split())
    assert "Exit status: 0 done; 1 a check failed" in text and "2 a usage error" in text


def test_each_command_is_one_line_in_the_top_help() -> None:
    """The command list shows a help's first paragraph with its line breaks: a sentence broken
    over two docstring lines read as two broken lines ('tool_calls,' / 'backend_sessions)')."""
    commands = get_command(app).commands  # type: ignore[attr-defined]
    for name in COMMANDS:
        first = (commands[name].help or "").strip().split("\n\n")[0]
        assert "\n" not in first, name


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_help_has_an_example(command: str) -> None:
    result = runner.invoke(app, [command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert f"Example: recorder {command}" in result.output


def test_help_loads_no_codec_proxy_or_database() -> None:
    """``recorder --help`` (and argument errors) start fast: the codecs, mitmproxy and DuckDB
    are imported by the commands that use them, when they run."""
    import subprocess
    import sys

    code = "import sys, cli; print(' '.join(sorted(sys.modules)))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout.split()  # fmt: skip
    heavy = [
        m for m in loaded if m.startswith(("recorder.codecs", "mitmproxy", "duckdb", "asyncio"))
    ]
    assert heavy == []


def test_the_dialects_in_translate_help_are_the_registry() -> None:
    from cli.translate_cmd import DIALECTS
    from recorder import dialects

    assert DIALECTS == ", ".join(e.name for e in dialects.ENTRIES)
