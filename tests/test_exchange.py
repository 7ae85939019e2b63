"""Redaction of secrets and the EventTape observer."""

from __future__ import annotations

from recorder.exchange import REDACTED, EventTape, Exchange, redact_headers, redact_url
from recorder.sse import SseEvent


def test_secret_headers_are_redacted_case_insensitively() -> None:
    headers = [
        ("X-Api-Key", "sk-ant-secret"),
        ("authorization", "Bearer sk-secret"),
        ("Cookie", "a=b"),
        ("content-type", "application/json"),
    ]
    out = redact_headers(headers)
    assert out[:3] == [("X-Api-Key", REDACTED), ("authorization", REDACTED), ("Cookie", REDACTED)]
    assert out[3] == ("content-type", "application/json")


def test_keys_in_urls_are_redacted() -> None:
    url = "https://user:pw@example.com/v1/models?key=AIzaSECRET&alt=sse&api_key=sk-1"
    out = redact_url(url)
    assert "AIzaSECRET" not in out and "sk-1" not in out and "pw" not in out
    assert "alt=sse" in out


def test_event_tape_records_both_legs_with_offsets() -> None:
    now = [10.0]
    ex = Exchange(id="e1", started_at=1000.0)
    tape = EventTape(ex, lambda: now[0], t0=10.0)
    now[0] = 10.5
    tape.upstream(b"data: {}\n\n", [SseEvent(None, "{}")])
    now[0] = 10.75
    tape.client([SseEvent("ping", '{"type":"ping"}')])
    now[0] = 11.0
    tape.client([SseEvent("content_block_delta", '{"type":"content_block_delta"}')])
    now[0] = 11.5
    tape.upstream(b"", [SseEvent(None, "[DONE]")])  # the end: events, no chunk
    assert ex.t_upstream_first_byte == 0.5
    assert [(e.leg, e.seq, e.t) for e in ex.events] == [
        ("upstream", 0, 0.5),
        ("client", 0, 0.75),
        ("client", 1, 1.0),
        ("upstream", 1, 1.5),
    ]
    assert ex.t_first_token == 1.0  # the ping is no token
    assert ex.chunks[0].data == b"data: {}\n\n"
