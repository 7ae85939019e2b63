"""Each codec says which events end its streams (``Codec.is_terminal``): a pass-through stream
ends there (``StreamTranslator.done``, so the gateway ends the client's response), and a client
that hangs up after one is done (addons/response/failures.py)."""

from __future__ import annotations

import pytest

from recorder.dialects import codec
from recorder.ir import Dialect
from recorder.sse import SseEvent

# (dialect, event, ends the stream)
CASES: list[tuple[Dialect, SseEvent, bool]] = [
    ("anthropic", SseEvent("message_stop", '{"type":"message_stop"}'), True),
    ("anthropic", SseEvent("error", '{"type":"error","error":{"type":"overloaded_error"}}'), True),
    ("anthropic", SseEvent("message_delta", '{"type":"message_delta","delta":{}}'), False),
    ("anthropic", SseEvent("content_block_delta", '{"delta":{"text":"\\"error\\""}}'), False),
    ("anthropic", SseEvent("ping", '{"type":"ping"}'), False),
    ("anthropic", SseEvent(comment=" keep-alive"), False),
    ("openai", SseEvent(None, "[DONE]"), True),
    ("openai", SseEvent(None, " [DONE] "), True),
    ("openai", SseEvent(None, '{"error":{"message":"overloaded"}}'), True),
    ("openai", SseEvent("error", '{"message":"overloaded"}'), True),
    ("openai", SseEvent(None, '{"choices":[{"delta":{"content":"\\"error\\": [DONE]"}}]}'), False),
    ("openai", SseEvent(None, '{"choices":[],"error":null}'), False),
    ("openai", SseEvent(comment=" keep-alive"), False),
    ("responses", SseEvent("response.completed", '{"type":"response.completed"}'), True),
    ("responses", SseEvent("response.incomplete", '{"type":"response.incomplete"}'), True),
    ("responses", SseEvent("response.failed", '{"type":"response.failed"}'), True),
    ("responses", SseEvent("error", '{"type":"error","code":"rate_limit_exceeded"}'), True),
    ("responses", SseEvent("response.output_item.done", '{"item":{"status":"completed"}}'), False),
    ("responses", SseEvent("response.created", '{"type":"response.created"}'), False),
]


@pytest.mark.parametrize(("dialect", "ev", "ends"), CASES)
def test_terminal_events(dialect: Dialect, ev: SseEvent, ends: bool) -> None:
    assert codec(dialect).is_terminal(ev) is ends
