from __future__ import annotations

import asyncio
import warnings
from typing import Any

import anthropic
import httpx
import httpx2
import openai
import pytest

from replay.cassette import load
from replay.engine import NotFullyPlayedError
from replay.transport import AsyncCassetteTransport, CassetteTransport
from tests.replay.conftest import ANTHROPIC, OPENAI, recorded_body

SYSTEM = "You are terse. Today's date is 2030-01-01."  # another day: masked by matching


def _anthropic(t: CassetteTransport) -> anthropic.Anthropic:
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    return anthropic.Anthropic(
        api_key="test",
        base_url="http://replay.invalid",
        max_retries=0,
        http_client=httpx2.Client(transport=t),
    )


def test_anthropic_sdk_non_stream_and_stream() -> None:
    t = CassetteTransport(ANTHROPIC)
    client = _anthropic(t)
    msg = client.messages.create(
        model="claude-sonnet-5",
        max_tokens=256,
        system=SYSTEM,
        messages=[{"role": "user", "content": "Say hello."}],
        metadata={"user_id": "someone-else"},
    )
    assert msg.content[0].type == "text" and msg.content[0].text == "Hello!"
    assert msg.stop_reason == "end_turn"
    with client.messages.stream(
        model="claude-sonnet-5",
        max_tokens=256,
        system=SYSTEM,
        messages=[{"role": "user", "content": "Say hello, streaming."}],
        metadata={"user_id": "x"},
    ) as stream:
        final = stream.get_final_message()
    assert final.content[0].type == "text" and final.content[0].text == "Hello there, café ☕!"
    assert final.stop_reason == "end_turn" and final.usage.output_tokens == 7
    t.check()


def test_anthropic_sdk_miss_is_a_not_found_error_naming_the_closest() -> None:
    t = CassetteTransport(ANTHROPIC, strict=False)
    with pytest.raises(anthropic.NotFoundError) as info:
        _anthropic(t).messages.create(
            model="claude-sonnet-5",
            max_tokens=256,
            system=SYSTEM,
            messages=[{"role": "user", "content": "Say goodbye."}],
        )
    assert 'messages[0].content: "Say goodbye." != "Say hello."' in str(info.value)


def test_openai_async_sdk_non_stream_and_stream() -> None:
    t = AsyncCassetteTransport(OPENAI)
    system: Any = {"role": "system", "content": "You are terse."}

    async def main() -> tuple[str | None, str | None, str, str | None, int | None]:
        client = openai.AsyncOpenAI(
            api_key="test",
            base_url="http://replay.invalid/v1",
            max_retries=0,
            http_client=httpx2.AsyncClient(transport=t),
        )
        r = await client.chat.completions.create(
            model="gpt-5-mini",
            messages=[system, {"role": "user", "content": "Say hello."}],
        )
        s = await client.chat.completions.create(
            model="gpt-5-mini",
            stream=True,
            stream_options={"include_usage": True},
            messages=[system, {"role": "user", "content": "Say hello, streaming."}],
        )
        text, finish, usage = "", None, None
        async for chunk in s:
            if chunk.choices:
                text += chunk.choices[0].delta.content or ""
                finish = chunk.choices[0].finish_reason or finish
            if chunk.usage:
                usage = chunk.usage.completion_tokens
        return r.choices[0].message.content, r.choices[0].finish_reason, text, finish, usage

    assert asyncio.run(main()) == ("Hello!", "stop", "Hello there!", "stop", 4)
    t.check()


def test_openai_sync_sdk_gateway_role_and_strictness() -> None:
    strict = CassetteTransport(OPENAI, role="gateway")
    client = openai.OpenAI(
        api_key="k",
        base_url="http://replay.invalid/v1",
        max_retries=0,
        http_client=httpx2.Client(transport=strict),
    )
    r = client.chat.completions.create(
        model="gpt-5-mini",
        messages=[
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Say hello."},
        ],
    )
    assert r.choices[0].message.content == "Hello!" and r.choices[0].finish_reason == "stop"
    assert [i.index for i in strict.engine.unplayed()] == [1]
    with pytest.raises(NotFullyPlayedError, match="#1 .* was never played"):
        strict.check()
    CassetteTransport(strict.engine.cassette, strict=False).check()


def test_plain_httpx_stream_keeps_chunk_boundaries() -> None:
    t = CassetteTransport(ANTHROPIC, strict=False)
    with httpx.Client(transport=t, base_url="http://replay.invalid") as c:
        with c.stream("POST", "/v1/messages", json=recorded_body(ANTHROPIC, 1)) as r:
            chunks = list(r.iter_raw())
    up = load(ANTHROPIC).interactions[1].upstream
    assert up is not None and up.response is not None and up.response.stream is not None
    assert chunks == [c for _, c in up.response.stream.chunks()]


def test_recorded_timing_sleeps_the_recorded_gaps() -> None:
    slept: list[float] = []
    t = CassetteTransport(OPENAI, timing="recorded", sleep=slept.append, strict=False)
    with httpx.Client(transport=t) as c:
        c.post("http://r/v1/chat/completions", json=recorded_body(OPENAI, 1)).read()
    assert [round(s, 3) for s in slept] == [0.2, 0.05, 0.05]
