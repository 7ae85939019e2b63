"""``previous_response_id`` rebuilt from the recording (pure part)."""

from __future__ import annotations

from typing import Any

import pytest

from recorder.codecs import responses as codec
from recorder.codecs.responses_history import (
    Turn,
    UnknownResponseError,
    expand,
    response_of_stream,
)
from recorder.context import Context, IdFactory
from recorder.errors import UnsupportedContentError
from recorder.translate import StreamTranslator
from tests.translate.streams import OPENAI_STREAMS


def _msg(text: str, item_id: str) -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "message",
        "status": "completed",
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }


RECORDING = {
    "resp_1": Turn(
        {"model": "m", "instructions": "old rules", "input": "first"},
        {"id": "resp_1", "output": [_msg("one", "msg_1")]},
    ),
    "resp_2": Turn(
        {
            "model": "m",
            "previous_response_id": "resp_1",
            "input": [{"role": "user", "content": "second"}],
        },
        {
            "id": "resp_2",
            "output": [
                {
                    "id": "fc_1",
                    "type": "function_call",
                    "status": "completed",
                    "call_id": "c1",
                    "name": "f",
                    "arguments": "{}",
                }
            ],
        },
    ),
}


def test_a_chain_is_rebuilt_in_order_without_old_instructions() -> None:
    body = {
        "model": "m",
        "instructions": "new rules",
        "previous_response_id": "resp_2",
        "input": [{"type": "function_call_output", "call_id": "c1", "output": "42"}],
    }
    out = expand(body, RECORDING.get)
    assert "previous_response_id" not in out and out["instructions"] == "new rules"
    assert out["input"] == [
        {"role": "user", "content": "first"},
        _msg("one", "msg_1"),
        {"role": "user", "content": "second"},
        {"id": "fc_1", "type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": "42"},
    ]
    req = codec.request_to_ir(out)  # what the codec then translates
    assert [m.role for m in req.messages] == ["user", "assistant", "user", "assistant", "user"]


def test_an_unknown_id_is_named() -> None:
    with pytest.raises(UnknownResponseError, match="resp_nope"):
        expand({"model": "m", "previous_response_id": "resp_nope", "input": "x"}, RECORDING.get)


def test_a_loop_is_refused() -> None:
    loop = {"r": Turn({"previous_response_id": "r", "input": "x"}, {"output": []})}
    with pytest.raises(UnsupportedContentError, match="loops"):
        expand({"previous_response_id": "r", "input": "y"}, loop.get)


def test_without_previous_response_id_the_body_is_unchanged() -> None:
    body = {"model": "m", "input": "x"}
    assert expand(body, RECORDING.get) is body


def test_the_response_of_a_recorded_stream() -> None:
    ctx = Context(client="responses", upstream="openai", ids=IdFactory("h"))
    st = StreamTranslator(ctx)
    sse = st.feed(OPENAI_STREAMS["tool_fragmented"]) + st.close()
    resp = response_of_stream(sse)
    assert resp is not None and resp["status"] == "completed"
    assert [o["type"] for o in resp["output"]] == ["message", "function_call"]
    assert response_of_stream(b"data: nothing\n\n") is None
