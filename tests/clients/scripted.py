"""The shared fake upstream plus the two things a real-client test needs that it lacks (yet).

``fakes/upstream.py`` (the gateway engineer's) answers a tool call with the request's
*first* tool and ``{"city": "Paris"}``. Claude Code's first tool is ``Task``, and a tool loop
that really runs something needs ``Bash`` with a chosen ``command``. It also pops its script
queue on the HEAD preconnect. This subclass adds, without changing the fake's behaviour otherwise:

- :meth:`ScriptedUpstream.script_tool`: the next model turn answers a tool call with this name
  and input, in the request's dialect (Anthropic ``tool_use`` / OpenAI ``tool_calls``);
- HEAD answered 200 without consuming the script and without being logged as a model turn.

When the fake grows ``tool:NAME`` with arguments, this module shrinks to nothing.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fakes.upstream import FakeUpstream, Mode, Received

_TOOL_MODE = "x-clients-tool:"  # queue entries "x-clients-tool:<n>" point into _tool_turns

TOOL_CALL_ID = "toolu_clients01"
OPENAI_TOOL_CALL_ID = "call_clients01"


class ScriptedUpstream(FakeUpstream):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._tool_turns: list[tuple[str, dict[str, Any], str | None]] = []

    def script_tool(
        self, name: str, tool_input: dict[str, Any], reasoning: str | None = None
    ) -> None:
        """``reasoning``: a Responses upstream's reasoning item before the call."""
        self._tool_turns.append((name, tool_input, reasoning))
        self.script(f"{_TOOL_MODE}{len(self._tool_turns) - 1}")

    def clear(self) -> None:
        super().clear()
        self._tool_turns.clear()

    def model_turns(self) -> list[Received]:
        """Requests that asked the model for something (no HEAD preconnect, no control calls)."""
        return [r for r in self.requests if r.method == "POST"]

    async def _handle(self, req: Received, writer: asyncio.StreamWriter) -> bool:
        if req.method == "HEAD":
            return await self._json(writer, 200, None, Mode())
        if self._queue and self._queue[0].startswith(_TOOL_MODE):
            turn = self._tool_turns[int(self._queue.popleft()[len(_TOOL_MODE) :])]
            name, tool_input, reasoning = turn
            if self.log:
                self.requests.append(req)
            body = json.loads(req.body or b"{}")
            model = str(body.get("model", "fake-model"))
            path = req.path.split("?", 1)[0]
            if path.endswith("/chat/completions"):
                events = _openai_tool_events(model, name, tool_input)
            elif path.endswith("/responses"):
                events = _responses_tool_events(model, name, tool_input, reasoning)
            else:
                events = _anthropic_tool_events(model, name, tool_input)
            return await self._sse(writer, events, Mode())
        return await super()._handle(req, writer)


def _halves(tool_input: dict[str, Any]) -> tuple[str, str]:
    """The arguments as JSON split in two deltas, as real servers stream them."""
    text = json.dumps(tool_input)
    return text[: len(text) // 2], text[len(text) // 2 :]


def _anthropic_tool_events(model: str, name: str, tool_input: dict[str, Any]) -> list[bytes]:
    def ev(event: str, data: dict[str, Any]) -> bytes:
        return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()

    message = {
        "id": "msg_clients01",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 1},
    }
    start = {"type": "tool_use", "id": TOOL_CALL_ID, "name": name, "input": {}}
    return [
        ev("message_start", {"type": "message_start", "message": message}),
        ev(
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": start},
        ),
        *(
            ev(
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "input_json_delta", "partial_json": part},
                },
            )
            for part in _halves(tool_input)
        ),
        ev("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ev(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                "usage": {"output_tokens": 12},
            },
        ),
        ev("message_stop", {"type": "message_stop"}),
    ]


def _openai_tool_events(model: str, name: str, tool_input: dict[str, Any]) -> list[bytes]:
    base = {"id": "chatcmpl-clients01", "object": "chat.completion.chunk", "created": 1700000000}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        c = base | {
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return f"data: {json.dumps(c)}\n\n".encode()

    first, second = _halves(tool_input)
    call = {"index": 0, "id": OPENAI_TOOL_CALL_ID, "type": "function"}
    return [
        chunk({"role": "assistant", "content": None}),
        chunk({"tool_calls": [call | {"function": {"name": name, "arguments": first}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": second}}]}),
        chunk({}, "tool_calls"),
        b"data: [DONE]\n\n",
    ]


def _responses_tool_events(
    model: str, name: str, tool_input: dict[str, Any], reasoning: str | None
) -> list[bytes]:
    seq = 0

    def ev(kind: str, **fields: Any) -> bytes:
        nonlocal seq
        data = {"type": kind, "sequence_number": seq, **fields}
        seq += 1
        return f"event: {kind}\ndata: {json.dumps(data)}\n\n".encode()

    resp = {
        "id": "resp_clients01",
        "object": "response",
        "created_at": 1700000000,
        "status": "in_progress",
        "model": model,
        "output": [],
        "usage": None,
    }
    item = {
        "id": "fc_clients01",
        "type": "function_call",
        "status": "in_progress",
        "call_id": OPENAI_TOOL_CALL_ID,
        "name": name,
        "arguments": "",
    }
    args = json.dumps(tool_input)
    done = item | {"status": "completed", "arguments": args}
    usage = {
        "input_tokens": 10,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": 12,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 22,
    }
    out = [ev("response.created", response=resp)]
    index = 0
    items: list[dict[str, Any]] = []
    if reasoning is not None:
        rs = {"id": "rs_clients01", "type": "reasoning", "summary": []}
        rs_done = rs | {
            "summary": [{"type": "summary_text", "text": reasoning}],
            "encrypted_content": "enc-clients01",
        }
        at = {"item_id": "rs_clients01", "output_index": 0, "summary_index": 0}
        part = {"type": "summary_text", "text": ""}
        out += [
            ev("response.output_item.added", output_index=0, item=rs),
            ev("response.reasoning_summary_part.added", **at, part=part),
            ev("response.reasoning_summary_text.delta", **at, delta=reasoning),
            ev("response.reasoning_summary_text.done", **at, text=reasoning),
            ev("response.reasoning_summary_part.done", **at, part=part | {"text": reasoning}),
            ev("response.output_item.done", output_index=0, item=rs_done),
        ]
        items.append(rs_done)
        index = 1
    where = {"item_id": item["id"], "output_index": index}
    out += [
        ev("response.output_item.added", output_index=index, item=item),
        *(
            ev("response.function_call_arguments.delta", **where, delta=p)
            for p in _halves(tool_input)
        ),
        ev("response.function_call_arguments.done", **where, arguments=args),
        ev("response.output_item.done", output_index=index, item=done),
    ]
    final = resp | {"status": "completed", "output": [*items, done], "usage": usage}
    out.append(ev("response.completed", response=final))
    return out
