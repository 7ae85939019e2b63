"""StreamTranslator promises never to raise: odd but valid upstream input still gives bytes."""

from __future__ import annotations

import json

import pytest

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


PASS_STREAM = (
    b"event: message_start\ndata: {}\n\n"
    b"event: ping\r\ndata: {}\r\n\r\n"
    b"event: content_block_delta\ndata: {}\n\n"
)


@pytest.mark.parametrize("observed", [False, True], ids=["unparsed", "recorded"])
def test_pass_through_goes_whole_events_at_a_time_split_anywhere(observed: bool) -> None:
    # A stream the gateway must end (a timeout) ends between events, where its error event can
    # follow; the idle timeout counts whole events (frames_in), not bytes trickling in.
    for cut in range(1, len(PASS_STREAM)):
        ctx = Context(client="anthropic", upstream="anthropic", ids=IdFactory("t"))
        ex = Exchange(id="e", started_at=0.0)
        tape = EventTape(ex, lambda: 0.0, 0.0, codec("anthropic").is_token) if observed else None
        st = StreamTranslator(ctx, tape)
        outs, frames = [], []
        for piece in (PASS_STREAM[:cut], PASS_STREAM[cut:]):
            outs.append(st.feed(piece))
            frames.append(st.frames_in)
        tail = st.feed(b"")
        assert b"".join(outs) + tail == PASS_STREAM
        for out in outs:
            assert out == b"" or out.endswith((b"\n\n", b"\r\n\r\n")), (cut, out)
        assert frames[-1] >= 1 and (cut >= len(PASS_STREAM) - 2 or frames[0] <= frames[1])


def test_pass_through_bytes_that_never_end_an_event_are_no_progress() -> None:
    st = StreamTranslator(Context(client="openai", upstream="openai", ids=IdFactory("t")))
    out = [st.feed(bytes([b])) for b in b'data: {"choices": []}']
    assert out == [b""] * len(out) and st.frames_in == 0
    assert st.feed(b"\n\n") == b'data: {"choices": []}\n\n' and st.frames_in == 1


def test_an_upstream_error_is_a_failure_before_the_body_ends() -> None:
    # The claude_cli backend's stream goes on after the run's error (its exit follows): the
    # client has its error at once, the translator reads on, failed all along.
    ctx = Context(client="openai", upstream="claude_cli", ids=IdFactory("t"), created=1700000000)
    tr = StreamTranslator(ctx)
    result = {"type": "result", "subtype": "error_during_execution", "is_error": True}
    out = tr.feed(b"event: stdout\ndata: " + json.dumps(result).encode() + b"\n\n")
    assert b"error" in out and tr.failed and not tr.done
    assert tr.feed(b'event: exit\ndata: {"exit_code": 1}\n\n') == b""
    tr.close()
    assert tr.failed and tr.done
