"""Large request bodies are read and rewritten by a worker process (addons/request/body.py), with
the same results as small ones read on the event loop."""

from __future__ import annotations

import asyncio
import gzip
import json

from addons.request import body as bodies
from recorder.codecs.responses_history import Turn
from recorder.context import Context, IdFactory
from recorder.request_body import Refused

MESSAGES = [{"role": "user", "content": f"message {i}"} for i in range(60_000)]
LONG_TOOL = "mcp__" + "x" * 80  # too long for OpenAI: renamed, and the context remembers it
TOOLS = [{"name": LONG_TOOL, "description": "d", "input_schema": {"type": "object"}}]
BIG = {"model": "claude-x", "max_tokens": 5, "stream": True, "messages": MESSAGES, "tools": TOOLS}


def _translate(raw: bytes, encoding: str | None = None) -> tuple[object, object, Context]:
    async def go() -> tuple[object, object, Context]:
        ctx = Context("anthropic", "openai", ids=IdFactory("t"))
        try:
            async with bodies.open_body("t", raw, encoding, 64 << 20, 64, "anthropic") as read:
                if isinstance(read, Refused):
                    return read, None, ctx
                seen = (read.model, read.stream)
                return seen, await read.rewrite("gpt-x", "claude-x", ctx), ctx
        finally:
            await bodies.shutdown()

    return asyncio.run(go())


def test_a_large_body_is_translated_in_the_worker_like_a_small_one() -> None:
    raw = json.dumps(BIG).encode()
    assert len(raw) > bodies.OFFLOAD_BYTES
    seen, new, ctx = _translate(raw)
    assert seen == ("claude-x", True)
    assert isinstance(new, bytes)
    sent = json.loads(new)
    assert sent["model"] == "gpt-x" and len(sent["messages"]) == len(MESSAGES)
    assert LONG_TOOL in ctx.tool_names.to_wire  # the translation filled the gateway's context
    small = dict(BIG, messages=MESSAGES[:3])
    _, small_new, _ = _translate(json.dumps(small).encode())
    assert isinstance(small_new, bytes)
    assert json.loads(small_new)["messages"] == sent["messages"][:3]


def test_a_large_body_is_checked_and_decoded_in_the_worker() -> None:
    nested: list[object] = []
    for _ in range(70):
        nested = [nested]
    got, _, _ = _translate(json.dumps(dict(BIG, metadata={"x": nested})).encode())
    assert isinstance(got, Refused) and "gateway_max_json_depth" in got.message
    packed = gzip.compress(json.dumps(dict(BIG, messages=MESSAGES * 10)).encode())
    assert len(packed) > bodies.OFFLOAD_BYTES
    seen, new, _ = _translate(packed, "gzip")
    assert seen == ("claude-x", True) and isinstance(new, bytes)


def test_a_large_body_continuing_a_recorded_answer_is_written_out_in_the_worker() -> None:
    earlier = Turn(
        {"model": "gpt-r", "input": "first question"},
        {
            "id": "resp_1",
            "output": [
                {
                    "type": "message",
                    "role": "assistant",
                    "status": "done",
                    "content": [{"type": "output_text", "text": "first answer"}],
                }
            ],
        },
    )
    items = [{"role": "user", "content": f"item {i}"} for i in range(40_000)]
    body = {"model": "gpt-r", "previous_response_id": "resp_1", "input": items}
    raw = json.dumps(body).encode()
    assert len(raw) > bodies.OFFLOAD_BYTES

    async def go() -> tuple[object, bytes | None]:
        ctx = Context("responses", "openai", ids=IdFactory("t"))
        try:
            async with bodies.open_body("t", raw, None, 64 << 20, 64, "responses") as read:
                assert not isinstance(read, Refused)
                return read.continues, await read.rewrite(None, "gpt-r", ctx, {"resp_1": earlier})
        finally:
            await bodies.shutdown()

    continues, new = asyncio.run(go())
    assert continues == "resp_1" and isinstance(new, bytes)
    messages = json.loads(new)["messages"]
    assert [m["content"] for m in messages[:2]] == ["first question", "first answer"]
    assert len(messages) == 2 + len(items)
