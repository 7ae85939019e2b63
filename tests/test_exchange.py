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
    tape.upstream_chunk(b"data: {}\n\n")
    tape.upstream_event(SseEvent(None, "{}"))
    now[0] = 10.75
    tape.client_event(SseEvent("ping", '{"type":"ping"}'))
    tape.client_event(SseEvent("content_block_delta", '{"type":"content_block_delta"}'))
    assert ex.t_upstream_first_byte == 0.5
    assert [(e.leg, e.seq, e.t) for e in ex.events] == [
        ("upstream", 0, 0.5),
        ("client", 0, 0.75),
        ("client", 1, 0.75),
    ]
    assert ex.t_first_token == 0.75
    assert ex.chunks[0].data == b"data: {}\n\n"
