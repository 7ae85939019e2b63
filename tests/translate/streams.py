"""Hand-written upstream streams for the cross-dialect tests, built from the documented formats.

Each builder returns the raw SSE bytes an upstream would send. They cover the traps listed in the
team's research (gateways.md §2): fragmented and bundled tool arguments, late names, parallel
calls, reasoning fields, inline think tags, usage after the finish chunk, keep-alives, errors.
"""

from __future__ import annotations

import json
from typing import Any

_HEAD = {"id": "chatcmpl-abc", "object": "chat.completion.chunk", "created": 1, "model": "qwen3"}


def _data(obj: Any) -> bytes:
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


def oa(delta: dict[str, Any] | None = None, finish: str | None = None, **top: Any) -> bytes:
    """One chat.completion.chunk with a single choice."""
    choice = {"index": 0, "delta": delta or {}, "finish_reason": finish}
    return _data({**_HEAD, "choices": [choice], **top})


def oa_usage(
    prompt: int = 12, completion: int = 7, cached: int | None = None, **extra: Any
) -> bytes:
    usage: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    if cached is not None:
        usage["prompt_tokens_details"] = {"cached_tokens": cached}
    usage.update(extra)
    return _data({**_HEAD, "choices": [], "usage": usage})


def tc(
    index: int | None, *, id: str | None = None, name: str | None = None, args: str | None = None
) -> dict[str, Any]:
    call: dict[str, Any] = {}
    if index is not None:
        call["index"] = index
    if id is not None:
        call["id"] = id
        call["type"] = "function"
    fn: dict[str, Any] = {}
    if name is not None:
        fn["name"] = name
    if args is not None:
        fn["arguments"] = args
    if fn:
        call["function"] = fn
    return call


ROLE = oa({"role": "assistant", "content": ""})
DONE = b"data: [DONE]\n\n"

