"""The translator's one-event-per-chunk fast path gives exactly what the general path gives.

``StreamTranslator.fast_path`` switched off is the reference. Every stream below is fed both ways
in several chunkings (one event per chunk as servers write, the whole body at once, every event
cut at every byte, two events per chunk, CRLF, ``data:`` without its space, keep-alives between
events) and every observable must agree: the bytes each ``feed`` returns, every observer call,
``failed`` and the notes. The streams are the hand-written ones of the stream tests, the fake
upstream's, and edge cases aimed at the fast path's conditions (surrogates, ``<think>`` tags,
extra keys, a second choice, usage or an error next to text, content after the finish).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from fakes import replies
from recorder.context import Context, IdFactory
from recorder.ir import Dialect
from recorder.sse import SseEvent
from recorder.translate import StreamTranslator
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
)

_HEAD = {"id": "chatcmpl-x", "object": "chat.completion.chunk", "created": 1, "model": "m"}


def _raw_oa(body: str) -> bytes:
    """A chunk whose JSON is written by hand (escapes json.dumps would not produce)."""
    return b"data: " + body.encode() + b"\n\n"


def _text_chunk(escaped: str) -> bytes:
    return _raw_oa(
        '{"id":"c","object":"chat.completion.chunk","created":1,"model":"m",'
        f'"choices":[{{"index":0,"delta":{{"content":"{escaped}"}},"finish_reason":null}}]}}'
    )


_TEXTS = ["Hello", "", " wörld 漢字 🙂", 'q"uote\\back', "line\nbreak\r\n", "\t\x01\x1f", "\u2028"]
_PLAIN = b"".join(oa({"content": t}) for t in _TEXTS)
_FINISH = oa({}, "stop") + oa_usage() + DONE

OPENAI_EDGES: dict[str, bytes] = {
    "texts": ROLE + _PLAIN + _FINISH,
    "surrogates": ROLE
    + _text_chunk("a")
    + _text_chunk("\\ud800")
    + _text_chunk("b\\udfff\\ud83d\\ude42")
    + _FINISH,
    "think_then_many_texts": ROLE
    + oa({"content": "<think>"})
    + oa({"content": "\nhm"})
    + oa({"content": "</think>\n\n"})
    + _PLAIN
    + _FINISH,
    "think_tag_later_is_text": ROLE + oa({"content": "a"}) + oa({"content": "<think>b"}) + _FINISH,
    "leading_whitespace": ROLE + oa({"content": "  "}) + oa({"content": "x"}) + _PLAIN + _FINISH,
    "extra_keys": ROLE
    + oa({"content": "a"})
    + oa({"content": "b", "role": "assistant"})
    + oa({"content": "c"}, logprobs=None)
    + _raw_oa(json.dumps({**_HEAD, "choices": [{"delta": {"content": "no index"}}]}))
    + _raw_oa(json.dumps({**_HEAD, "choices": [{"index": None, "delta": {"content": "n"}}]}))
    + oa({"content": None})
    + oa({"content": 5})
    + oa({"content": "d", "reasoning_content": None})
    + _FINISH,
    "second_choice": ROLE
    + oa({"content": "a"})
    + _raw_oa(json.dumps({**_HEAD, "choices": [{"index": 1, "delta": {"content": "other"}}]}))
    + _raw_oa(
        json.dumps(
            {
                **_HEAD,
                "choices": [
                    {"index": 0, "delta": {"content": "b"}},
                    {"index": 1, "delta": {"content": "c"}},
                ],
            }
        )
    )
    + _FINISH,
    # no usage chunk at the end: the usage read next to the text is what the client gets
    "usage_next_to_text": ROLE
    + oa({"content": "a"})
    + oa({"content": "b"}, usage={"prompt_tokens": 1, "completion_tokens": 1})
    + oa({"content": "c"}, usage=None)
    + oa({}, "stop")
    + DONE,
    "groq_usage_next_to_text": ROLE
    + oa({"content": "a"})
    + oa({"content": "d"}, x_groq={"usage": {"prompt_tokens": 1, "completion_tokens": 2}})
    + oa({"content": "e"}, x_groq={"id": "g"})
    + oa({}, "stop")
    + DONE,
    "text_then_tool_then_text": ROLE
    + oa({"content": "a"})
    + oa({"tool_calls": [{"index": 0, "id": "c1", "function": {"name": "f", "arguments": "{}"}}]})
    + oa({"content": "b"})
    + oa({"content": "c"})
    + oa({}, "tool_calls")
    + DONE,
    "reasoning_then_text": ROLE
    + oa({"reasoning_content": "r1"})
    + oa({"reasoning_content": "r2"})
    + oa({"reasoning": "r3"})
    + oa({"content": "a"})
    + oa({"content": "b", "reasoning_content": "late"})
    + oa({"content": "c"})
    + oa({"refusal": "no"})
    + oa({"content": "d"})
    + _FINISH,
    "finish_with_text": ROLE + oa({"content": "a"}) + oa({"content": "b"}, "stop") + DONE,
    "text_after_finish": ROLE + oa({"content": "a"}) + oa({}, "stop") + oa({"content": "b"}),
    "error_between_texts": ROLE
    + oa({"content": "a"})
    + oa({"content": "b"}, error={"message": "boom"})
    + oa({"content": "c"})
    + _raw_oa('{"error":"plain"}')
    + oa({"content": "d"})
    + DONE,
    "named_events": ROLE
    + oa({"content": "a"})
    + b"event: message\n"
    + oa({"content": "b"})
    + b"event: error\n"
    + oa({"content": "c"}),
    "id_and_retry_fields": ROLE
    + oa({"content": "a"})
    + b"id: 7\n"
    + oa({"content": "b"})
    + b"retry: 100\n"
    + oa({"content": "c"})
    + b"id: 8\nevent: x\n"
    + oa({"content": "d"})
    + _FINISH,
    "odd_data_lines": ROLE
    + oa({"content": "a"})
    + b"data:  "
    + json.dumps({**_HEAD, "choices": [{"delta": {"content": "sp"}}]}).encode()
    + b"\n\n"
    + b'data: {"id":"c","choices":\ndata: [{"delta":{"content":"two lines"}}]}\n\n'
    + b"data:\n\n"
    + b"\n\n"
    + b"data: [1]\n\n"
    + _FINISH,
    "invalid_utf8": ROLE + oa({"content": "a"}) + b'data: {"x":"\xff"}\n\n' + _FINISH,
    "bad_json_after_text": ROLE + oa({"content": "a"}) + b'data: {"x":\n\n' + _FINISH,
    "no_final_blank_line": ROLE + oa({"content": "a"}) + oa({}, "stop") + b"data: [DONE]",
    "done_without_finish": ROLE + oa({"content": "a"}) + DONE + oa({"content": "late"}),
}


def _aev(name: str | None, obj: dict[str, Any]) -> bytes:
    head = f"event: {name}\n" if name is not None else ""
    return f"{head}data: {json.dumps(obj)}\n\n".encode()


def _ad(i: Any, delta: dict[str, Any], name: str | None = "content_block_delta") -> bytes:
    return _aev(name, {"type": "content_block_delta", "index": i, "delta": delta})


def _atext(i: Any, text: Any) -> bytes:
    return _ad(i, {"type": "text_delta", "text": text})


_A_START = _aev(
    "message_start",
    {
        "type": "message_start",
        "message": {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude",
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 3, "output_tokens": 1},
        },
    },
)


def _ablock(i: int, block: dict[str, Any]) -> bytes:
    return _aev(
        "content_block_start", {"type": "content_block_start", "index": i, "content_block": block}
    )


def _astop(i: int) -> bytes:
    return _aev("content_block_stop", {"type": "content_block_stop", "index": i})


_A_END = _aev(
    "message_delta",
    {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
        "usage": {"output_tokens": 5},
    },
) + _aev("message_stop", {"type": "message_stop"})
_A_TEXTS = b"".join(_atext(0, t) for t in _TEXTS)

ANTHROPIC_EDGES: dict[str, bytes] = {
    "texts": _A_START + _ablock(0, {"type": "text", "text": ""}) + _A_TEXTS + _astop(0) + _A_END,
    "surrogates": _A_START
    + _ablock(0, {"type": "text", "text": ""})
    + b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
    b'"delta":{"type":"text_delta","text":"x\\ud800y"}}\n\n' + _astop(0) + _A_END,
    "odd_deltas": _A_START
    + _ablock(0, {"type": "text", "text": "start "})
    + _atext(0, "a")
    + _ad(0, {"type": "text_delta", "text": "b", "extra": 1})
    + _ad(0, {"type": "text_delta", "text": "c"}, name=None)
    + _ad(0, {"type": "text_delta", "text": "d"}, name="message")
    + _aev("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": "e"}})
    + _ad(0, {"type": "citations_delta", "citation": {"type": "x"}})
    + _ad(0.0, {"type": "text_delta", "text": "f"})
    + _atext(0, 7)
    + _astop(0)
    + _A_END,
    "text_delta_wrong_index": _A_START
    + _ablock(0, {"type": "text", "text": ""})
    + _atext(0, "a")
    + _atext(1, "b")
    + _A_END,
    "text_delta_in_thinking": _A_START
    + _ablock(0, {"type": "thinking", "thinking": "", "signature": ""})
    + _ad(0, {"type": "thinking_delta", "thinking": "t"})
    + _atext(0, "a")
    + _A_END,
    "missing_text": _A_START
    + _ablock(0, {"type": "text", "text": ""})
    + _atext(0, "a")
    + _ad(0, {"type": "text_delta"})
    + _A_END,
    "error_mid_text": _A_START
    + _ablock(0, {"type": "text", "text": ""})
    + _atext(0, "a")
    + _aev("error", {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}})
    + _atext(0, "b"),
    "after_message_stop": _A_START
    + _ablock(0, {"type": "text", "text": ""})
    + _atext(0, "a")
    + _astop(0)
    + _A_END
    + _atext(0, "late"),
    "pings_between": _A_START
    + _ablock(0, {"type": "text", "text": ""})
    + _atext(0, "a")
    + _aev("ping", {"type": "ping"})
    + b": comment\n\n"
    + _atext(0, "b")
    + _astop(0)
    + _A_END,
}


def _rev(kind: str, **fields: Any) -> bytes:
    return _aev(kind, {"type": kind, **fields})


def _rtext(text: Any, output_index: Any = 0, content_index: Any = 0, **extra: Any) -> bytes:
    where = {"item_id": "m1", "output_index": output_index, "content_index": content_index}
    return _rev("response.output_text.delta", **where, delta=text, **extra)


_R_START = _rev("response.created", response={"id": "resp_1", "model": "gpt"}) + _rev(
    "response.output_item.added",
    output_index=0,
    item={"id": "m1", "type": "message", "role": "assistant", "content": []},
)
_R_PART = _rev(
    "response.content_part.added",
    item_id="m1",
    output_index=0,
    content_index=0,
    part={"type": "output_text", "text": ""},
)
_R_END = _rev(
    "response.output_item.done",
    output_index=0,
    item={"id": "m1", "type": "message", "role": "assistant", "content": []},
) + _rev("response.completed", response={"id": "resp_1", "status": "completed"})

RESPONSES_EDGES: dict[str, bytes] = {
    "texts": _R_START + _R_PART + b"".join(_rtext(t) for t in _TEXTS) + _R_END,
    "surrogates": _R_START
    + _R_PART
    + _rtext("a")
    + b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta",'
    b'"item_id":"m1","output_index":0,"content_index":0,"delta":"x\\ud800y"}\n\n' + _R_END,
    "odd_deltas": _R_START
    + _R_PART
    + _rtext("a")
    + _rtext("b", obfuscation="xyz")
    + _aev(None, {"type": "response.output_text.delta", "output_index": 0, "delta": "c"})
    + _aev("message", {"type": "response.output_text.delta", "output_index": 0, "delta": "d"})
    + _rtext("e", content_index=1)
    + _rtext("f", output_index=1)
    + _rtext(7)
    + _rtext("g", output_index=0.0)
    + _rev("response.output_text.annotation.added", output_index=0, annotation={})
    + _rtext("h")
    + _R_END,
    "no_part_added": _R_START + _rtext("a") + _rtext("b") + _R_END,
    "error_mid_text": _R_START
    + _R_PART
    + _rtext("a")
    + _rev("error", code="server_error", message="boom")
    + _rtext("b"),
    "after_completed": _R_START + _R_PART + _rtext("a") + _R_END + _rtext("late"),
}


def _fake_streams() -> Iterator[tuple[str, Dialect, bytes]]:
    body = {
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "tools": [{"name": "get_weather", "input_schema": {"type": "object"}}],
        "stream": True,
    }
    for spec in ("text", "events:12", "thinking", "tool", "parallel-tools", "midstream-error"):
        mode = replies.Mode.parse(spec)
        plan = replies.plan(mode, body)
        yield f"fake-{spec}", "openai", b"".join(replies.openai_events(mode, plan, "m", True))
        yield f"fake-{spec}", "anthropic", b"".join(replies.anthropic_events(mode, plan, "m"))
        yield f"fake-{spec}", "responses", b"".join(replies.responses_events(mode, plan, "m"))


def streams() -> Iterator[tuple[str, Dialect, bytes]]:
    for table in (OPENAI_STREAMS, OPENAI_FAILING_STREAMS, OPENAI_EDGES):
        for name, raw in table.items():
            yield name, "openai", raw
    for table in (ANTHROPIC_STREAMS, ANTHROPIC_FAILING_STREAMS, ANTHROPIC_EDGES):
        for name, raw in table.items():
            yield name, "anthropic", raw
    for table in (RESPONSES_STREAMS, RESPONSES_FAILING_STREAMS, RESPONSES_EDGES):
        for name, raw in table.items():
            yield name, "responses", raw
    yield from _fake_streams()


def per_event(raw: bytes) -> list[bytes]:
    """One event per chunk, as servers write them (the blank line stays with its event)."""
    sep = b"\r\n\r\n" if b"\r\n\r\n" in raw else b"\n\n"
    parts = raw.split(sep)
    out = [p + sep for p in parts[:-1] if p]
    return out + [parts[-1]] if parts[-1] else out


def chunkings(raw: bytes, every_byte: bool) -> Iterator[tuple[str, list[bytes]]]:
    events = per_event(raw)
    yield "per-event", events
    yield "whole", [raw]
    yield "pairs", [b"".join(events[i : i + 2]) for i in range(0, len(events), 2)]
    yield "crlf", per_event(raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
    yield "no-space", [e.replace(b"data: ", b"data:") for e in events]
    keep = b": keep-alive\n\n"
    yield "keep-alives", [c for e in events for c in (keep, e)]
    if every_byte:
        for i, ev in enumerate(events):
            for cut in range(1, len(ev)):
                yield f"event {i} cut at {cut}", [*events[:i], ev[:cut], ev[cut:], *events[i + 1 :]]


class Log:
    """An observer that writes down every call it gets."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def upstream(self, chunk: bytes, events: list[SseEvent]) -> None:
        self.calls.append(("chunk", chunk))
        for ev in events:
            self.calls.append(("upstream", ev.event, ev.data, ev.id, ev.retry, ev.comment))

    def client(self, events: list[SseEvent], wire: bytes) -> None:
        assert events or wire, "the observer is never called with nothing"
        self.calls.append(("wire", wire))
        for ev in events:
            self.calls.append(("client", ev.event, ev.data, ev.id, ev.retry, ev.comment))


