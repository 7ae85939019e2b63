"""Unknown options of ours stop the gateway; option errors while starting are one line."""

from __future__ import annotations

import pytest
from mitmproxy import exceptions
from mitmproxy.test import taddons

from addons.gateway_hooks import Gateway
from addons.startup import StartupCheck, repeated_option, unknown_option

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
