"""Usage and stop reason read back from a finished stream's client-leg events."""

from __future__ import annotations

import json

from recorder.codecs import anthropic
from recorder.exchange import EventTape, Exchange, RecordedEvent
from recorder.sse import SseEvent, encode_all
from recorder.summary import settle, summarize_events


def _ev(seq: int, name: str, data: dict[str, object]) -> RecordedEvent:
    return RecordedEvent("client", seq, 0.0, name, json.dumps(data))


def test_message_delta_usage_is_merged_over_message_start() -> None:
    start_usage = {"input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 1}
    late_usage = {"input_tokens": 10, "cache_read_input_tokens": 4, "output_tokens": 7}
    ex = Exchange(id="x", started_at=0.0, stream=True)
    ex.events = [
        _ev(
            0,
            "message_start",
            {"type": "message_start", "message": {"model": "m", "usage": start_usage}},
        ),
        _ev(
            1,
            "message_delta",
            {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": late_usage},
        ),
    ]
    summarize_events(ex, "anthropic")
    assert ex.stop_reason == "end_turn"
    assert ex.usage is not None
    assert (ex.usage.input_tokens, ex.usage.cache_read_tokens, ex.usage.output_tokens) == (14, 4, 7)


def test_openai_usage_chunk_after_finish() -> None:
    ex = Exchange(id="x", started_at=0.0, stream=True)
    finish = {"model": "m", "choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]}
    usage = {"model": "m", "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 2}}
    ex.events = [
        RecordedEvent("client", 0, 0.0, None, json.dumps(finish)),
        RecordedEvent("client", 1, 0.0, None, json.dumps(usage)),
    ]
    summarize_events(ex, "openai")
    assert ex.stop_reason == "max_tokens"
    assert ex.usage is not None and (ex.usage.input_tokens, ex.usage.output_tokens) == (9, 2)


def test_settle_reads_a_taped_stream_once_and_only_then() -> None:
    ex = Exchange(id="s", started_at=0.0, client_dialect="anthropic")
    tape = EventTape(ex, lambda: 0.25, 0.0, anthropic.is_token)
    start = {"type": "message_start", "message": {"model": "m-1", "usage": {"input_tokens": 7}}}
    delta = {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
             "usage": {"output_tokens": 3}}  # fmt: skip
    events = [SseEvent(d["type"], json.dumps(d)) for d in (start, delta)]
    tape.client(events, encode_all(events))
    assert ex.usage is None and ex.events == []  # the proxy's thread only taped bytes
    settle(ex)
    assert (ex.model_answered, ex.stop_reason) == ("m-1", "end_turn")
    assert ex.usage is not None and (ex.usage.input_tokens, ex.usage.output_tokens) == (7, 3)
    assert [e.event for e in ex.events] == ["message_start", "message_delta"]
    settle(ex)  # a second sink (the cassette writer) finds nothing left to do
    assert len(ex.events) == 2


def _responses_client_events(upstream_stream: bytes) -> list[RecordedEvent]:
    from recorder.context import Context, IdFactory
    from recorder.sse import SseParser
    from recorder.translate import StreamTranslator

    st = StreamTranslator(Context("responses", "openai", ids=IdFactory("s")))
    out = st.feed(upstream_stream) + st.close()
    p = SseParser()
    return [
        RecordedEvent("client", i, 0.0, e.event, e.data)
        for i, e in enumerate(p.feed(out) + p.close())
    ]


def test_responses_stream_summary() -> None:
    from tests.translate.streams import OPENAI_FAILING_STREAMS, OPENAI_STREAMS

    cases = [
        ("tool_fragmented", "tool_use", None),
        ("length", "max_tokens", None),
        ("cached_usage", "end_turn", None),
    ]
    for name, stop, _ in cases:
        ex = Exchange(id="r", started_at=0.0, stream=True)
        ex.events = _responses_client_events(OPENAI_STREAMS[name])
        summarize_events(ex, "responses")
        assert ex.stop_reason == stop, name
        assert ex.usage is not None and ex.model_answered == "qwen3"
    ex = Exchange(id="r", started_at=0.0, stream=True)
    ex.events = _responses_client_events(OPENAI_STREAMS["cached_usage"])
    summarize_events(ex, "responses")
    assert ex.usage is not None and (ex.usage.input_tokens, ex.usage.cache_read_tokens) == (100, 80)
    ex = Exchange(id="f", started_at=0.0, stream=True)
    ex.events = _responses_client_events(OPENAI_FAILING_STREAMS["error_chunk_mid_stream"])
    summarize_events(ex, "responses")
    assert ex.stop_reason is None and ex.error is not None and "Token limit" in ex.error


def test_responses_conversation_reads_requests_and_replies() -> None:
    from recorder.store.conversation import reply_from, request_messages
    from tests.translate.streams import OPENAI_STREAMS

    body = {
        "instructions": "be brief",
        "input": [
            {"role": "developer", "content": "rules"},
            {"role": "user", "content": [{"type": "input_text", "text": "hi"}]},
            {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c", "output": "42"},
        ],
    }
    msgs = request_messages("responses", body)
    assert [m.role for m in msgs] == ["system", "system", "user", "assistant", "tool"]
    assert msgs[3].parts[0].kind == "tool_call" and msgs[4].parts[0].text == "42"
    reply = reply_from(
        "responses", None, _responses_client_events(OPENAI_STREAMS["tool_fragmented"])
    )
    assert reply is not None and reply.stop_reason == "tool_use"
    assert [p.kind for p in reply.message.parts] == ["text", "tool_call"]
    assert reply.message.parts[1].name == "get_weather"
