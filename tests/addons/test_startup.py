"""Unknown options of ours stop the gateway; option errors while starting are one line."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pytest
from mitmproxy import exceptions
from mitmproxy.test import taddons

from addons.gateway_hooks import Gateway
from addons.startup import (
    LISTEN_FAILURES,
    PROXYSERVER_LOG,
    ListenFailures,
    StartupCheck,
    ValueCheck,
    listen_failure,
    listen_refusal,
    repeated_option,
    unknown_option,
    unparsable_value,
)

KNOWN = ["gateway_upstream", "gateway_upstream_api", "recorder_db", "otel_endpoint", "listen_host"]


@pytest.mark.parametrize(
    "given, expected",
    [
        (["gateway_upstrem"], "unknown option gateway_upstrem; did you mean gateway_upstream?"),
        (["gatway_upstream"], "unknown option gatway_upstream; did you mean gateway_upstream?"),
        (["recorder_dbb"], "unknown option recorder_dbb; did you mean recorder_db?"),
        (["gateway_colour"], "unknown option gateway_colour (mitmdump"),  # ours, nothing close
        (["otel_endpont", "zzz"], "did you mean otel_endpoint?"),
        # spelt as an environment variable: it was silently ignored
        (["GATEWAY_UPSTREAM"], "unknown option GATEWAY_UPSTREAM; did you mean gateway_upstream?"),
        (["Recorder_Db"], "unknown option Recorder_Db; did you mean recorder_db?"),
    ],
)
def test_an_unknown_option_of_ours_is_named_with_the_closest(
    given: list[str], expected: str
) -> None:
    message = unknown_option(given, KNOWN)
    assert message is not None and expected in message


def test_once_every_script_has_loaded_an_option_of_ours_without_its_prefix_is_named() -> None:
    """``--set upstream=URL`` sent prompts to the vendors' APIs without a word; before every
    script has loaded it may still be a later addon's."""
    assert unknown_option(["upstream"], KNOWN) is None
    for given, ours in [("upstream", "gateway_upstream"), ("DB", "recorder_db"),
                        ("upstream_api", "gateway_upstream_api")]:  # fmt: skip
        message = unknown_option([given], KNOWN, all_loaded=True)
        assert message is not None and f"unknown option {given}; did you mean {ours}?" in message
    assert unknown_option(["block_global", "level"], KNOWN, all_loaded=True) is None


def test_an_unknown_option_left_when_mitmproxy_runs_stops_the_start(
    caplog: pytest.LogCaptureFixture,
) -> None:
    check = StartupCheck()
    with taddons.context(check, Gateway()) as tctx:
        tctx.options.deferred["upstream"] = "http://127.0.0.1:1/v1"
        check.running()
    assert "tapegate: unknown option upstream; did you mean gateway_upstream?" in caplog.text


