"""Stream translation to and from the OpenAI Responses API, judged by the official SDKs and by
the dialects' grammars.

Every upstream stream is translated the way the gateway does it (``StreamTranslator``), checked
against the client dialect's event grammar (for a Responses client: sequence numbers, item and
part identities, ``.done`` texts equal to the deltas, one terminal event whose response holds
exactly the streamed items), accumulated by the client's official SDK, fed split at every byte
offset (the output must not change), and snapshotted as readable JSON events.
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

from fakes import replies
from recorder.context import Context, IdFactory
from recorder.ir import Dialect
from recorder.translate import StreamTranslator
from tests.grammar import check_anthropic_stream, check_openai_stream, check_responses_stream
from tests.sdk import anthropic_final_message
from tests.sdk_openai import openai_final_completion, responses_final, responses_terminal
from tests.translate.streams import (
    ANTHROPIC_FAILING_STREAMS,
    ANTHROPIC_STREAMS,
    DONE,
    OPENAI_FAILING_STREAMS,
    OPENAI_STREAMS,
    RESPONSES_FAILING_STREAMS,
    RESPONSES_STREAMS,
    ROLE,
    oa,
    oa_usage,
    tc,
)
from tests.translate.test_streams import events


@pytest.fixture
def snapshot_json(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    return snapshot.use_extension(JSONSnapshotExtension)


def translate(
    raw: bytes,
    *,
    client: Dialect,
    upstream: Dialect,
    cuts: tuple[int, ...] = (),
    custom_tools: frozenset[str] = frozenset(),
) -> bytes:
    ctx = Context(client=client, upstream=upstream, ids=IdFactory("test"), created=1700000000)
    ctx.include_usage = True
    ctx.custom_tools = set(custom_tools)
    st = StreamTranslator(ctx)
    out, prev = [], 0
    for cut in (*cuts, len(raw)):
        if raw[prev:cut]:
            out.append(st.feed(raw[prev:cut]))
        prev = cut
    out.append(st.close())
    return b"".join(out)


def split_invariant(raw: bytes, client: Dialect, upstream: Dialect, **kw: Any) -> bytes:
    whole = translate(raw, client=client, upstream=upstream, **kw)
    for i in range(1, len(raw)):
        cut = translate(raw, client=client, upstream=upstream, cuts=(i,), **kw)
        assert cut == whole, f"split at {i}"
    return whole


@dataclass(frozen=True)
class Expect:
    text: str = ""
    tools: list[tuple[str, Any]] = field(default_factory=list)  # (name, args dict | raw input)
    thinking: str = ""
    status: str = "completed"
    input_tokens: int | None = None
    output_tokens: int | None = None
    cached: int | None = None
    reasoning_tokens: int | None = None
    encrypted: bool = False


# ------------------------------------------------------------------ Responses clients


TO_RESPONSES_FROM_ANTHROPIC: dict[str, Expect] = {
    "text": Expect("Hello, world", input_tokens=20, output_tokens=9),
    "tool": Expect("Checking.", [("get_weather", {"city": "Paris"})]),
    "tool_without_arguments": Expect(tools=[("list_files", {})]),
    "thinking": Expect("42", thinking="Let me see.", encrypted=True),
    "max_tokens": Expect("cut", status="incomplete"),
    "cache_usage": Expect("hi", input_tokens=95, cached=90),
}

TO_RESPONSES_FROM_OPENAI: dict[str, Expect] = {
    "text": Expect("Hello, world", input_tokens=12, output_tokens=7),
    "tool_fragmented": Expect("Checking.", [("get_weather", {"city": "Paris"})]),
    "tool_args_in_first_chunk": Expect(tools=[("get_weather", {"city": "Paris"})]),
    "tool_name_arrives_late": Expect(tools=[("get_weather", {"city": "Oslo"})]),
    "parallel_tools": Expect(tools=[("get_weather", {"city": "A"}), ("get_time", {"tz": "UTC"})]),
    "mistral_whole_calls_without_index": Expect(
        tools=[("get_weather", {"city": "Rome"})], output_tokens=3
    ),
    "reasoning_content": Expect("42", thinking="Let me think about it.", reasoning_tokens=5),
    "reasoning_field": Expect("ok", thinking="hmm"),
    "think_tags_split": Expect("The answer is 4.", thinking="pondering more"),
    "usage_every_chunk": Expect("ab", output_tokens=2),
    "content_and_finish_same_chunk": Expect("all at once"),
    "cached_usage": Expect("hi", input_tokens=100, cached=80),
    "length": Expect("cut", status="incomplete"),
    "content_filter": Expect("no", status="incomplete"),
    "keepalive_comments": Expect("x"),
    "azure_empty_first_chunk": Expect("hi"),
    "crlf_framing": Expect("crlf"),
    "utf8_multibyte": Expect("héllo 漢字 🙂", [("say", {"t": "€"})]),
}


def test_every_fixture_has_an_expectation() -> None:
    assert set(TO_RESPONSES_FROM_ANTHROPIC) == set(ANTHROPIC_STREAMS)
    assert set(TO_RESPONSES_FROM_OPENAI) == set(OPENAI_STREAMS)
    assert set(FROM_RESPONSES) == set(RESPONSES_STREAMS)


def _check_responses_client(out: bytes, exp: Expect) -> dict[str, Any]:
    terminal = check_responses_stream(events(out))
    kind, resp = responses_terminal(out)
    assert kind == f"response.{exp.status}" and resp.status == exp.status
    if exp.status == "completed":
        final = responses_final(out)
        assert final.model_dump() == resp.model_dump()
    text = "".join(
        c.text
        for o in resp.output
        if o.type == "message"
        for c in o.content
        if c.type == "output_text"
    )
    thinking = "".join(s.text for o in resp.output if o.type == "reasoning" for s in o.summary)
    tools: list[tuple[str, Any]] = []
    for o in resp.output:
        if o.type == "function_call":
            tools.append((o.name, json.loads(o.arguments)))
        elif o.type == "custom_tool_call":
            tools.append((o.name, o.input))
    assert (text, thinking, tools) == (exp.text, exp.thinking, exp.tools)
    encrypted = [o.encrypted_content for o in resp.output if o.type == "reasoning"]
    assert any(encrypted) == exp.encrypted
    usage = resp.usage
    assert usage is not None
    if exp.input_tokens is not None:
        assert usage.input_tokens == exp.input_tokens
    if exp.output_tokens is not None:
        assert usage.output_tokens == exp.output_tokens
    if exp.cached is not None:
        assert usage.input_tokens_details.cached_tokens == exp.cached
    if exp.reasoning_tokens is not None:
        assert usage.output_tokens_details.reasoning_tokens == exp.reasoning_tokens
    return terminal


@pytest.mark.parametrize("name", sorted(ANTHROPIC_STREAMS))
def test_anthropic_upstream_to_responses_client(
    name: str, snapshot_json: SnapshotAssertion
) -> None:
    out = split_invariant(ANTHROPIC_STREAMS[name], client="responses", upstream="anthropic")
    _check_responses_client(out, TO_RESPONSES_FROM_ANTHROPIC[name])
    assert events(out) == snapshot_json


@pytest.mark.parametrize("name", sorted(OPENAI_STREAMS))
def test_openai_upstream_to_responses_client(name: str, snapshot_json: SnapshotAssertion) -> None:
    out = split_invariant(OPENAI_STREAMS[name], client="responses", upstream="openai")
    _check_responses_client(out, TO_RESPONSES_FROM_OPENAI[name])
    assert events(out) == snapshot_json


@pytest.mark.parametrize(
    "upstream, raw",
    [("anthropic", v) for v in ANTHROPIC_FAILING_STREAMS.values()]
    + [("openai", v) for v in OPENAI_FAILING_STREAMS.values()],
    ids=[f"anthropic-{k}" for k in ANTHROPIC_FAILING_STREAMS]
    + [f"openai-{k}" for k in OPENAI_FAILING_STREAMS],
)
def test_broken_upstream_ends_the_responses_stream_as_failed(upstream: Dialect, raw: bytes) -> None:
    out = split_invariant(raw, client="responses", upstream=upstream)
    resp = check_responses_stream(events(out))
    assert resp["status"] == "failed"
    kind, sdk_resp = responses_terminal(out)
    assert kind == "response.failed" and sdk_resp.error is not None
    with pytest.raises(RuntimeError, match="response.completed"):
        responses_final(out)


def test_a_rate_limit_mid_stream_keeps_its_code_for_codex() -> None:
    raw = (
        ROLE
        + oa({"content": "x"})
        + b'data: {"error":{"message":"slow down","code":"rate_limit_exceeded"}}\n\n'
    )
    resp = check_responses_stream(events(translate(raw, client="responses", upstream="openai")))
    assert resp["error"] == {"code": "rate_limit_exceeded", "message": "slow down"}


# ------------------------------------------------------------------ custom tools (apply_patch)

PATCH = '*** Begin Patch\n*** Add File: hello.txt\n+hi "there" \\ é\n*** End Patch\n'


def _lowered_call_stream(pieces: list[str]) -> bytes:
    head = ROLE + oa({"tool_calls": [tc(0, id="call_p", name="apply_patch", args="")]})
    body = b"".join(oa({"tool_calls": [tc(0, args=p)]}) for p in pieces)
    return head + body + oa({}, "tool_calls") + oa_usage() + DONE


@pytest.mark.parametrize("size", [1, 3, 7, 1000])
def test_a_lowered_custom_call_streams_its_raw_input(size: int) -> None:
    args = json.dumps({"input": PATCH})
    pieces = [args[i : i + size] for i in range(0, len(args), size)]
    raw = _lowered_call_stream(pieces)
    # Split at every byte offset, except the one-character pieces: their stream is long enough
    # to make that quadratic (~15 s); 3 and 7 cut the same escapes at other places.
    check = split_invariant if size > 1 else translate
    out = check(raw, client="responses", upstream="openai", custom_tools=frozenset({"apply_patch"}))
    resp = _check_responses_client(out, Expect(tools=[("apply_patch", PATCH)]))
    item = resp["output"][0]
    assert item["type"] == "custom_tool_call" and item["input"] == PATCH
    deltas = [
        e["data"]["delta"]
        for e in events(out)
        if e.get("event") == "response.custom_tool_call_input.delta"
    ]
    assert "".join(deltas) == PATCH
    if size < 1000:
        assert len(deltas) > 1  # it streams, not one blob at the end


def test_a_custom_call_whose_model_ignored_the_schema_gets_the_raw_arguments() -> None:
    ctx = Context(client="responses", upstream="openai", ids=IdFactory("t"))
    ctx.custom_tools = {"apply_patch"}
    st = StreamTranslator(ctx)
    out = st.feed(_lowered_call_stream(["*** Begin Patch"])) + st.close()
    resp = check_responses_stream(events(out))
    assert resp["output"][0]["input"] == "*** Begin Patch"
    assert any("apply_patch" in n.path for n in ctx.notes)


# ------------------------------------------------------------------ Responses upstreams


FROM_RESPONSES: dict[str, Expect] = {
    "text": Expect("Hello, world", input_tokens=12, output_tokens=7),
    "reasoning": Expect("42", thinking="**Plan**\n\nThink\n\nThen answer.", reasoning_tokens=5),
    "tool": Expect("Checking.", [("get_weather", {"city": "Paris"})]),
    "parallel_tools": Expect(tools=[("get_weather", {"city": "A"}), ("get_time", {"tz": "UTC"})]),
    "args_only_in_done": Expect(tools=[("get_weather", {"city": "Oslo"})]),
    "custom_tool": Expect(tools=[("apply_patch", None)]),
    "refusal": Expect("I can't help."),
    "incomplete": Expect("cut", status="incomplete"),
    "cached_usage": Expect("hi", input_tokens=100, cached=80),
    "hosted_search": Expect("Found it."),
    "no_content_part_events": Expect("ab"),
    "crlf_framing": Expect("Hello, world"),
}

_ANTHROPIC_STOP = {"completed": "end_turn", "incomplete": "max_tokens"}
_OPENAI_STOP = {"completed": "stop", "incomplete": "length"}


@pytest.mark.parametrize("name", sorted(RESPONSES_STREAMS))
def test_responses_upstream_to_anthropic_client(
    name: str, snapshot_json: SnapshotAssertion
) -> None:
    exp = FROM_RESPONSES[name]
    if name == "custom_tool":  # raw text input has no Anthropic form: an explicit error
        out = translate(RESPONSES_STREAMS[name], client="anthropic", upstream="responses")
        assert events(out)[-1]["event"] == "error"
        return
    out = split_invariant(RESPONSES_STREAMS[name], client="anthropic", upstream="responses")
    evs = events(out)
    check_anthropic_stream(evs)
    msg = anthropic_final_message(out)
    stop = "tool_use" if exp.tools else _ANTHROPIC_STOP[exp.status]
    assert msg.stop_reason == ("refusal" if name == "refusal" else stop)
    text = "".join(b.text for b in msg.content if b.type == "text")
    thinking = "".join(b.thinking for b in msg.content if b.type == "thinking")
    tools = [(b.name, b.input) for b in msg.content if b.type == "tool_use"]
    assert (text, thinking, tools) == (exp.text, exp.thinking, exp.tools)
    if exp.thinking:  # the encrypted reasoning rides in the signature, for the next turn
        sig = next(b.signature for b in msg.content if b.type == "thinking")
        assert sig == "tapegate:responses:rs_1:gAAAAenc"
    if exp.input_tokens is not None:
        assert msg.usage.input_tokens + msg.usage.cache_read_input_tokens == exp.input_tokens
    if exp.cached is not None:
        assert msg.usage.cache_read_input_tokens == exp.cached
    assert evs == snapshot_json


@pytest.mark.parametrize("name", sorted(RESPONSES_STREAMS))
def test_responses_upstream_to_openai_client(name: str, snapshot_json: SnapshotAssertion) -> None:
    exp = FROM_RESPONSES[name]
    if name == "custom_tool":  # a Chat stream has no custom tool call: an explicit error
        out = translate(RESPONSES_STREAMS[name], client="openai", upstream="responses")
        assert "error" in events(out)[-1]["data"]
        return
    out = split_invariant(RESPONSES_STREAMS[name], client="openai", upstream="responses")
    evs = events(out)
    check_openai_stream(evs)
    done = openai_final_completion(out)
    choice = done.choices[0]
    stop = "tool_calls" if exp.tools else _OPENAI_STOP[exp.status]
    assert choice.finish_reason == ("content_filter" if name == "refusal" else stop)
    assert (choice.message.content or "") == exp.text
    extra = choice.message.model_extra or {}
    assert (extra.get("reasoning_content") or "") == exp.thinking
    if name != "custom_tool":
        tools = [
            (t.function.name, json.loads(t.function.arguments))
            for t in choice.message.tool_calls or []
        ]
        assert tools == exp.tools
    if exp.input_tokens is not None:
        assert done.usage is not None and done.usage.prompt_tokens == exp.input_tokens
    assert evs == snapshot_json


@pytest.mark.parametrize("name", sorted(RESPONSES_FAILING_STREAMS))
def test_broken_responses_upstream_reaches_other_clients_as_an_error(name: str) -> None:
    raw = RESPONSES_FAILING_STREAMS[name]
    out = split_invariant(raw, client="anthropic", upstream="responses")
    evs = events(out)
    assert evs[-1].get("event") == "error" and "message_stop" not in [e.get("event") for e in evs]
    with pytest.raises((anthropic.APIError, ValueError)):
        anthropic_final_message(out)
    out = split_invariant(raw, client="openai", upstream="responses")
    evs = events(out)
    assert "error" in evs[-1].get("data", {}) and {"data": "[DONE]"} not in evs
    with pytest.raises(openai.APIError):
        openai_final_completion(out)


def test_a_rate_limited_responses_upstream_reaches_anthropic_as_rate_limit_error() -> None:
    out = translate(RESPONSES_FAILING_STREAMS["failed"], client="anthropic", upstream="responses")
    err = events(out)[-1]["data"]["error"]
    assert err == {"type": "rate_limit_error", "message": "Rate limit reached. Try again in 2s."}


# ------------------------------------------------------------------ the fake upstream's streams


@pytest.mark.parametrize(
    "spec", ["text", "tool", "thinking", "parallel-tools", "max-tokens", "cache", "midstream-error"]
)
def test_the_fake_upstreams_responses_streams_keep_the_grammar(spec: str) -> None:
    """The fake the gateway tests and benchmarks run against speaks the grammar it checks."""
    mode = replies.Mode.parse(spec)
    body = {"model": "m", "input": "hi", "tools": [{"type": "function", "name": "f"}]}
    raw = b"".join(replies.responses_events(mode, replies.plan(mode, body), "m"))
    resp = check_responses_stream(events(raw))
    kind, sdk_resp = responses_terminal(raw)
    assert kind == f"response.{resp['status']}" and sdk_resp.id == "resp_fake01"
    as_json = replies.responses_json(replies.plan(mode, body), "m")
    if resp["status"] != "failed":
        assert resp["output"] == as_json["output"] and resp["usage"] == as_json["usage"]