OPENAI_STREAMS: dict[str, bytes] = {
    "text": ROLE
    + oa({"content": "Hello"})
    + oa({"content": ", world"})
    + oa({}, "stop")
    + oa_usage()
    + DONE,
    "tool_fragmented": ROLE
    + oa({"content": "Checking."})
    + oa({"tool_calls": [tc(0, id="call_1", name="get_weather", args="")]})
    + oa({"tool_calls": [tc(0, args='{"ci')]})
    + oa({"tool_calls": [tc(0, args='ty": "Par')]})
    + oa({"tool_calls": [tc(0, args='is"}')]})
    + oa({}, "tool_calls")
    + oa_usage()
    + DONE,
    "tool_args_in_first_chunk": ROLE
    + oa({"tool_calls": [tc(0, id="call_1", name="get_weather", args='{"city":"Paris"}')]})
    + oa({}, "tool_calls")
    + DONE,
    "tool_name_arrives_late": ROLE
    + oa({"tool_calls": [tc(0, args='{"city":')]})
    + oa({"tool_calls": [tc(0, id="call_9", name="get_weather", args=' "Oslo"')]})
    + oa({"tool_calls": [tc(0, args="}")]})
    + oa({}, "tool_calls")
    + DONE,
    "parallel_tools": ROLE
    + oa({"tool_calls": [tc(0, id="call_a", name="get_weather", args='{"city":"A"}')]})
    + oa({"tool_calls": [tc(1, id="call_b", name="get_time", args="")]})
    + oa({"tool_calls": [tc(1, args='{"tz":"UTC"}')]})
    + oa({}, "tool_calls")
    + oa_usage()
    + DONE,
    "mistral_whole_calls_without_index": ROLE
    + _data(
        {
            **_HEAD,
            "choices": [
                {
                    "index": 0,
                    "delta": {
                        "tool_calls": [
                            {
                                "id": "m1",
                                "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'},
                            },
                        ]
                    },
                    "finish_reason": "tool_calls",
                }
            ],
            "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
        }
    )
    + DONE,
    "reasoning_content": ROLE
    + oa({"reasoning_content": "Let me think", "content": None})
    + oa({"reasoning_content": " about it.", "content": None})
    + oa({"content": "42"})
    + oa({}, "stop")
    + oa_usage(completion_tokens_details={"reasoning_tokens": 5})
    + DONE,
    "reasoning_field": ROLE
    + oa({"reasoning": "hmm"})
    + oa({"content": "ok"})
    + oa({}, "stop")
    + DONE,
    "think_tags_split": ROLE
    + oa({"content": "<thi"})
    + oa({"content": "nk>pondering"})
    + oa({"content": " more</th"})
    + oa({"content": "ink>The answer"})
    + oa({"content": " is 4."})
    + oa({}, "stop")
    + DONE,
    "usage_every_chunk": oa(
        {"role": "assistant", "content": "a"}, usage={"prompt_tokens": 3, "completion_tokens": 1}
    )
    + oa({"content": "b"}, usage={"prompt_tokens": 3, "completion_tokens": 2})
    + oa({}, "stop", usage={"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5})
    + DONE,
    "content_and_finish_same_chunk": oa({"role": "assistant", "content": "all at once"}, "stop")
    + DONE,
    "cached_usage": ROLE
    + oa({"content": "hi"})
    + oa({}, "stop")
    + oa_usage(100, 2, cached=80)
    + DONE,
    "length": ROLE + oa({"content": "cut"}) + oa({}, "length") + DONE,
    "content_filter": ROLE + oa({"content": "no"}) + oa({}, "content_filter") + DONE,
    "keepalive_comments": b": OPENROUTER PROCESSING\n\n"
    + ROLE
    + b": OPENROUTER PROCESSING\n\n"
    + oa({"content": "x"})
    + oa({}, "stop")
    + DONE,
    "azure_empty_first_chunk": _data(
        {
            "id": "",
            "object": "",
            "created": 0,
            "model": "",
            "choices": [],
            "prompt_filter_results": [],
        }
    )
    + ROLE
    + oa({"content": "hi"})
    + oa({}, "stop")
    + DONE,
    "crlf_framing": (ROLE + oa({"content": "crlf"}) + oa({}, "stop") + DONE).replace(
        b"\n", b"\r\n"
    ),
    "utf8_multibyte": ROLE
    + oa({"content": "héllo 漢字 🙂"})
    + oa({"tool_calls": [tc(0, id="c", name="say", args='{"t":"€"}')]})
    + oa({}, "tool_calls")
    + DONE,
}

# Streams that must reach the client as an error, never as a clean close.
OPENAI_FAILING_STREAMS: dict[str, bytes] = {
    "error_chunk_mid_stream": ROLE
    + oa({"content": "par"})
    + _data({"error": {"message": "Token limit reached", "code": 400}})
    + DONE,
    "groq_error_event": ROLE
    + oa({"content": "x"})
    + b"event: error\n"
    + b'data: {"error":{"message":"tool_use_failed","type":"invalid_request_error"}}\n\n',
    "truncated_no_finish_no_done": ROLE + oa({"content": "Hello"}),
    "malformed_json": ROLE + b"data: {not json\n\n" + DONE,
    # deeper than the JSON parser's recursion limit: RecursionError, not a ValueError
    "json_nested_too_deep": ROLE + b"data: " + b'{"x":' * 1500 + b"1" + b"}" * 1500 + b"\n\n",
}


def _ev(name: str, obj: dict[str, Any]) -> bytes:
    # Real Anthropic streams pad the JSON with spaces before the closing brace.
    text = json.dumps(obj, separators=(",", ":"))
    return f"event: {name}\ndata: {text[:-1]}  }}\n\n".encode()


def _msg_start(input_tokens: int = 20, cache_read: int = 0) -> bytes:
    return _ev(
        "message_start",
        {
            "type": "message_start",
            "message": {
                "id": "msg_01abc",
                "type": "message",
                "role": "assistant",
                "model": "claude-sonnet-5",
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {
                    "input_tokens": input_tokens,
                    "cache_creation_input_tokens": 0,
                    "cache_read_input_tokens": cache_read,
                    "output_tokens": 1,
                },
            },
        },
    )


def _start(i: int, block: dict[str, Any]) -> bytes:
    return _ev(
        "content_block_start", {"type": "content_block_start", "index": i, "content_block": block}
    )


def _delta(i: int, delta: dict[str, Any]) -> bytes:
    return _ev("content_block_delta", {"type": "content_block_delta", "index": i, "delta": delta})


def _stop(i: int) -> bytes:
    return _ev("content_block_stop", {"type": "content_block_stop", "index": i})


def _end(reason: str, output_tokens: int = 9) -> bytes:
    return _ev(
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": reason, "stop_sequence": None},
            "usage": {"output_tokens": output_tokens},
        },
    ) + _ev("message_stop", {"type": "message_stop"})


PING = _ev("ping", {"type": "ping"})

ANTHROPIC_STREAMS: dict[str, bytes] = {
    "text": _msg_start()
    + _start(0, {"type": "text", "text": ""})
    + PING
    + _delta(0, {"type": "text_delta", "text": "Hello"})
    + _delta(0, {"type": "text_delta", "text": ", world"})
    + _stop(0)
    + _end("end_turn"),
    "tool": _msg_start()
    + _start(0, {"type": "text", "text": ""})
    + _delta(0, {"type": "text_delta", "text": "Checking."})
    + _stop(0)
    + _start(1, {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {}})
    + _delta(1, {"type": "input_json_delta", "partial_json": ""})
    + _delta(1, {"type": "input_json_delta", "partial_json": '{"city": "Pa'})
    + _delta(1, {"type": "input_json_delta", "partial_json": 'ris"}'})
    + _stop(1)
    + _end("tool_use"),
    "tool_without_arguments": _msg_start()
    + _start(0, {"type": "tool_use", "id": "toolu_02", "name": "list_files", "input": {}})
    + _delta(0, {"type": "input_json_delta", "partial_json": ""})
    + _stop(0)
    + _end("tool_use"),
    "thinking": _msg_start()
    + _start(0, {"type": "thinking", "thinking": "", "signature": ""})
    + _delta(0, {"type": "thinking_delta", "thinking": "Let me see."})
    + _delta(0, {"type": "signature_delta", "signature": "EqQBCkYIBRgCKkA"})
    + _stop(0)
    + _start(1, {"type": "text", "text": ""})
    + _delta(1, {"type": "text_delta", "text": "42"})
    + _stop(1)
    + _end("end_turn"),
    "max_tokens": _msg_start()
    + _start(0, {"type": "text", "text": ""})
    + _delta(0, {"type": "text_delta", "text": "cut"})
    + _stop(0)
    + _end("max_tokens"),
    "cache_usage": _msg_start(input_tokens=5, cache_read=90)
    + _start(0, {"type": "text", "text": ""})
    + _delta(0, {"type": "text_delta", "text": "hi"})
    + _stop(0)
    + _end("end_turn"),
}

ANTHROPIC_FAILING_STREAMS: dict[str, bytes] = {
    "overloaded_error_event": _msg_start()
    + _start(0, {"type": "text", "text": ""})
    + _delta(0, {"type": "text_delta", "text": "par"})
    + _ev(
        "error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    ),
    "truncated_before_message_stop": _msg_start()
    + _start(0, {"type": "text", "text": ""})
    + _delta(0, {"type": "text_delta", "text": "Hel"}),
}


# --------------------------------------------------------------------------- OpenAI Responses


class _Rs:
    """Builds a Responses stream as OpenAI writes it: every event named, numbered from 0."""

    def __init__(self, resp_id: str = "resp_abc", model: str = "gpt-5.5") -> None:
        self.seq = 0
        self.head = {"id": resp_id, "object": "response", "created_at": 1, "model": model}
        self.output: list[dict[str, Any]] = []

    def ev(self, kind: str, **fields: Any) -> bytes:
        data = {"type": kind, "sequence_number": self.seq, **fields}
        self.seq += 1
        return f"event: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()

    def start(self) -> bytes:
        resp = {**self.head, "status": "in_progress", "output": [], "usage": None}
        return self.ev("response.created", response=resp) + self.ev(
            "response.in_progress", response=resp
        )

    def text(self, i: int, item_id: str, *chunks: str, refusal: bool = False) -> bytes:
        kind, key = ("refusal", "refusal") if refusal else ("output_text", "text")
        item = {"id": item_id, "type": "message", "status": "in_progress", "role": "assistant"}
        where = {"item_id": item_id, "output_index": i, "content_index": 0}
        full = "".join(chunks)
        part = {"type": kind, key: full} | ({} if refusal else {"annotations": []})
        out = self.ev("response.output_item.added", output_index=i, item={**item, "content": []})
        out += self.ev("response.content_part.added", **where, part={**part, key: ""})
        for c in chunks:
            out += self.ev(f"response.{kind}.delta", **where, delta=c)
        out += self.ev(f"response.{kind}.done", **where, **{key: full})
        out += self.ev("response.content_part.done", **where, part=part)
        done = {**item, "status": "completed", "content": [part]}
        self.output.append(done)
        return out + self.ev("response.output_item.done", output_index=i, item=done)

    def reasoning(
        self, i: int, item_id: str, *summaries: list[str], enc: str | None = None
    ) -> bytes:
        item: dict[str, Any] = {"id": item_id, "type": "reasoning", "summary": []}
        if enc is not None:
            item["encrypted_content"] = enc
        out = self.ev("response.output_item.added", output_index=i, item=item)
        parts = []
        for k, chunks in enumerate(summaries):
            where = {"item_id": item_id, "output_index": i, "summary_index": k}
            out += self.ev(
                "response.reasoning_summary_part.added",
                **where,
                part={"type": "summary_text", "text": ""},
            )
            for c in chunks:
                out += self.ev("response.reasoning_summary_text.delta", **where, delta=c)
            part = {"type": "summary_text", "text": "".join(chunks)}
            out += self.ev("response.reasoning_summary_text.done", **where, text=part["text"])
            out += self.ev("response.reasoning_summary_part.done", **where, part=part)
            parts.append(part)
        done = {**item, "summary": parts}
        self.output.append(done)
        return out + self.ev("response.output_item.done", output_index=i, item=done)

    def call(
        self,
        i: int,
        call_id: str,
        name: str,
        *chunks: str,
        deltas: bool = True,
        custom: bool = False,
    ) -> bytes:
        item_id = f"{'ctc' if custom else 'fc'}_{i}"
        field, kind = ("input", "custom_tool_call") if custom else ("arguments", "function_call")
        event = "custom_tool_call_input" if custom else "function_call_arguments"
        item = {
            "id": item_id,
            "type": kind,
            "status": "in_progress",
            "call_id": call_id,
            "name": name,
        }
        where = {"item_id": item_id, "output_index": i}
        out = self.ev("response.output_item.added", output_index=i, item={**item, field: ""})
        if deltas:
            for c in chunks:
                out += self.ev(f"response.{event}.delta", **where, delta=c)
        out += self.ev(f"response.{event}.done", **where, **{field: "".join(chunks)})
        done = {**item, "status": "completed", field: "".join(chunks)}
        self.output.append(done)
        return out + self.ev("response.output_item.done", output_index=i, item=done)

    def hosted(self, i: int) -> bytes:
        item = {"id": f"ws_{i}", "type": "web_search_call", "status": "completed"}
        out = self.ev("response.output_item.added", output_index=i, item=item)
        out += self.ev("response.web_search_call.completed", output_index=i, item_id=item["id"])
        return out + self.ev("response.output_item.done", output_index=i, item=item)

    def end(
        self,
        status: str = "completed",
        reason: str | None = None,
        input_tokens: int = 12,
        output_tokens: int = 7,
        cached: int = 0,
        reasoning: int = 0,
    ) -> bytes:
        usage = {
            "input_tokens": input_tokens,
            "input_tokens_details": {"cached_tokens": cached},
            "output_tokens": output_tokens,
            "output_tokens_details": {"reasoning_tokens": reasoning},
            "total_tokens": input_tokens + output_tokens,
        }
        resp = {**self.head, "status": status, "output": self.output, "usage": usage}
        if reason is not None:
            resp["incomplete_details"] = {"reason": reason}
        return self.ev(f"response.{status}", response=resp)


def _rs_text() -> bytes:
    r = _Rs()
    return r.start() + r.text(0, "msg_1", "Hello", ", world") + r.end()


def _rs_reasoning() -> bytes:
    r = _Rs()
    return (
        r.start()
        + r.reasoning(0, "rs_1", ["**Plan**", "\n\nThink"], ["Then", " answer."], enc="gAAAAenc")
        + r.text(1, "msg_1", "42")
        + r.end(reasoning=5)
    )


def _rs_tool() -> bytes:
    r = _Rs()
    return (
        r.start()
        + r.text(0, "msg_1", "Checking.")
        + r.call(1, "call_1", "get_weather", '{"ci', 'ty": "Par', 'is"}')
        + r.end()
    )


def _rs_parallel() -> bytes:
    r = _Rs()
    return (
        r.start()
        + r.call(0, "call_a", "get_weather", '{"city":"A"}')
        + r.call(1, "call_b", "get_time", '{"tz":', '"UTC"}')
        + r.end()
    )


def _rs_args_only_in_done() -> bytes:  # LM Studio
    r = _Rs()
    return r.start() + r.call(0, "call_1", "get_weather", '{"city":"Oslo"}', deltas=False) + r.end()


def _rs_custom() -> bytes:
    r = _Rs()
    patch = "*** Begin Patch\n*** Add File: a.txt\n+hi\n*** End Patch"
    return (
        r.start()
        + r.call(0, "call_p", "apply_patch", patch[:20], patch[20:], custom=True)
        + r.end()
    )


def _rs_refusal() -> bytes:
    r = _Rs()
    return r.start() + r.text(0, "msg_1", "I can't", " help.", refusal=True) + r.end()


def _rs_incomplete() -> bytes:
    r = _Rs()
    return r.start() + r.text(0, "msg_1", "cut") + r.end("incomplete", "max_output_tokens")


def _rs_cached() -> bytes:
    r = _Rs()
    return (
        r.start() + r.text(0, "msg_1", "hi") + r.end(input_tokens=100, output_tokens=2, cached=80)
    )


def _rs_hosted_search() -> bytes:
    r = _Rs()
    return r.start() + r.hosted(0) + r.text(1, "msg_1", "Found it.") + r.end()


def _rs_no_content_part_events() -> bytes:
    """A compatible server that skips content_part.added/done and output_text.done."""
    r = _Rs()
    item = {"id": "msg_1", "type": "message", "status": "in_progress", "role": "assistant"}
    where = {"item_id": "msg_1", "output_index": 0, "content_index": 0}
    done = {**item, "status": "completed", "content": [{"type": "output_text", "text": "ab"}]}
    r.output.append(done)
    return (
        r.start()
        + r.ev("response.output_item.added", output_index=0, item={**item, "content": []})
        + r.ev("response.output_text.delta", **where, delta="a")
        + b": keep-alive\n\n"
        + r.ev("response.output_text.delta", **where, delta="b")
        + r.ev("response.output_item.done", output_index=0, item=done)
        + r.end()
    )


RESPONSES_STREAMS: dict[str, bytes] = {
    "text": _rs_text(),
    "reasoning": _rs_reasoning(),
    "tool": _rs_tool(),
    "parallel_tools": _rs_parallel(),
    "args_only_in_done": _rs_args_only_in_done(),
    "custom_tool": _rs_custom(),
    "refusal": _rs_refusal(),
    "incomplete": _rs_incomplete(),
    "cached_usage": _rs_cached(),
    "hosted_search": _rs_hosted_search(),
    "no_content_part_events": _rs_no_content_part_events(),
    "crlf_framing": _rs_text().replace(b"\n", b"\r\n"),
}


def _rs_failed() -> bytes:
    r = _Rs()
    resp = {**r.head, "status": "failed", "output": [], "usage": None}
    resp["error"] = {
        "code": "rate_limit_exceeded",
        "message": "Rate limit reached. Try again in 2s.",
    }
    return r.start() + r.text(0, "msg_1", "par") + r.ev("response.failed", response=resp)


def _rs_error_event() -> bytes:
    r = _Rs()
    return (
        r.start()
        + r.ev("response.output_item.added", output_index=0, item={"id": "m", "type": "message"})
        + r.ev("error", code="server_error", message="The server had an error", param=None)
    )


RESPONSES_FAILING_STREAMS: dict[str, bytes] = {
    "failed": _rs_failed(),
    "error_event": _rs_error_event(),
    "truncated_no_terminal": _rs_text().rsplit(b"event: response.completed", 1)[0],
    "malformed_json": _Rs().start() + b"event: response.output_text.delta\ndata: {nope\n\n",
}
