"""Progress on a terminal, silence elsewhere."""

from __future__ import annotations

import io
import time

import pytest
from rich.console import Console

from cli import progress


@pytest.fixture
def terminal(monkeypatch):
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100)
    monkeypatch.setattr(progress, "_console", lambda: console)
    return out


def test_nothing_is_drawn_when_stderr_is_no_terminal(capsys):
    assert list(progress.track(range(3), "x", total=3)) == [0, 1, 2]
    with progress.counting("y", 2) as done:
        done()
    with progress.spinner("z", after=0):
        time.sleep(0.05)
    with progress.status(lambda: "s") as redraw:
        redraw()
    assert capsys.readouterr() == ("", "")


def test_a_bar_counts_on_a_terminal(terminal):
    assert list(progress.track(range(3), "verifying", total=3)) == [0, 1, 2]
    with progress.counting("writing", 4) as done:
        for _ in range(4):
            done()
    drawn = terminal.getvalue()
    assert "verifying" in drawn and "3/3" in drawn
    assert "writing" in drawn and "4/4" in drawn


def test_a_spinner_only_for_what_takes_long(terminal):
    with progress.spinner("quick", after=10):
        pass
    assert "quick" not in terminal.getvalue()
    with progress.spinner("querying", after=0.01):
        time.sleep(0.3)
    assert "querying" in terminal.getvalue()


def test_a_live_status_line(terminal):
    n = [0]
    with progress.status(lambda: f"{n[0]} requests") as redraw:
        n[0] = 7
        redraw()
    assert "7 requests" in terminal.getvalue()
