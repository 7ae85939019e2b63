"""Replay with faults, judged by the official SDKs: over a socket (the replay server resets and
closes for real) and in-process (the transports raise what httpx raises)."""

from __future__ import annotations

import asyncio
import re
import warnings
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import httpx2
import openai
import pytest

from replay.engine import NotFullyPlayedError
from replay.faultplan import FaultPlan, FaultPlanError
from replay.server import ThreadedServer, make_engine
from replay.transport import AsyncCassetteTransport, CassetteTransport
from tests.replay.conftest import ANTHROPIC, OPENAI, recorded_body

warnings.filterwarnings("ignore", category=DeprecationWarning)


def _streamed(cassette: Any) -> dict[str, Any]:
    body = dict(recorded_body(cassette, 1))
    body.pop("stream")
    return body


def _claude(url: str = "http://replay.invalid", transport: Any = None) -> anthropic.Anthropic:
    http = httpx2.Client(transport=transport) if transport is not None else None
    return anthropic.Anthropic(base_url=url, api_key="x", max_retries=0, http_client=http)


def _gpt(url: str = "http://replay.invalid/v1", transport: Any = None) -> openai.OpenAI:
    http = httpx2.Client(transport=transport) if transport is not None else None
    return openai.OpenAI(base_url=url, api_key="x", max_retries=0, http_client=http)


@pytest.fixture
def served() -> Iterator[Any]:
    servers: list[ThreadedServer] = []

    def start(cassette: Any, *faults: str, **kw: Any) -> ThreadedServer:
        srv = ThreadedServer(make_engine(cassette, faults=faults, **kw))
        servers.append(srv)
        return srv

    yield start
    for s in servers:
        s.stop()


# --------------------------------------------------------------------------- over a socket


def test_mid_stream_error_is_the_sdks_api_error(served: Any) -> None:
    srv = served(ANTHROPIC, "1=error@2:overloaded", strict=False)
    with pytest.raises(anthropic.APIStatusError) as info:
        with _claude(srv.url).messages.stream(**_streamed(ANTHROPIC)) as s:
            s.get_final_message()
    assert info.value.body == {
        "type": "error",
        "error": {
            "type": "overloaded_error",
            "message": "Overloaded (fault injected by tapegate: error@2:overloaded)",
        },
    }


def test_openai_mid_stream_error(served: Any) -> None:
    srv = served(OPENAI, "error@3:rate_limit", strict=False)
    body = _streamed(OPENAI)
    with pytest.raises(openai.APIError, match="Rate limit exceeded"):
        for _ in _gpt(srv.url + "/v1").chat.completions.create(**body, stream=True):
            pass


def test_status_with_retry_after_on_a_whole_body(served: Any) -> None:
    srv = served(ANTHROPIC, "0=status:529:retry-after=2", strict=False)
    with pytest.raises(anthropic.OverloadedError) as info:
        _claude(srv.url).messages.create(**recorded_body(ANTHROPIC, 0))
    assert info.value.status_code == 529
    assert info.value.response.headers["retry-after"] == "2"
    assert info.value.response.headers["x-tapegate-fault"] == "status:529:retry-after=2"
    assert info.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]


def test_status_on_a_stream_request(served: Any) -> None:
    srv = served(OPENAI, "status:503", strict=False)
    with pytest.raises(openai.InternalServerError) as info:
        _gpt(srv.url + "/v1").chat.completions.create(**_streamed(OPENAI), stream=True)
    assert info.value.status_code == 503


def test_a_faulted_interaction_answers_the_sdks_retries_with_the_same_fault(served: Any) -> None:
    srv = served(ANTHROPIC, "0=status:529:retry-after=0")
    client = anthropic.Anthropic(base_url=srv.url, api_key="x", max_retries=1)
    with pytest.raises(anthropic.OverloadedError):
        client.messages.create(**recorded_body(ANTHROPIC, 0))
    assert srv.engine.play_counts()[0] == 2 and not srv.engine.misses


def test_truncate_closes_a_complete_http_body_without_the_terminal_event(served: Any) -> None:
    srv = served(ANTHROPIC, "1=truncate@3", strict=False)
    with _claude(srv.url).messages.stream(**_streamed(ANTHROPIC)) as s:
        msg = s.get_final_message()
    assert msg.stop_reason is None  # the SDK does not notice; a careful client checks this
    with httpx.Client() as c:
        r = c.post(srv.url + "/v1/messages", json=recorded_body(ANTHROPIC, 1))
    assert r.headers["connection"] == "close" and r.text.count("event: ") == 3


def test_reset_mid_stream_is_a_connection_reset(served: Any) -> None:
    srv = served(ANTHROPIC, "1=reset@2", strict=False)
    with pytest.raises(httpx2.ReadError, match="reset"):
        with _claude(srv.url).messages.stream(**_streamed(ANTHROPIC)) as s:
            s.get_final_message()
    # the server keeps serving after resetting one connection
    assert _claude(srv.url).messages.create(**recorded_body(ANTHROPIC, 0)).stop_reason


def test_reset_before_a_whole_body_is_a_connection_error(served: Any) -> None:
    srv = served(ANTHROPIC, "0=reset@0", strict=False)
    with pytest.raises(anthropic.APIConnectionError):
        _claude(srv.url).messages.create(**recorded_body(ANTHROPIC, 0))


@pytest.mark.parametrize("spec", ["rechunk:bytes", "rechunk:split", "rechunk:coalesce"])
def test_rechunking_is_harmless_to_the_sdks(served: Any, spec: str) -> None:
    srv = served(ANTHROPIC, spec, strict=False)
    with _claude(srv.url).messages.stream(**_streamed(ANTHROPIC)) as s:
        msg = s.get_final_message()
    assert msg.content[0].text == "Hello there, café ☕!" and msg.stop_reason == "end_turn"  # type: ignore[union-attr]
    srv = served(OPENAI, spec, strict=False)
    text = "".join(
        c.choices[0].delta.content or ""
        for c in _gpt(srv.url + "/v1").chat.completions.create(**_streamed(OPENAI), stream=True)
        if c.choices
    )
    assert text == "Hello there!"


