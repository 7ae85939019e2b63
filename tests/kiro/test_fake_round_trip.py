"""The library pieces together against the fake Kiro over real HTTP, before any gateway: an
Anthropic request translated, sent with a managed token and the endpoint's headers, the
event-stream answer decoded, re-encoded for the anthropic SDK. Also checks that the fake
enforces what it claims (tokens, profile ARN, envelope, request rules)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from fakes.kiro import BAD_TOKEN, FakeKiro
from recorder.codecs import anthropic, kiro
from recorder.context import Context, IdFactory
from recorder.kiro.auth import AuthEndpoints, TokenManager
from recorder.kiro.credentials import EnvSource
from recorder.kiro.endpoint import GENERATIONS, Endpoint
from recorder.sse import SseEvent, encode_all
from recorder.wire.eventstream import EventStreamError
from tests.sdk import anthropic_final_message


@pytest.fixture
def fake() -> Iterator[FakeKiro]:
    f = FakeKiro().start()
    yield f
    f.stop()


def ask(
    fake: FakeKiro,
    body: dict[str, Any],
    generation: str = "runtime",
    expire_first: bool = False,
    profile: bool = True,
) -> tuple[int, bytes, Context, TokenManager]:
    ctx = Context(client="anthropic", upstream="kiro", ids=IdFactory("t"))
    ctx.requested_model = body["model"]
    kiro_body = kiro.request_from_ir(anthropic.request_to_ir(body), ctx)

    async def go() -> tuple[int, bytes, TokenManager]:
        async with httpx.AsyncClient() as client:
            tm = TokenManager(
                EnvSource({"KIRO_REFRESH_TOKEN": next(iter(fake.refresh_tokens))}),  # the live one
                client,
                AuthEndpoints(override=fake.url + "/refreshToken"),
            )
            endpoint = Endpoint(GENERATIONS[generation], "us-east-1", base_url=fake.url)
            for attempt in range(2):
                cred = await tm.current()
                if expire_first and attempt == 0:
                    fake.expire_tokens()
                payload = kiro_body | ({"profileArn": cred.profile_arn} if profile else {})
                r = await client.post(
                    endpoint.chat_url(),
                    content=json.dumps(payload),
                    headers=endpoint.chat_headers(cred),
                )
                if r.status_code == 403 and BAD_TOKEN in r.text and attempt == 0:
                    await tm.rejected(cred.access_token)
                    continue
                return r.status_code, r.content, tm
            raise AssertionError("unreachable")

    status, content, tm = asyncio.run(go())
    return status, content, ctx, tm


def to_sdk(content: bytes, ctx: Context) -> Any:
    dec = kiro.BytesDecoder(ctx)
    events = dec.feed(content) + dec.feed(b"")
    enc = anthropic.StreamEncoder(ctx)
    out: list[SseEvent] = []
    for ev in events:
        out += enc.push(ev)
    return anthropic_final_message(encode_all(out + enc.finish()))


REQ = {
    "model": "claude-sonnet-4-5-20250929",
    "max_tokens": 100,
    "system": "Be brief.",
    "tools": [
        {
            "name": "get_weather",
            "description": "Weather.",
            "input_schema": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "additionalProperties": False,
            },
        }
    ],
    "messages": [{"role": "user", "content": "Weather in Paris?"}],
}


@pytest.mark.parametrize("generation", ["runtime", "q"])
def test_text_round_trip(fake: FakeKiro, generation: str) -> None:
    status, content, ctx, _ = ask(fake, REQ, generation)
    assert status == 200, content
    msg = to_sdk(content, ctx)
    assert msg.content[0].text == "Hello world!" and msg.stop_reason == "end_turn"  # type: ignore[union-attr]
    sent = fake.chat_requests()[-1]
    assert sent.headers["authorization"] == "Bearer fake-access-1"
    assert json.loads(sent.body)["profileArn"].startswith("arn:aws:codewhisperer:")


def test_tool_and_truncated_tool(fake: FakeKiro) -> None:
    fake.script_tool("get_weather", {"city": "Paris"})
    status, content, ctx, _ = ask(fake, REQ)
    msg = to_sdk(content, ctx)
    assert msg.stop_reason == "tool_use" and msg.content[-1].input == {"city": "Paris"}  # type: ignore[union-attr]
    fake.script("truncated-tool")
    status, content, ctx, _ = ask(fake, REQ)
    msg = to_sdk(content, ctx)
    assert msg.stop_reason == "max_tokens" and [b.type for b in msg.content] == ["text"]


def test_expired_token_is_refreshed_once(fake: FakeKiro) -> None:
    status, content, ctx, tm = ask(fake, REQ, expire_first=True)
    assert status == 200
    assert fake.refreshes == ["social", "social"] and tm.cred.access_token == "fake-access-2"
    assert [r.headers["authorization"] for r in fake.chat_requests()] == [
        "Bearer fake-access-1",
        "Bearer fake-access-2",
    ]


def test_the_fake_refuses_what_it_should(fake: FakeKiro) -> None:
    status, content, _, _ = ask(fake, REQ, profile=False)
    assert status == 400 and b"profileArn is required" in content
    bad = REQ | {"model": "claude-unknown-9"}
    status, content, _, _ = ask(fake, bad)
    assert status == 400 and json.loads(content)["reason"] == "INVALID_MODEL_ID"
    err = kiro.error_to_ir(status, content)
    assert err.kind == "not_found" and "INVALID_MODEL_ID" in err.message
    fake.script("split:5+corrupt")
    status, content, ctx, _ = ask(fake, REQ)
    with pytest.raises(EventStreamError, match="message CRC mismatch"):
        to_sdk(content, ctx)
    fake.script("split:3+nested")
    status, content, ctx, _ = ask(fake, REQ)
    assert to_sdk(content, ctx).content[0].text == "Hello world!"  # type: ignore[union-attr]
