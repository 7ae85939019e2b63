"""StreamTranslator promises never to raise: odd but valid upstream input still gives bytes."""

from __future__ import annotations

import json

from recorder.context import Context, IdFactory
from recorder.dialects import codec
from recorder.exchange import EventTape, Exchange
from recorder.translate import StreamTranslator
from tests.sdk import anthropic_final_message


def test_lone_surrogate_escape_survives_translation_and_recording() -> None:
    chunk = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    text = {**chunk, "choices": [{"index": 0, "delta": {"content": "a\\ud800b"}}]}
    body = json.dumps(text).replace("\\\\ud800", "\\ud800").encode()  # the JSON escape itself
    finish = {**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    raw = b"data: " + body + b"\n\ndata: " + json.dumps(finish).encode() + b"\n\ndata: [DONE]\n\n"
    ex = Exchange(id="e", started_at=0.0)
    ctx = Context(client="anthropic", upstream="openai", ids=IdFactory("t"))
    st = StreamTranslator(ctx, EventTape(ex, lambda: 0.0, 0.0, codec(ctx.client).is_token))
    out = st.feed(raw) + st.close()
    out.decode("utf-8")  # valid UTF-8 on the wire
    for ev in ex.events:
        (ev.data or "").encode("utf-8")  # and in the recording
    msg = anthropic_final_message(out)
    assert msg.stop_reason == "end_turn"
    assert msg.content[0].text == "a\ud800b"  # type: ignore[union-attr]