def test_drop_done_the_openai_sdk_reads_a_finished_answer(served: Any) -> None:
    srv = served(OPENAI, "drop-done", strict=False)
    chunks = list(_gpt(srv.url + "/v1").chat.completions.create(**_streamed(OPENAI), stream=True))
    assert chunks[-1].choices == [] or chunks[-1].choices[0].finish_reason == "stop"
    assert any(c.choices and c.choices[0].finish_reason == "stop" for c in chunks)


def test_garbage_breaks_the_sdks_reader(served: Any) -> None:
    srv = served(ANTHROPIC, "garbage@2", strict=False)
    with pytest.raises(UnicodeDecodeError):
        with _claude(srv.url).messages.stream(**_streamed(ANTHROPIC)) as s:
            s.get_final_message()


def test_stall_sleeps_where_the_fault_says() -> None:
    delays: list[float] = []

    async def sleep(d: float) -> None:
        delays.append(d)

    eng = make_engine(ANTHROPIC, faults=["1=stall@2:750", "0=stall@0:250"])
    with ThreadedServer(eng, sleep=sleep) as srv:
        with httpx.Client() as c:
            c.post(srv.url + "/v1/messages", json=recorded_body(ANTHROPIC, 0))
            r = c.post(srv.url + "/v1/messages", json=recorded_body(ANTHROPIC, 1))
    assert delays == [0.25, 0.75] and r.text.count("event: ") > 3


def test_as_gateway_faults_the_client_leg(served: Any) -> None:
    srv = served(OPENAI, "1=error@2:overloaded", role="gateway", strict=False)
    with pytest.raises(openai.APIError, match="Overloaded"):
        body = dict(recorded_body(OPENAI, 1, leg="client"))
        body.pop("stream")
        for _ in _gpt(srv.url + "/v1").chat.completions.create(**body, stream=True):
            pass


# --------------------------------------------------------------------------- in-process


def test_transport_reset_raises_read_error() -> None:
    t = CassetteTransport(ANTHROPIC, strict=False, faults=["1=reset@3"])
    with pytest.raises(httpx2.ReadError):
        with _claude(transport=t).messages.stream(**_streamed(ANTHROPIC)) as s:
            s.get_final_message()
    t = CassetteTransport(ANTHROPIC, strict=False, faults=["0=reset@0"])
    with pytest.raises(anthropic.APIConnectionError):
        _claude(transport=t).messages.create(**recorded_body(ANTHROPIC, 0))


def test_async_transport_error_and_stall() -> None:
    slept: list[float] = []

    async def sleep(d: float) -> None:
        slept.append(d)

    t = AsyncCassetteTransport(
        OPENAI, strict=False, faults=["1=stall@1:40,error@4:timeout"], sleep=sleep
    )

    async def main() -> None:
        client = openai.AsyncOpenAI(
            base_url="http://replay.invalid/v1", api_key="x", max_retries=0,
            http_client=httpx2.AsyncClient(transport=t),
        )  # fmt: skip
        stream = await client.chat.completions.create(**_streamed(OPENAI), stream=True)
        with pytest.raises(openai.APIError, match="timed out"):
            async for _ in stream:
                pass

    asyncio.run(main())
    assert slept == [0.04]


# --------------------------------------------------------------------------- the plan


def test_a_faulted_run_may_stop_early_but_may_not_miss() -> None:
    t = CassetteTransport(ANTHROPIC, faults=["1=truncate@2"])
    with pytest.raises(NotFullyPlayedError, match="never played"):
        t.engine.check()
    t.engine.check(unplayed=False)  # what the pytest plugin does in a faulted run
    with httpx.Client(transport=t) as c:
        c.post("http://replay/v1/messages", json={"model": "nope"})
    with pytest.raises(NotFullyPlayedError, match="miss"):
        t.engine.check(unplayed=False)


@pytest.mark.parametrize(
    ("faults", "message"),
    [
        (["7=truncate@2"], "has no interaction 7 to serve (served: 0, 1)"),
        (["0=truncate@2"], "interaction 0 is not a stream"),
        (["1=truncate@99"], "interaction 1 has 8 events, so truncate@99 has no place"),
        (["1=drop-done"], None),
        (["truncate@40"], "fits no interaction"),
        (["truncate@1", "stall@1:5"], "two faults for every interaction"),
        (["1=truncate@1", "1=stall@1:5"], "two faults for interaction 1"),
        (["1=explode"], "unknown fault"),
    ],
)
def test_a_fault_that_cannot_happen_fails_at_start(faults: list[str], message: str | None) -> None:
    if message is None:  # Anthropic's message_stop is an end marker: drop-done fits
        make_engine(ANTHROPIC, faults=faults)
        return
    with pytest.raises(ValueError, match=re.escape(message)):
        make_engine(ANTHROPIC, faults=faults)


def test_a_fault_for_every_interaction_notes_where_it_does_not_fit() -> None:
    eng = make_engine(ANTHROPIC, faults=["truncate@2"])
    assert eng.fault_notes == [
        "fault truncate@2 left out of interaction 0: is not a stream (a whole body takes only "
        "status, stall@0 and reset@0)"
    ]
    assert str(FaultPlan.parse(["truncate@2", "0=status:500"])) == "truncate@2 0=status:500"
    with pytest.raises(FaultPlanError):
        FaultPlan.parse(["status:500", "reset@0"])