def test_the_gateway_as_the_last_script_checks_options_without_prefix_at_configure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Before the recorder opens its database (a start refused at running() left an empty
    traffic.duckdb behind); with another script after it, only once every script ran."""
    check, gw = StartupCheck(), Gateway()
    with taddons.context(check, gw) as tctx:
        tctx.options.add_option("scripts", Sequence[str], [], "mitmproxy's -s")
        tctx.options.scripts = ["addons/gateway.py", "other.py"]
        tctx.options.deferred["upstream"] = "http://127.0.0.1:1/v1"
        tctx.configure(check, gateway_upstream="")  # other.py may declare it
        with pytest.raises(exceptions.OptionsError, match="did you mean gateway_upstream"):
            tctx.configure(check, scripts=["other.py", "addons/gateway.py"])


def test_options_of_other_addons_are_theirs() -> None:
    assert unknown_option(["block_global", "myaddon_level"], KNOWN) is None
    assert unknown_option([], KNOWN) is None


def test_a_deferred_option_of_ours_is_refused() -> None:
    check, gw = StartupCheck(), Gateway()
    with taddons.context(check, gw) as tctx:
        tctx.options.deferred["gateway_upstrem"] = "http://127.0.0.1:1/v1"
        with pytest.raises(exceptions.OptionsError, match="did you mean gateway_upstream"):
            tctx.configure(check, gateway_upstream="")


class _Unconverted:  # mitmproxy's deferred --set strings
    def __init__(self, *val: str) -> None:
        self.val = list(val)


def test_an_option_of_ours_given_twice_is_named() -> None:
    deferred = {"gateway_retries": _Unconverted("1", "2"), "other_addon": _Unconverted("a", "b")}
    assert repeated_option(deferred) == "gateway_retries is set 2 times ('1', '2'): set it once"
    assert repeated_option({"gateway_retries": _Unconverted("1")}) is None


class _Script:  # a loaded script: mitmproxy loads its addons together, then converts --set values
    def __init__(self, *addons: object) -> None:
        self.addons = list(addons)


@pytest.mark.parametrize(
    "given, expected",
    [
        ("gateway_retries=abc", "gateway_retries must be a whole number, got 'abc'"),
        ("gateway_http2=yes", "gateway_http2 must be true or false, got 'yes'"),
        ("gateway_allow_remote=1", "gateway_allow_remote must be true or false, got '1'"),
    ],
)
def test_a_value_of_ours_that_does_not_convert_is_named(given: str, expected: str) -> None:
    """mitmproxy dropped the whole gateway script without a word when a --set value of one of
    its options did not convert: mitmdump started no gateway (or hung, never listening)."""
    with taddons.context() as tctx:
        tctx.options.set(given, defer=True)
        with pytest.raises(exceptions.OptionsError) as refused:
            tctx.master.addons.register(_Script(StartupCheck(), Gateway(), ValueCheck()))
        assert str(refused.value) == expected


def test_values_that_convert_pass() -> None:
    with taddons.context() as tctx:
        given = ("gateway_retries=3", "gateway_http2", "gateway_allow_remote=false")
        tctx.options.set(*given, defer=True)
        tctx.master.addons.register(_Script(StartupCheck(), Gateway(), ValueCheck()))
        assert tctx.options.gateway_retries == 3 and tctx.options.gateway_http2 is True


def test_undeclared_and_repeated_values_are_left_to_the_other_checks() -> None:
    class Given:
        def __init__(self, *val: str) -> None:
            self.val = list(val)

    class Declared:
        typespec = int

    declared = {"gateway_retries": Declared()}
    assert unparsable_value({"other_addon_n": Given("abc")}, declared) is None
    assert unparsable_value({"gateway_retries": Given("1", "x")}, declared) is None
    assert unparsable_value({"gateway_retries": Given("x")}, declared) is not None


BUSY = (
    "[Errno 98] HTTP(S) proxy failed to listen on 127.0.0.1:8080 with [Errno 98] error while "
    "attempting to bind on address ('127.0.0.1', 8080): address already in use\n"
    "Try specifying a different port by using `--mode regular@8082`."
)


def test_a_listen_failure_is_one_line() -> None:
    assert listen_refusal(BUSY) == (
        "cannot listen on 127.0.0.1:8080: address already in use (another gateway there? "
        "-p PORT listens on another port)"
    )
    denied = BUSY.replace("8080", "80").replace("address already in use", "permission denied")
    assert listen_refusal(denied) == "cannot listen on 127.0.0.1:80: permission denied"


def test_mitmproxys_listen_error_is_kept_out_of_the_log_while_starting() -> None:
    failures = ListenFailures()
    record = logging.LogRecord(PROXYSERVER_LOG, logging.ERROR, "", 0, BUSY, None, None)
    empty = logging.LogRecord(PROXYSERVER_LOG, logging.ERROR, "", 0, "", None, None)
    other = logging.LogRecord(PROXYSERVER_LOG, logging.INFO, "", 0, "listening at x", None, None)
    assert not failures.filter(record) and not failures.filter(empty) and failures.filter(other)
    assert failures.seen == [BUSY]
    failures.active = False  # started: mitmproxy's own words again (a mode changed in mitmweb)
    assert failures.filter(record) and failures.filter(empty)


class _Server:
    def __init__(self, running: bool) -> None:
        self.is_running = running


class _ProxyServer:
    name = "proxyserver"

    def __init__(self, *running: bool) -> None:
        self.servers = _Servers([_Server(r) for r in running])


class _Servers(list[_Server]):
    is_updating = False


@pytest.mark.parametrize("running", [(True,), ()])
def test_listening_or_no_listener_is_no_failure(running: tuple[bool, ...]) -> None:
    with taddons.context(_ProxyServer(*running)) as tctx:
        assert listen_failure(tctx.master) is None


def test_a_listener_that_did_not_bind_is_the_failure_mitmproxy_logged(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(LISTEN_FAILURES, "seen", [BUSY])
    monkeypatch.setattr(LISTEN_FAILURES, "active", True)
    with taddons.context(_ProxyServer(True, False)) as tctx:
        failure = listen_failure(tctx.master)
    assert failure is not None and failure.startswith("cannot listen on 127.0.0.1:8080: address")
    assert not LISTEN_FAILURES.active
