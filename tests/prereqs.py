"""What a test needs installed before it starts, and what happens when it is not there.

No test installs or downloads anything: ``scripts/install-clients.sh`` (run by ``.ci/run``
before the tests) installs the real clients and the SDK environments the tests drive. A test
whose prerequisite is missing calls :func:`missing`: on a developer's machine it skips and names
the command that installs it; under ``CI=true`` it fails, because there ``.ci/run`` should have
installed it and a skip would hide the missing step behind a green run.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

INSTALL = "scripts/install-clients.sh"


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def missing(what: str, install: str = INSTALL) -> NoReturn:
    """Skip (or, under CI=true, fail) the running test: ``what`` is not installed."""
    msg = f"{what} is not installed; install it with `{install}`"
    if in_ci():
        pytest.fail(f"{msg} (CI=true: .ci/run runs it before the tests)", pytrace=False)
    pytest.skip(msg)
