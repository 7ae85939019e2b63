"""Which deadline an exchange is under (addons/upstream/policy.py: next_deadline, pure)."""

from __future__ import annotations

import pytest
from mitmproxy.test import taddons

from addons.gateway_hooks import Gateway
from addons.options import read_options
from addons.upstream.policy import RetryPolicy, next_deadline

P = RetryPolicy(first_token_timeout=0, first_byte_timeout=600, idle_timeout=300, total_timeout=3600)


def test_waiting_for_the_head_is_the_first_byte_deadline() -> None:
    d = next_deadline(P, "head", sent=10.0)
    assert d is not None and (d.at, d.option) == (610.0, "gateway_first_byte_timeout")
    assert "gateway_first_byte_timeout" in d.message and "600s" in d.message


def test_a_whole_body_must_arrive_within_the_idle_time_after_its_head() -> None:
    d = next_deadline(P, "body", sent=10.0, head=20.0)
    assert d is not None and (d.at, d.option) == (320.0, "gateway_idle_timeout")


def test_a_stream_is_idle_from_its_last_whole_event() -> None:
    assert next_deadline(P, "stream", sent=0.0, head=5.0).at == 305.0  # type: ignore[union-attr]
    later = next_deadline(P, "stream", sent=0.0, head=5.0, last_event=100.0)
    assert later is not None and later.at == 400.0


def test_the_total_deadline_bounds_a_stream_that_never_idles() -> None:
    d = next_deadline(P, "stream", sent=0.0, head=1.0, last_event=3500.0)
    assert d is not None and (d.at, d.option) == (3600.0, "gateway_total_timeout")


def test_a_stream_read_whole_has_only_the_total() -> None:
    d = next_deadline(P, "collect", sent=0.0, head=1.0)
    assert d is not None and d.option == "gateway_total_timeout"


@pytest.mark.parametrize("phase", ["head", "body", "stream"])
def test_first_token_holds_until_a_token_or_the_bodys_end(phase: str) -> None:
    p = RetryPolicy(first_token_timeout=5)
    d = next_deadline(p, phase, sent=0.0, head=1.0)  # type: ignore[arg-type]
    assert d is not None and (d.at, d.option) == (5.0, "gateway_first_token_timeout")
    after = next_deadline(p, phase, sent=0.0, head=1.0, first_token=True)  # type: ignore[arg-type]
    assert after is not None and after.option != "gateway_first_token_timeout"


def test_zero_is_no_limit() -> None:
    none = RetryPolicy(first_byte_timeout=0, idle_timeout=0, total_timeout=0)
    for phase in ("head", "body", "collect", "stream"):
        assert next_deadline(none, phase, sent=0.0, head=1.0) is None  # type: ignore[arg-type]


def test_by_default_no_phase_of_an_exchange_waits_forever() -> None:
    """The issue's hangs happened with default options: a head then silence, a trickle."""
    gw = Gateway()
    with taddons.context(gw) as tctx:
        policy = read_options(tctx.options).policy
    assert policy.connect_timeout > 0
    for phase in ("head", "body", "collect", "stream"):
        d = next_deadline(policy, phase, sent=0.0, head=1.0)
        assert d is not None and d.at <= 3600, phase
