"""Hand-written exchanges for the store tests (from the documented wire formats, no corpus)."""

from __future__ import annotations

import json

from recorder import ir
from recorder.exchange import Exchange, HttpRequest, HttpResponse, RecordedChunk, RecordedEvent

T0 = 1_763_776_800.123456789  # 2025-11-22T02:00:00.123Z, an exact float that must survive

SESSION = "5f0c7a52-1111-4222-8333-944455556666"


def _anthropic_request(stream: bool, session: str | None = SESSION) -> bytes:
    body: dict[str, object] = {
        "model": "claude-sonnet-5",
        "max_tokens": 1024,
        "stream": stream,
        "system": [{"type": "text", "text": "You are a terse assistant."}],
        "messages": [{"role": "user", "content": "List the files, then say done."}],
        "tools": [{"name": "Bash", "description": "run", "input_schema": {"type": "object"}}],
    }
    if session:
        user_id = {"device_id": "d1", "account_uuid": "", "session_id": session}
        body["metadata"] = {"user_id": json.dumps(user_id)}
    return json.dumps(body).encode()


def _sse(event: str, data: dict[str, object]) -> tuple[str, str]:
    return event, json.dumps(data)


CLIENT_EVENTS = [
    _sse("message_start", {"type": "message_start", "message": {
        "id": "msg_1", "type": "message", "role": "assistant", "model": "gpt-5.5", "content": [],
        "stop_reason": None, "usage": {"input_tokens": 120, "output_tokens": 0}}}),
    _sse("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "text", "text": ""}}),
    _sse("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "text_delta", "text": "Listing."}}),
    _sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
    _sse("content_block_start", {"type": "content_block_start", "index": 1, "content_block": {
        "type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {}}}),
    _sse("content_block_delta", {"type": "content_block_delta", "index": 1,
                                 "delta": {"type": "input_json_delta",
                                           "partial_json": "{\"command\":"}}),
    _sse("content_block_delta", {"type": "content_block_delta", "index": 1,
                                 "delta": {"type": "input_json_delta",
                                           "partial_json": " \"ls\"}"}}),
    _sse("content_block_stop", {"type": "content_block_stop", "index": 1}),
    _sse("message_delta", {"type": "message_delta", "delta": {"stop_reason": "tool_use"},
                           "usage": {"output_tokens": 17}}),
    _sse("message_stop", {"type": "message_stop"}),
]  # fmt: skip

_HEAD = {"id": "c1", "object": "chat.completion.chunk", "model": "gpt-5.5"}
_CALL = {"index": 0, "id": "call_1", "type": "function",
         "function": {"name": "Bash", "arguments": '{"command": "ls"}'}}  # fmt: skip
UPSTREAM_DATA = [
    json.dumps({**_HEAD, "choices": [{"index": 0, "delta": {"role": "assistant",
                                                           "content": "Listing."}}]}),
    json.dumps({**_HEAD, "choices": [{"index": 0, "delta": {"tool_calls": [_CALL]}}]}),
    json.dumps({**_HEAD, "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}],
                "usage": {"prompt_tokens": 120, "completion_tokens": 17}}),
    "[DONE]",
]  # fmt: skip


def streaming(id: str = "ex-stream", started_at: float = T0) -> Exchange:
    """Anthropic client, OpenAI upstream, streamed, with a tool call; headers already redacted."""
    events = [
        RecordedEvent("upstream", i, 0.010 + i * 0.005, None, d)
        for i, d in enumerate(UPSTREAM_DATA)
    ]
    events += [
        RecordedEvent("client", i, 0.011 + i * 0.003, name, data)
        for i, (name, data) in enumerate(CLIENT_EVENTS)
    ]
    events.append(RecordedEvent("upstream", len(UPSTREAM_DATA), 0.05, None, None, " keep-alive"))
    raw = "".join(f"data: {d}\n\n" for d in UPSTREAM_DATA).encode()
    chunks = [RecordedChunk(0, 0.010, raw[:100]), RecordedChunk(1, 0.015, raw[100:])]
    return Exchange(
        id=id,
        started_at=started_at,
        client_dialect="anthropic",
        upstream_dialect="openai",
        route="default",
        session_id=SESSION,
        model_requested="claude-sonnet-5",
        model_sent="gpt-5.5",
        model_answered="gpt-5.5",
        stream=True,
        client_request=HttpRequest(
            "POST",
            "http://127.0.0.1:8080/v1/messages?beta=true",
            [
                ("content-type", "application/json"),
                ("x-api-key", "[redacted]"),
                ("X-Claude-Code-Session-Id", SESSION),
            ],
            _anthropic_request(stream=True),
        ),  # fmt: skip
        upstream_request=HttpRequest(
            "POST",
            "http://127.0.0.1:9000/v1/chat/completions",
            [("content-type", "application/json"), ("authorization", "[redacted]")],
            b'{"model":"gpt-5.5","stream":true,"messages":[]}',
        ),
        upstream_response=HttpResponse(200, [("content-type", "text/event-stream")]),
        client_response=HttpResponse(200, [("content-type", "text/event-stream")]),
        events=events,
        chunks=chunks,
        t_upstream_first_byte=0.010,
        t_first_token=0.017,
        t_end=0.06,
        usage=ir.Usage(input_tokens=120, output_tokens=17, extra={"prompt_tokens": 120}),
        stop_reason="tool_use",
        notes=[ir.Note("context_management", "no OpenAI equivalent")],
        extra={"gateway": "test"},
    )


def plain(
    id: str = "ex-plain", started_at: float = T0 + 5, session: str | None = SESSION
) -> Exchange:
    """Anthropic to Anthropic, not streamed, answered with text."""
    answer = {
        "id": "msg_2", "type": "message", "role": "assistant", "model": "claude-sonnet-5",
        "content": [{"type": "thinking", "thinking": "Files listed.", "signature": "sig"},
                    {"type": "text", "text": "done"}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 10, "cache_read_input_tokens": 100, "output_tokens": 3},
    }  # fmt: skip
    body = json.dumps(answer).encode()
    return Exchange(
        id=id,
        started_at=started_at,
        client_dialect="anthropic",
        upstream_dialect="anthropic",
        session_id=session,
        model_requested="claude-sonnet-5",
        model_sent="claude-sonnet-5",
        model_answered="claude-sonnet-5",
        client_request=HttpRequest("POST", "http://127.0.0.1:8080/v1/messages", [],
                                   _anthropic_request(stream=False, session=session)),
        upstream_request=HttpRequest("POST", "https://api.anthropic.com/v1/messages", [],
                                     _anthropic_request(stream=False, session=session)),
        upstream_response=HttpResponse(200, [("content-type", "application/json")], body),
        client_response=HttpResponse(200, [("content-type", "application/json")], body),
        t_upstream_first_byte=0.2,
        t_end=0.25,
        usage=ir.Usage(input_tokens=110, output_tokens=3, cache_read_tokens=100),
        stop_reason="end_turn",
    )  # fmt: skip


def failed(id: str = "ex-failed", started_at: float = T0 + 9) -> Exchange:
    """An upstream that answered 529; the body is not JSON on the upstream leg."""
    err = b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'
    return Exchange(
        id=id,
        started_at=started_at,
        client_dialect="anthropic",
        upstream_dialect="openai",
        client_request=HttpRequest("POST", "http://127.0.0.1:8080/v1/messages", [], b"{}"),
        upstream_request=None,
        upstream_response=HttpResponse(503, [], b"upstream said no\xff"),
        client_response=HttpResponse(529, [], err),
        t_end=0.3,
        error="upstream 503: upstream said no",
    )


def large(id: str, size: int) -> Exchange:
    """A plain exchange whose request (both legs) is a JSON body of about ``size`` bytes."""
    ex = plain(id=id)
    messages = [{"role": "user", "content": f"msg {i}"} for i in range(max(1, size // 36))]
    body = json.dumps({"model": "claude-sonnet-5", "max_tokens": 5, "messages": messages})
    assert ex.client_request is not None and ex.upstream_request is not None
    ex.client_request.body = ex.upstream_request.body = body.encode()
    return ex
