"""``gateway_upstream=<cassette dir>``: recognising a cassette, its recorded dialect, and the
Gateway routing to the replay server it starts in the running loop (mitmproxy's test context)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from mitmproxy import exceptions
from mitmproxy.test import taddons

from addons.gateway_hooks import Gateway
from addons.upstream.cassette import CassetteUpstream, recorded_dialect
from replay.cassette import Cassette, Interaction, is_cassette_dir, load

CASSETTES = Path(__file__).resolve().parents[2] / "cassettes"


@dataclass(frozen=True)
class DirCase:
    value: str
    expected: bool


@pytest.mark.parametrize(
    "case",
    [
        DirCase(str(CASSETTES / "a2o-text"), True),
        DirCase(str(CASSETTES), False),  # a folder of cassettes is not one cassette
        DirCase("http://127.0.0.1:9000", False),
        DirCase(str(CASSETTES / "missing"), False),
    ],
    ids=lambda c: c.value.rsplit("/", 1)[-1],
)
def test_is_cassette_dir(case: DirCase) -> None:
    assert is_cassette_dir(case.value) is case.expected


def test_recorded_dialect_is_the_upstream_leg_s_when_there_is_one() -> None:
    assert recorded_dialect(load(CASSETTES / "a2o-text")) == "openai"
    assert recorded_dialect(load(CASSETTES / "o2a-text")) == "anthropic"
    a2o, o2a = load(CASSETTES / "a2o-text"), load(CASSETTES / "o2a-text")
    mixed = Cassette("mixed", [*a2o.interactions, *o2a.interactions])
    assert recorded_dialect(mixed) is None  # routed in the client's own dialect
    assert recorded_dialect(Cassette("empty", [Interaction(0)])) is None


def test_a_bad_timing_is_refused() -> None:
    with pytest.raises(ValueError, match="gateway_replay_timing"):
        CassetteUpstream.open(str(CASSETTES / "a2o-text"), "soon", True)


def test_gateway_routes_to_the_replay_it_started() -> None:
    async def scenario() -> None:
        gw = Gateway()
        with taddons.context(gw) as tctx:  # type: ignore[no-untyped-call]
            tctx.configure(gw, gateway_upstream=str(CASSETTES / "a2o-text"))
            assert gw.opts.cassette is not None and gw.opts.upstream is None
            route = gw.router.default
            assert route is not None and route.dialect_for("anthropic") == "openai"  # recorded
            # Until the replay server listens, requests are aimed at the client's vendor first
            # (re-aimed once the server is started).
            assert route.backend.endpoint() is None
            assert gw.router.first_aim("anthropic")[0] is not route
            up = await route.backend.start()
            assert route.backend.endpoint() == up and gw.router.first_aim("anthropic")[0] is route
            url = up.url_for("/v1/chat/completions")
            async with httpx.AsyncClient() as http:
                miss = await http.post(url, json={"model": "x", "messages": []})
            assert miss.status_code == 404 and miss.headers["x-tapegate-replay"] == "miss"
            # Re-configuring something else keeps the same server (and its play counts).
            same = gw.cassette
            tctx.configure(gw, gateway_retries=0)
            assert gw.cassette is same
            await gw.done()

    asyncio.run(scenario())


def test_explicit_upstream_api_wins_over_the_cassette() -> None:
    async def scenario() -> None:
        gw = Gateway()
        with taddons.context(gw) as tctx:  # type: ignore[no-untyped-call]
            tctx.configure(
                gw, gateway_upstream=str(CASSETTES / "a2o-text"), gateway_upstream_api="anthropic"
            )
            assert gw.router.default is not None
            assert gw.router.default.dialect_for("openai") == "anthropic"
            await gw.done()

    asyncio.run(scenario())


def test_a_directory_without_a_cassette_is_refused(tmp_path: Path) -> None:
    gw = Gateway()
    with taddons.context(gw) as tctx:  # type: ignore[no-untyped-call]
        with pytest.raises(exceptions.OptionsError, match="no cassette.json"):
            tctx.configure(gw, gateway_upstream=str(tmp_path))
