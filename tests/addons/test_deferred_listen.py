"""The start hook's reading of the command line (addons/deferred_listen.py): which commands get
``--set server=false``, so that mitmproxy binds nothing before the gateway checked its options.
Its effect on a real start is in tests/e2e/test_listening_e2e.py."""

from __future__ import annotations

import os

import pytest

from addons import deferred_listen
from addons.deferred_listen import GATEWAY_SCRIPT, apply, defers

MITMDUMP = "/somewhere/.venv/bin/mitmdump"
RELATIVE = os.path.relpath(GATEWAY_SCRIPT)


@pytest.mark.parametrize(
    "argv",
    [
        [MITMDUMP, "-s", GATEWAY_SCRIPT],
        [MITMDUMP, "-s", RELATIVE, "--set", "gateway_upstream=http://127.0.0.1:9/v1"],
        ["/usr/bin/mitmweb", "-s", GATEWAY_SCRIPT],
        [MITMDUMP, f"-s{RELATIVE}"],
        [MITMDUMP, f"--scripts={GATEWAY_SCRIPT}"],
        [MITMDUMP, "--set", f"scripts={GATEWAY_SCRIPT}", "-p", "9000"],
        [MITMDUMP, "--listen-host", "0.0.0.0", "-s", GATEWAY_SCRIPT],
    ],
)
def test_mitmdump_loading_the_gateway_starts_without_a_server(argv: list[str]) -> None:
    assert defers(argv)


@pytest.mark.parametrize(
    "argv",
    [
        ["/somewhere/.venv/bin/python", "-s", GATEWAY_SCRIPT],  # not mitmproxy
        ["pytest", "tests"],
        [MITMDUMP, "-s", "other/gateway.py"],  # another project's script
        [MITMDUMP, "-s", GATEWAY_SCRIPT, "--options"],  # only lists the options
        [MITMDUMP, "-s", GATEWAY_SCRIPT, "-n"],  # the user turned the server off
        [MITMDUMP, "-s", GATEWAY_SCRIPT, "--set", "server=true"],  # ... or decides it
        [MITMDUMP],
        [],
    ],
)
def test_other_commands_are_left_alone(argv: list[str]) -> None:
    assert not defers(argv)


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(deferred_listen, "deferred", False)
    monkeypatch.setattr(deferred_listen, "listen_host_given", False)


@pytest.mark.usefixtures("fresh")
def test_apply_turns_the_server_off_once_and_notes_a_chosen_address() -> None:
    argv = [MITMDUMP, "-s", GATEWAY_SCRIPT, "--set", "listen_host=0.0.0.0"]
    apply(argv)
    apply(argv)  # the .pth may be read twice (a lib64 symlink to lib)
    assert argv[-2:] == ["--set", "server=false"] and argv.count("server=false") == 1
    assert deferred_listen.deferred and deferred_listen.listen_host_given


@pytest.mark.usefixtures("fresh")
def test_apply_leaves_other_commands_and_the_default_address_alone() -> None:
    other = ["pytest", "-q"]
    apply(other)
    assert other == ["pytest", "-q"] and not deferred_listen.deferred
    argv = [MITMDUMP, "-s", GATEWAY_SCRIPT, "-p", "9000"]
    apply(argv)
    assert deferred_listen.deferred and not deferred_listen.listen_host_given


def test_the_start_hook_is_installed_with_the_project() -> None:
    """The .pth file that calls apply at interpreter start is in the environment (pyproject's
    force-include), and names this module."""
    import site
    import sysconfig

    dirs = {sysconfig.get_paths()["purelib"], *site.getsitepackages()}
    found = [os.path.join(d, "tapegate_deferred_listen.pth") for d in dirs]
    installed = [p for p in found if os.path.exists(p)]
    assert installed, found
    with open(installed[0]) as f:
        assert "addons.deferred_listen" in f.read()
