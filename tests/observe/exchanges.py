"""Exchanges for the observe and report tests, beyond tests/store/samples.py: a stream that
stalls, one the client hung up on, an OpenAI client, a multi-turn session."""

from __future__ import annotations

import json
from dataclasses import replace

from recorder import ir
from recorder.exchange import Exchange, HttpRequest, HttpResponse, RecordedEvent
from tests.store import samples

T0 = samples.T0


def anthropic_events(texts: list[str], gaps: list[float], t0: float = 0.2) -> list[RecordedEvent]:
    """A client-leg Anthropic stream of text deltas at the given gaps."""

    def ev(name: str, data: dict[str, object]) -> tuple[str, str]:
        return name, json.dumps(data)

    body = [
        ev(
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "msg_s",
                    "type": "message",
                    "role": "assistant",
                    "model": "claude-x",
                    "content": [],
                    "stop_reason": None,
                    "usage": {"input_tokens": 50, "output_tokens": 0},
                },
            },
        ),
        ev(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
    ]
    body += [
        ev(
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": t}},
        )
        for t in texts
    ]
    body += [ev("content_block_stop", {"type": "content_block_stop", "index": 0}),
             ev("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                                  "usage": {"output_tokens": len(texts)}}),
             ev("message_stop", {"type": "message_stop"})]  # fmt: skip
    out, t = [], t0
    for i, (name, data) in enumerate(body):
        if 2 <= i < 2 + len(gaps):
            t += gaps[i - 2]
        out.append(RecordedEvent("client", i, t, name, data))
        t += 0.001
    return out


def stalled(gap: float = 3.0) -> Exchange:
    """Anthropic to Anthropic, streamed: ten deltas 10 ms apart, one of them ``gap`` late."""
    texts = [f"w{i} " for i in range(10)]
    gaps = [0.01] * 10
    gaps[6] = gap
    client = anthropic_events(texts, gaps)
    upstream = [replace(e, leg="upstream", t=e.t - 0.0005) for e in client]
    ex = samples.streaming(id="ex-stall", started_at=T0 + 20)
    ex.upstream_dialect = "anthropic"
    ex.model_sent = ex.model_answered = "claude-x"
    ex.upstream_request = HttpRequest("POST", "https://api.anthropic.com/v1/messages", [], None)
    ex.events = upstream + client
    ex.chunks = []
    ex.t_upstream_first_byte = 0.19
    ex.t_first_token = client[2].t
    ex.t_end = client[-1].t + 0.002
    ex.usage = ir.Usage(input_tokens=50, output_tokens=10)
    ex.stop_reason = "end_turn"
    ex.notes = []
    ex.extra = {"attempts": 3}
    return ex


def hung_up() -> Exchange:
    """The client went away mid-stream: no terminal event on the client leg."""
    client = anthropic_events(["a", "b", "c"], [0.01, 0.01, 0.01])[:4]
    ex = samples.streaming(id="ex-hung", started_at=T0 + 30)
    ex.events = [e for e in ex.events if e.leg == "upstream"][:2] + client
    ex.usage, ex.stop_reason = ir.Usage(input_tokens=50), None
    ex.error = "Client disconnected."
    ex.t_end = 0.3
    return ex


def openai_client() -> Exchange:
    """An OpenAI client translated to an Anthropic upstream, not streamed."""
    req = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi <b>there</b>"}]}
    resp = {"id": "chatcmpl-1", "object": "chat.completion", "model": "claude-sonnet-4-5",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": "Hello <script>x</script>"}}],
            "usage": {"prompt_tokens": 1_000_000, "completion_tokens": 1_000_000}}  # fmt: skip
    up = {"id": "msg_9", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
          "content": [{"type": "text", "text": "Hello <script>x</script>"}],
          "stop_reason": "end_turn",
          "usage": {"input_tokens": 1_000_000, "output_tokens": 1_000_000}}  # fmt: skip
    return Exchange(
        id="ex-openai",
        started_at=T0 + 40,
        client_dialect="openai",
        upstream_dialect="anthropic",
        session_id="s-openai",
        model_requested="gpt-4o",
        model_sent="claude-sonnet-4-5",
        model_answered="claude-sonnet-4-5",
        client_request=HttpRequest(
            "POST",
            "http://127.0.0.1:8080/v1/chat/completions",
            [("authorization", "[redacted]")],
            json.dumps(req).encode(),
        ),  # fmt: skip
        upstream_request=HttpRequest(
            "POST",
            "https://api.anthropic.com/v1/messages",
            [("x-api-key", "[redacted]")],
            json.dumps(
                {"model": "claude-sonnet-4-5", "max_tokens": 4096, "messages": req["messages"]}
            ).encode(),
        ),  # fmt: skip
        upstream_response=HttpResponse(200, [], json.dumps(up).encode()),
        client_response=HttpResponse(200, [], json.dumps(resp).encode()),
        t_upstream_first_byte=0.5,
        t_end=0.55,
        usage=ir.Usage(input_tokens=1_000_000, output_tokens=1_000_000),
        stop_reason="end_turn",
    )


def turn(n: int, session: str = "s-turns", conversation: str = "main") -> Exchange:
    """Turn ``n`` (from 1) of a chat: the request re-sends every earlier message and reply."""
    messages: list[dict[str, object]] = []
    for i in range(1, n + 1):
        messages.append({"role": "user", "content": f"{conversation} question {i}"})
        if i < n:
            messages.append({"role": "assistant", "content": f"{conversation} answer {i}"})
    answer = {
        "id": f"msg_{n}",
        "type": "message",
        "role": "assistant",
        "model": "claude-x",
        "content": [{"type": "text", "text": f"{conversation} answer {n}"}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 10 * n, "output_tokens": 5},
    }
    body = json.dumps({"model": "claude-x", "max_tokens": 100, "messages": messages}).encode()
    return Exchange(
        id=f"ex-{conversation}-{n}", started_at=T0 + 100 + n, client_dialect="anthropic",
        upstream_dialect="anthropic", session_id=session, model_requested="claude-x",
        model_sent="claude-x", model_answered="claude-x",
        client_request=HttpRequest("POST", "http://127.0.0.1:8080/v1/messages", [], body),
        upstream_request=HttpRequest("POST", "https://api.anthropic.com/v1/messages", [], body),
        upstream_response=HttpResponse(200, [], json.dumps(answer).encode()),
        client_response=HttpResponse(200, [], json.dumps(answer).encode()),
        t_upstream_first_byte=0.1, t_end=0.12,
        usage=ir.Usage(input_tokens=10 * n, output_tokens=5), stop_reason="end_turn",
    )  # fmt: skip
