"""Cross-dialect stream translation, judged by the official SDKs and by the dialects' grammars.

Every upstream stream is translated the way the gateway does it (``StreamTranslator``), checked
against the client dialect's event grammar, accumulated by the client's official SDK (text, tool
arguments, stop reason and usage asserted), fed split at every byte offset (the output must not
change), and snapshotted as readable JSON events.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import anthropic
import openai
import pytest
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

from recorder.context import Context, IdFactory
from recorder.ir import Dialect
from recorder.sse import SseParser
from recorder.translate import StreamTranslator
from tests.grammar import check_anthropic_stream, check_openai_stream
from tests.sdk import anthropic_final_message
from tests.sdk_openai import openai_final_completion
from tests.translate.streams import (
    ANTHROPIC_FAILING_STREAMS,
    ANTHROPIC_STREAMS,
    OPENAI_FAILING_STREAMS,
    OPENAI_STREAMS,
)


@pytest.fixture
def snapshot_json(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    return snapshot.use_extension(JSONSnapshotExtension)


def translate(
    raw: bytes, *, client: Dialect, upstream: Dialect, cuts: tuple[int, ...] = ()
) -> bytes:
    ctx = Context(client=client, upstream=upstream, ids=IdFactory("test"), created=1700000000)
    ctx.include_usage = True
    st = StreamTranslator(ctx)
    out, prev = [], 0
    for cut in (*cuts, len(raw)):
        if raw[prev:cut]:
            out.append(st.feed(raw[prev:cut]))
        prev = cut
    out.append(st.close())
    return b"".join(out)


def events(raw: bytes) -> list[dict[str, Any]]:
    """Readable form for snapshots: event name plus parsed data."""
    p = SseParser()
    evs = p.feed(raw) + p.close()
    out = []
    for e in evs:
        if e.comment is not None:
            out.append({"comment": e.comment})
            continue
        try:
            data: Any = json.loads(e.data or "")
        except ValueError:
            data = e.data
        out.append({"event": e.event, "data": data} if e.event else {"data": data})
    return out


def assert_split_invariant(raw: bytes, client: Dialect, upstream: Dialect) -> bytes:
    whole = translate(raw, client=client, upstream=upstream)
    for i in range(1, len(raw)):
        assert translate(raw, client=client, upstream=upstream, cuts=(i,)) == whole, f"split at {i}"
    return whole


@dataclass(frozen=True)
class Expect:
    text: str = ""
    tools: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    thinking: str = ""
    stop: str = "end_turn"
    output_tokens: int | None = None
    input_tokens: int | None = None  # as the client dialect reports it
    cache_read: int | None = None


TO_ANTHROPIC: dict[str, Expect] = {
    "text": Expect("Hello, world", output_tokens=7, input_tokens=12),
    "tool_fragmented": Expect("Checking.", [("get_weather", {"city": "Paris"})], stop="tool_use"),
    "tool_args_in_first_chunk": Expect(tools=[("get_weather", {"city": "Paris"})], stop="tool_use"),
    "tool_name_arrives_late": Expect(tools=[("get_weather", {"city": "Oslo"})], stop="tool_use"),
    "parallel_tools": Expect(
        tools=[("get_weather", {"city": "A"}), ("get_time", {"tz": "UTC"})], stop="tool_use"
    ),
    "mistral_whole_calls_without_index": Expect(
        tools=[("get_weather", {"city": "Rome"})], stop="tool_use", output_tokens=3
    ),
    "reasoning_content": Expect("42", thinking="Let me think about it."),
    "reasoning_field": Expect("ok", thinking="hmm"),
    "think_tags_split": Expect("The answer is 4.", thinking="pondering more"),
    "usage_every_chunk": Expect("ab", output_tokens=2),
    "content_and_finish_same_chunk": Expect("all at once"),
    "cached_usage": Expect("hi", input_tokens=20, cache_read=80),
    "length": Expect("cut", stop="max_tokens"),
    "content_filter": Expect("no", stop="refusal"),
    "keepalive_comments": Expect("x"),
    "azure_empty_first_chunk": Expect("hi"),
    "crlf_framing": Expect("crlf"),
    "utf8_multibyte": Expect("héllo 漢字 🙂", [("say", {"t": "€"})], stop="tool_use"),
}

TO_OPENAI: dict[str, Expect] = {
    "text": Expect("Hello, world", stop="stop", output_tokens=9, input_tokens=20),
    "tool": Expect("Checking.", [("get_weather", {"city": "Paris"})], stop="tool_calls"),
    "tool_without_arguments": Expect(tools=[("list_files", {})], stop="tool_calls"),
    "thinking": Expect("42", thinking="Let me see.", stop="stop"),
    "max_tokens": Expect("cut", stop="length"),
    "cache_usage": Expect("hi", stop="stop", input_tokens=95, cache_read=90),
}


def test_every_fixture_has_an_expectation() -> None:
    assert set(TO_ANTHROPIC) == set(OPENAI_STREAMS)
    assert set(TO_OPENAI) == set(ANTHROPIC_STREAMS)


@pytest.mark.parametrize("name", sorted(OPENAI_STREAMS))
def test_openai_upstream_to_anthropic_client(name: str, snapshot_json: SnapshotAssertion) -> None:
    out = assert_split_invariant(OPENAI_STREAMS[name], client="anthropic", upstream="openai")
    evs = events(out)
    check_anthropic_stream(evs)
    exp = TO_ANTHROPIC[name]
    msg = anthropic_final_message(out)
    assert msg.stop_reason == exp.stop
    text = "".join(b.text for b in msg.content if b.type == "text")
    thinking = "".join(b.thinking for b in msg.content if b.type == "thinking")
    tools = [(b.name, b.input) for b in msg.content if b.type == "tool_use"]
    assert (text, thinking, tools) == (exp.text, exp.thinking, exp.tools)
    if exp.output_tokens is not None:
        assert msg.usage.output_tokens == exp.output_tokens
    if exp.input_tokens is not None:
        assert msg.usage.input_tokens == exp.input_tokens
    if exp.cache_read is not None:
        assert msg.usage.cache_read_input_tokens == exp.cache_read
    assert evs == snapshot_json


@pytest.mark.parametrize("name", sorted(ANTHROPIC_STREAMS))
def test_anthropic_upstream_to_openai_client(name: str, snapshot_json: SnapshotAssertion) -> None:
    out = assert_split_invariant(ANTHROPIC_STREAMS[name], client="openai", upstream="anthropic")
    evs = events(out)
    check_openai_stream(evs)
    exp = TO_OPENAI[name]
    done = openai_final_completion(out)
    choice = done.choices[0]
    assert choice.finish_reason == exp.stop
    assert (choice.message.content or "") == exp.text
    extra = choice.message.model_extra or {}
    assert (extra.get("reasoning_content") or "") == exp.thinking
    tools = [
        (t.function.name, json.loads(t.function.arguments)) for t in choice.message.tool_calls or []
    ]
    assert tools == exp.tools
    if exp.output_tokens is not None:
        assert done.usage is not None and done.usage.completion_tokens == exp.output_tokens
    if exp.input_tokens is not None:
        assert done.usage is not None and done.usage.prompt_tokens == exp.input_tokens
    if exp.cache_read is not None:
        assert done.usage is not None and done.usage.prompt_tokens_details is not None
        assert done.usage.prompt_tokens_details.cached_tokens == exp.cache_read
    assert evs == snapshot_json


@pytest.mark.parametrize("name", sorted(OPENAI_FAILING_STREAMS))
def test_broken_openai_upstream_reaches_anthropic_client_as_an_error(name: str) -> None:
    out = assert_split_invariant(
        OPENAI_FAILING_STREAMS[name], client="anthropic", upstream="openai"
    )
    evs = events(out)
    assert evs[-1].get("event") == "error", evs[-1]
    assert "message_stop" not in [e.get("event") for e in evs]
    with pytest.raises((anthropic.APIError, ValueError)):
        anthropic_final_message(out)


@pytest.mark.parametrize("name", sorted(ANTHROPIC_FAILING_STREAMS))
def test_broken_anthropic_upstream_reaches_openai_client_as_an_error(name: str) -> None:
    out = assert_split_invariant(
        ANTHROPIC_FAILING_STREAMS[name], client="openai", upstream="anthropic"
    )
    evs = events(out)
    assert "error" in evs[-1].get("data", {}), evs[-1]
    assert {"data": "[DONE]"} not in evs
    with pytest.raises(openai.APIError):
        openai_final_completion(out)
