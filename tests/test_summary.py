"""Usage and stop reason read back from a finished exchange's client leg, through its codec."""

from __future__ import annotations

import json

from recorder.codecs import anthropic
from recorder.exchange import EventTape, Exchange, RecordedEvent
from recorder.sse import SseEvent, encode_all
from recorder.summary import read_answer, settle


def _ev(seq: int, name: str, data: dict[str, object]) -> RecordedEvent:
    return RecordedEvent("client", seq, 0.0, name, json.dumps(data))


def test_message_delta_usage_is_merged_over_message_start() -> None:
    start_usage = {"input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 1}
    late_usage = {"input_tokens": 10, "cache_read_input_tokens": 4, "output_tokens": 7}
    ex = Exchange(id="x", started_at=0.0, stream=True, client_dialect="anthropic")
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
    read_answer(ex)
    assert ex.stop_reason == "end_turn"
    assert ex.usage is not None
    assert (ex.usage.input_tokens, ex.usage.cache_read_tokens, ex.usage.output_tokens) == (14, 4, 7)


def test_openai_usage_chunk_after_finish() -> None:
    ex = Exchange(id="x", started_at=0.0, stream=True, client_dialect="openai")
    finish = {"model": "m", "choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]}
    usage = {"model": "m", "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 2}}
    ex.events = [
        RecordedEvent("client", 0, 0.0, None, json.dumps(finish)),
        RecordedEvent("client", 1, 0.0, None, json.dumps(usage)),
    ]
    read_answer(ex)
    assert ex.stop_reason == "max_tokens"
    assert ex.usage is not None and (ex.usage.input_tokens, ex.usage.output_tokens) == (9, 2)


def test_settle_reads_a_taped_stream_once_and_only_then() -> None:
    ex = Exchange(id="s", started_at=0.0, client_dialect="anthropic")
    tape = EventTape(ex, lambda: 0.25, 0.0, anthropic.is_token)
    message = {"id": "msg_1", "model": "m-1", "usage": {"input_tokens": 7}}
    start = {"type": "message_start", "message": message}
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


def _responses_exchange(upstream_stream: bytes) -> Exchange:
    ex = Exchange(id="r", started_at=0.0, stream=True, client_dialect="responses")
    ex.events = _responses_client_events(upstream_stream)
    return ex


def test_responses_stream_summary() -> None:
    from tests.translate.streams import OPENAI_FAILING_STREAMS, OPENAI_STREAMS

    for name, stop in [
        ("tool_fragmented", "tool_use"),
        ("length", "max_tokens"),
        ("cached_usage", "end_turn"),
    ]:
        ex = _responses_exchange(OPENAI_STREAMS[name])
        read_answer(ex)
        assert ex.stop_reason == stop, name
        assert ex.usage is not None and ex.model_answered == "qwen3"
    ex = _responses_exchange(OPENAI_STREAMS["cached_usage"])
    read_answer(ex)
    assert ex.usage is not None and (ex.usage.input_tokens, ex.usage.cache_read_tokens) == (100, 80)
    ex = _responses_exchange(OPENAI_FAILING_STREAMS["error_chunk_mid_stream"])
    read_answer(ex)
    assert ex.stop_reason is None and ex.error is not None and "Token limit" in ex.error


def test_responses_answers_and_errors_read_through_the_codec() -> None:
    from recorder.exchange import HttpResponse

    done = {"id": "resp_1", "object": "response", "status": "completed", "model": "m",
            "error": None, "incomplete_details": None,
            "output": [{"type": "function_call", "id": "fc_1", "call_id": "c", "name": "f",
                        "arguments": "{}", "status": "completed"}],
            "usage": {"input_tokens": 5, "output_tokens": 2}}  # fmt: skip
    ex = Exchange(id="j", started_at=0.0, client_dialect="responses")
    ex.client_response = HttpResponse(200, [], json.dumps(done).encode())
    read_answer(ex)
    assert (ex.model_answered, ex.stop_reason, ex.error) == ("m", "tool_use", None)
    assert ex.answer is not None and [p.name for p in ex.answer.content] == ["f"]  # type: ignore[union-attr]
    failed = {**done, "status": "failed", "output": [],
              "error": {"code": "server_error", "message": "boom"}}  # fmt: skip
    ex = Exchange(id="f", started_at=0.0, client_dialect="responses")
    ex.client_response = HttpResponse(200, [], json.dumps(failed).encode())
    read_answer(ex)
    assert ex.stop_reason is None and ex.error is not None and "boom" in ex.error
    assert ex.answer is None


def test_responses_conversation_reads_requests_and_replies() -> None:
    from recorder.exchange import HttpRequest
    from recorder.observe.reading import read_leg
    from tests.translate.streams import OPENAI_STREAMS

    body = {
        "model": "m",
        "instructions": "be brief",
        "input": [
            {"role": "developer", "content": "rules"},
            {"role": "user", "content": [{"type": "input_text", "text": "hi"}]},
            {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c", "output": "42"},
        ],
    }
    ex = _responses_exchange(OPENAI_STREAMS["tool_fragmented"])
    ex.client_request = HttpRequest("POST", "/v1/responses", [], json.dumps(body).encode())
    leg = read_leg(ex, "client")
    assert leg.request is not None and leg.request.system
    assert [m.role for m in leg.request.messages] == ["system", "user", "assistant", "user"]
    assert leg.response is not None and leg.response.stop_reason == "tool_use"
    calls = leg.tool_calls
    assert [c.name for c in calls] == ["get_weather"]
