"""Which requests gateway_fault breaks: every one, a model glob, or one route."""

from __future__ import annotations

import pytest

from recorder.faults.scope import FaultScope


def test_scopes() -> None:
    every = FaultScope.parse("")
    assert every.covers(None, "default") and every.covers("x", "r")
    assert str(every) == "every request"
    glob = FaultScope.parse("claude-haiku-*")
    assert glob.covers("claude-haiku-4", "default") and not glob.covers("claude-sonnet-5", "r")
    assert not glob.covers(None, "default")
    route = FaultScope.parse("route:local")
    assert route.covers("anything", "local") and not route.covers("anything", "default")
    assert str(route) == "route:local"
    with pytest.raises(ValueError, match="needs a route name"):
        FaultScope.parse("route:")