def trace(client: Dialect, upstream: Dialect, chunks: list[bytes], observe: bool) -> list[Any]:
    """Everything a caller can see of one translated stream."""
    ctx = Context(client=client, upstream=upstream, ids=IdFactory("eq"), created=1700000000)
    ctx.requested_model = "asked"
    ctx.include_usage = True
    log = Log() if observe else None
    st = StreamTranslator(ctx, log)
    outs = [st.feed(c) for c in chunks]
    outs.append(st.feed(b""))
    outs.append(st.feed(b"after the end"))
    notes = [(n.path, n.reason) for n in ctx.notes]
    return [outs, log.calls if log else None, st.failed, notes]


@dataclass(frozen=True)
class Case:
    name: str
    upstream: Dialect
    raw: bytes


CASES = [pytest.param(Case(n, d, raw), id=f"{d}:{n}") for n, d, raw in streams()]
# Cut at every byte only where the fast path has most to get wrong: text deltas around edges.
EVERY_BYTE = {"texts", "surrogates", "think_then_many_texts", "odd_deltas", "fake-text"}


def _general_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(StreamTranslator, "fast_path", False)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("client", ["openai", "anthropic", "responses"])
def test_fast_path_gives_the_general_paths_output(
    case: Case, client: Dialect, monkeypatch: pytest.MonkeyPatch
) -> None:
    for what, chunks in chunkings(case.raw, every_byte=case.name in EVERY_BYTE):
        for observe in (False, True):
            fast = trace(client, case.upstream, chunks, observe)
            with monkeypatch.context() as m:
                _general_path(m)
                general = trace(client, case.upstream, chunks, observe)
            assert fast == general, f"{what}, observer={observe}"


@pytest.mark.parametrize(
    ("client", "upstream", "head", "chunk"),
    [
        ("anthropic", "openai", ROLE + oa({"content": "a"}), oa({"content": "b"})),
        (
            "openai",
            "anthropic",
            _A_START + _ablock(0, {"type": "text", "text": ""}) + _atext(0, "a"),
            _atext(0, "b"),
        ),
        ("responses", "openai", ROLE + oa({"content": "a"}), oa({"content": "b"})),
        ("anthropic", "responses", _R_START + _R_PART + _rtext("a"), _rtext("b")),
    ],
)
def test_the_fast_path_is_taken(
    client: Dialect, upstream: Dialect, head: bytes, chunk: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guards the point of the fast path (and of the tests above, which would otherwise compare
    the general path with itself): a text delta passes without the decoder's push."""
    ctx = Context(client=client, upstream=upstream, ids=IdFactory("eq"))
    st = StreamTranslator(ctx)
    st.feed(head)

    def no_push(*args: Any) -> None:
        raise AssertionError("the general path ran")

    assert st._codecs is not None
    monkeypatch.setattr(type(st._codecs.decoder), "push", no_push)
    assert b'"b"' in st.feed(chunk)
