from __future__ import annotations

import pytest

from tests.prereqs import missing


@pytest.mark.parametrize("ci", ["", "false", "0"])
def test_a_missing_prerequisite_skips_naming_the_install_command(
    monkeypatch: pytest.MonkeyPatch, ci: str
) -> None:
    monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.skip.Exception) as e:
        missing("the thing", "scripts/install-thing.sh")
    assert "the thing is not installed" in str(e.value)
    assert "`scripts/install-thing.sh`" in str(e.value)


@pytest.mark.parametrize("ci", ["true", "1", "TRUE"])
def test_under_ci_a_missing_prerequisite_fails(monkeypatch: pytest.MonkeyPatch, ci: str) -> None:
    monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.fail.Exception) as e:
        missing("the thing")
    assert "scripts/install-clients.sh" in str(e.value) and ".ci/run" in str(e.value)
