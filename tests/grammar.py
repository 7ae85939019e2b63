"""Grammar checkers for the SSE streams our encoders write (reusable by every stream test).

``check_anthropic_stream(events)`` asserts the Anthropic Messages event grammar that Claude Code
and the SDKs rely on (research/gateways.md §2.1); ``check_openai_stream(events)`` the Chat
Completions chunk grammar (§2.3). Both raise AssertionError naming the event and take either
:class:`SseEvent` values or the readable dicts tests snapshot (``{"event", "data"}`` with data
parsed or as text, ``{"comment"}``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from recorder.sse import SseEvent
from recorder.wire import anthropic as w

ANTHROPIC_STOP_REASONS = frozenset(
    {
        "end_turn",
        "max_tokens",
        "stop_sequence",
        "tool_use",
        "pause_turn",
        "refusal",
        "model_context_window_exceeded",
    }
)
ANTHROPIC_ERROR_TYPES = frozenset(
    {
        "invalid_request_error",
        "authentication_error",
        "billing_error",
        "permission_error",
        "not_found_error",
        "request_too_large",
        "rate_limit_error",
        "timeout_error",
        "api_error",
        "overloaded_error",
    }
)
# which delta types each block type accepts
_DELTAS = {
    "text": {"text_delta", "citations_delta"},
    "thinking": {"thinking_delta", "signature_delta"},
    "tool_use": {"input_json_delta"},
    "server_tool_use": {"input_json_delta"},
}
_USAGE_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
)


@dataclass(frozen=True, slots=True)
class _Ev:
    event: str | None
    data: Any  # parsed JSON, or the raw text when it is not JSON
    raw: str | None


def _normalize(events: list[Any]) -> list[_Ev]:
    """Named data events in order; comments are dropped (they are invisible to a grammar)."""
    out = []
    for e in events:
        if isinstance(e, SseEvent):
            if e.comment is not None:
                continue
            event, raw = e.event, e.data
            data = _loads(raw)
        else:
            if "comment" in e:
                continue
            event, data = e.get("event"), e.get("data")
            raw = data if isinstance(data, str) else json.dumps(data)
            if isinstance(data, str):
                data = _loads(data)
        out.append(_Ev(event, data, raw))
    return out


def _loads(raw: str | None) -> Any:
    try:
        return json.loads(raw or "")
    except ValueError:
        return raw


def check_anthropic_stream(events: list[Any]) -> None:
    """Exactly one message_start first (or a lone error), blocks sequential with indices equal to
    their content position, every start stopped, deltas matching their block, tool arguments that
    parse to an object, one message_delta with a valid stop_reason and full usage, message_stop
    last; or an ``error`` event last with nothing after it."""
    named = _normalize(events)
    assert named, "empty stream"
    datas: list[dict[str, Any]] = []
    for n, ev in enumerate(named):
        d = ev.data
        assert isinstance(d, dict), f"event {n}: data is not a JSON object: {ev.raw!r}"
        assert ev.event == d.get("type"), f"event {n}: event {ev.event!r} != type {d.get('type')!r}"
        w.STREAM_EVENT_MODELS[d["type"]].model_validate(d)  # shape of every known event
        datas.append(d)

    if datas[-1]["type"] == "error":
        err = datas[-1]["error"]
        assert err["type"] in ANTHROPIC_ERROR_TYPES, f"unknown error type {err['type']!r}"
        assert isinstance(err["message"], str)
        assert all(d["type"] != "error" for d in datas[:-1]), "more than one error event"
        if len(datas) == 1:
            return  # an error before anything started: the only event
    assert datas[0]["type"] == "message_start", f"first event is {datas[0]['type']!r}"
    assert sum(d["type"] == "message_start" for d in datas) == 1, "message_start twice"
    start_usage = datas[0]["message"]["usage"]
    for field in _USAGE_FIELDS:
        assert isinstance(start_usage.get(field), int), f"message_start usage lacks {field}"

    open_block: dict[str, Any] | None = None
    open_index = -1
    next_index = 0
    args = ""
    seen_delta = False
    for n, d in enumerate(datas[1:], start=1):
        kind = d["type"]
        if kind == "error":
            return  # last, checked above
        assert kind != "message_start"
        if seen_delta:
            assert kind in ("message_stop", "ping"), f"event {n}: {kind} after message_delta"
        if kind == "content_block_start":
            assert open_block is None, f"event {n}: block started while {open_index} is open"
            assert d["index"] == next_index, f"event {n}: index {d['index']} != {next_index}"
            open_block, open_index, args = d["content_block"], d["index"], ""
            next_index += 1
            btype = open_block["type"]
            if btype == "tool_use":
                assert open_block["input"] == {}, "tool_use start must carry input {}"
                assert open_block["id"] and open_block["name"], "tool_use without id or name"
            elif btype == "text":
                assert open_block["text"] == "", "text start must be empty"
            elif btype == "thinking":
                assert open_block["thinking"] == "" and open_block["signature"] == ""
        elif kind == "content_block_delta":
            assert open_block is not None and d["index"] == open_index, (
                f"event {n}: delta for block {d['index']}, not open (Content block not found)"
            )
            allowed = _DELTAS.get(open_block["type"])
            dtype = d["delta"]["type"]
            if allowed is not None:
                assert dtype in allowed, f"event {n}: {dtype} in a {open_block['type']} block"
            if dtype == "input_json_delta":
                args += d["delta"]["partial_json"]
        elif kind == "content_block_stop":
            assert open_block is not None and d["index"] == open_index, f"event {n}: stray stop"
            if open_block["type"] == "tool_use" and args:
                assert isinstance(json.loads(args), dict), "tool arguments are not an object"
            open_block = None
        elif kind == "message_delta":
            assert open_block is None, f"event {n}: message_delta while block {open_index} is open"
            assert d["delta"]["stop_reason"] in ANTHROPIC_STOP_REASONS, d["delta"]
            for field in _USAGE_FIELDS:
                assert isinstance(d["usage"].get(field), int), f"message_delta usage lacks {field}"
            seen_delta = True
        elif kind == "message_stop":
            assert seen_delta, "message_stop without message_delta"
            assert n == len(datas) - 1, "events after message_stop"
            return
    raise AssertionError("stream ends without message_stop or error")


# --------------------------------------------------------------------------- OpenAI chat

OPENAI_FINISH_REASONS = frozenset(
    {"stop", "length", "tool_calls", "content_filter", "function_call"}
)


def check_openai_stream(events: list[Any]) -> None:
    """Chat Completions chunks: one id and ``object: chat.completion.chunk`` throughout; one
    ``finish_reason`` per choice, after which only a usage chunk (``choices: []``) may follow;
    tool-call fragments keyed by ``index`` whose first fragment has id, type and name and whose
    arguments parse to an object; ``data: [DONE]`` last. Or an ``{"error": ...}`` chunk as the
    final event (no ``[DONE]`` after it), which the SDK raises on."""
    evs = _normalize(events)
    assert evs, "empty stream"
    last = evs[-1]
    if isinstance(last.data, dict) and "error" in last.data:
        err = last.data["error"]
        assert isinstance(err, dict) and isinstance(err.get("message"), str), last.raw
        evs = evs[:-1]
    else:
        assert last.raw == "[DONE]", f"stream does not end with [DONE]: {last.raw!r}"
        evs = evs[:-1]
    ids: set[str] = set()
    finished: set[int] = set()
    tools: dict[tuple[int, int], dict[str, Any]] = {}
    for n, ev in enumerate(evs):
        c = ev.data
        assert ev.raw != "[DONE]", f"event {n}: [DONE] before the end"
        assert isinstance(c, dict), f"event {n}: not a JSON object: {ev.raw!r}"
        assert "error" not in c, f"event {n}: error chunk before the end"
        assert c.get("object") == "chat.completion.chunk", f"event {n}: object {c.get('object')!r}"
        ids.add(c.get("id", ""))
        usage = c.get("usage")
        if usage is not None:
            for field in ("prompt_tokens", "completion_tokens", "total_tokens"):
                assert isinstance(usage.get(field), int), f"event {n}: usage lacks {field}"
        choices = c.get("choices")
        assert isinstance(choices, list), f"event {n}: choices is not a list"
        for ch in choices:
            i = ch["index"]
            assert i not in finished, f"event {n}: choice {i} continues after its finish_reason"
            delta = ch.get("delta") or {}
            for tc in delta.get("tool_calls") or []:
                key = (i, tc["index"])
                fn = tc.get("function") or {}
                if key not in tools:
                    assert tc.get("id") and tc.get("type") == "function" and fn.get("name"), (
                        f"event {n}: first fragment of tool call {key} lacks id/type/name"
                    )
                    tools[key] = {"args": ""}
                tools[key]["args"] += fn.get("arguments") or ""
            reason = ch.get("finish_reason")
            if reason is not None:
                assert reason in OPENAI_FINISH_REASONS, f"event {n}: finish_reason {reason!r}"
                finished.add(i)
        if not choices:
            assert finished or usage is not None, f"event {n}: empty chunk"
    assert len(ids) <= 1 and "" not in ids, f"chunk ids differ or are empty: {sorted(ids)}"
    if last.raw == "[DONE]":
        assert finished, "no finish_reason before [DONE]"
    for key, tc in tools.items():
        if tc["args"]:
            assert isinstance(json.loads(tc["args"]), dict), f"tool call {key}: args not an object"


# --------------------------------------------------------------------------- OpenAI Responses

RESPONSES_TERMINALS = ("response.completed", "response.incomplete", "response.failed")
_USAGE_RESPONSES = ("input_tokens", "output_tokens", "total_tokens")


class _OpenItem:
    def __init__(self, index: int, item: dict[str, Any]) -> None:
        self.index = index
        self.item = item
        self.parts: list[dict[str, Any]] = []  # message content parts done so far
        self.part_open: dict[str, Any] | None = None
        self.text = ""  # the open content part's / summary's text, or arguments / input
        self.summaries: list[dict[str, Any]] = []
        self.summary_open = False


def check_responses_stream(events: list[Any]) -> dict[str, Any]:
    """The Responses event grammar Codex and the openai SDK rely on; returns the terminal
    ``response`` object.

    Every event named as its ``type``; ``sequence_number`` 0, 1, 2 ... without a gap;
    ``response.created`` first (``in_progress`` may follow), the same response id throughout;
    output items one at a time with ``output_index`` 0, 1, 2 ...; content parts, summary parts,
    deltas and ``.done`` events that name the open item (``item_id``, ``output_index``,
    ``content_index`` / ``summary_index``) and whose ``.done`` text equals the deltas; every
    ``output_item.done`` carrying what was streamed; exactly one terminal event, last (an
    ``error`` event may only come right before ``response.failed``), whose ``response.output`` is
    exactly the items as ``output_item.done`` had them, with full usage unless it failed."""
    evs = _normalize(events)
    assert evs, "empty stream"
    datas: list[dict[str, Any]] = []
    for n, ev in enumerate(evs):
        d = ev.data
        assert isinstance(d, dict), f"event {n}: data is not a JSON object: {ev.raw!r}"
        assert ev.event == d.get("type"), f"event {n}: event {ev.event!r} != type {d.get('type')!r}"
        assert d.get("sequence_number") == n, (
            f"event {n}: sequence_number {d.get('sequence_number')}"
        )
        datas.append(d)
    assert datas[0]["type"] == "response.created", f"first event is {datas[0]['type']!r}"
    resp_id = datas[0]["response"]["id"]
    assert resp_id, "response without id"
    terminals = [d for d in datas if d["type"] in RESPONSES_TERMINALS]
    assert len(terminals) == 1, f"{len(terminals)} terminal events"
    assert datas[-1]["type"] in RESPONSES_TERMINALS, f"last event is {datas[-1]['type']!r}"
    done: list[dict[str, Any]] = []
    open_item: _OpenItem | None = None
    for n, d in enumerate(datas[1:-1], start=1):
        kind = d["type"]
        if kind in ("response.in_progress", "response.created"):
            assert d["response"]["id"] == resp_id, f"event {n}: response id changed"
            assert kind == "response.in_progress" and n == 1, f"event {n}: {kind} again"
            continue
        if kind == "error":
            assert n == len(datas) - 2 and datas[-1]["type"] == "response.failed", (
                f"event {n}: error not right before response.failed"
            )
            assert isinstance(d["message"], str) and d["message"]
            continue
        if kind == "response.output_item.added":
            assert open_item is None, f"event {n}: item added while {open_item.index} is open"
            assert d["output_index"] == len(done), f"event {n}: output_index {d['output_index']}"
            assert d["item"]["id"], f"event {n}: item without id"
            open_item = _OpenItem(d["output_index"], d["item"])
            continue
        assert open_item is not None, f"event {n}: {kind} without an open item"
        it = open_item
        assert d["output_index"] == it.index, f"event {n}: output_index {d['output_index']}"
        if kind != "response.output_item.done":
            assert d["item_id"] == it.item["id"], f"event {n}: item_id {d['item_id']!r}"
        itype = it.item["type"]
        if kind == "response.content_part.added":
            assert itype == "message" and it.part_open is None, f"event {n}: stray content part"
            assert d["content_index"] == len(it.parts), f"event {n}: content_index"
            assert d["part"]["type"] in ("output_text", "refusal"), d["part"]
            it.part_open, it.text = d["part"], ""
        elif kind in ("response.output_text.delta", "response.refusal.delta"):
            assert it.part_open is not None and d["content_index"] == len(it.parts), f"event {n}"
            it.text += d["delta"]
        elif kind in ("response.output_text.done", "response.refusal.done"):
            assert it.part_open is not None and d["content_index"] == len(it.parts), f"event {n}"
            assert d.get("text", d.get("refusal")) == it.text, f"event {n}: done text differs"
        elif kind == "response.content_part.done":
            assert it.part_open is not None and d["content_index"] == len(it.parts), f"event {n}"
            assert d["part"].get("text", d["part"].get("refusal")) == it.text, f"event {n}"
            it.parts.append(d["part"])
            it.part_open = None
        elif kind == "response.reasoning_summary_part.added":
            assert itype == "reasoning" and not it.summary_open, f"event {n}: stray summary part"
            assert d["summary_index"] == len(it.summaries), f"event {n}: summary_index"
            assert d["part"] == {"type": "summary_text", "text": ""}, d["part"]
            it.summary_open, it.text = True, ""
        elif kind == "response.reasoning_summary_text.delta":
            assert it.summary_open and d["summary_index"] == len(it.summaries), f"event {n}"
            it.text += d["delta"]
        elif kind == "response.reasoning_summary_text.done":
            assert it.summary_open and d["text"] == it.text, f"event {n}: summary text differs"
        elif kind == "response.reasoning_summary_part.done":
            assert it.summary_open and d["part"] == {"type": "summary_text", "text": it.text}
            it.summaries.append(d["part"])
            it.summary_open = False
        elif kind == "response.function_call_arguments.delta":
            assert itype == "function_call", f"event {n}: arguments in a {itype} item"
            it.text += d["delta"]
        elif kind == "response.function_call_arguments.done":
            assert itype == "function_call" and d["arguments"] == it.text, f"event {n}"
            assert isinstance(json.loads(it.text), dict), f"event {n}: arguments not an object"
        elif kind == "response.custom_tool_call_input.delta":
            assert itype == "custom_tool_call", f"event {n}: input in a {itype} item"
            it.text += d["delta"]
        elif kind == "response.custom_tool_call_input.done":
            assert itype == "custom_tool_call" and d["input"] == it.text, f"event {n}"
        elif kind == "response.output_item.done":
            item = d["item"]
            assert item["id"] == it.item["id"] and item["type"] == itype, f"event {n}: item changed"
            assert it.part_open is None and not it.summary_open, f"event {n}: part left open"
            if itype == "message":
                assert item["content"] == it.parts, f"event {n}: message content differs"
            elif itype == "reasoning":
                assert item["summary"] == it.summaries, f"event {n}: summary differs"
            elif itype == "function_call":
                assert item["arguments"] == it.text, f"event {n}: arguments differ"
                assert item["call_id"] and item["name"], f"event {n}: call without id or name"
            elif itype == "custom_tool_call":
                assert item["input"] == it.text, f"event {n}: input differs"
            done.append(item)
            open_item = None
        else:
            raise AssertionError(f"event {n}: unexpected {kind}")
    last = datas[-1]
    resp: dict[str, Any] = last["response"]
    assert resp["id"] == resp_id, "terminal response id changed"
    status = last["type"].removeprefix("response.")
    assert resp["status"] == status, f"terminal status {resp['status']!r} in {last['type']}"
    if status == "failed":
        assert resp["error"]["code"] and resp["error"]["message"], resp["error"]
        return resp
    assert open_item is None, f"item {open_item.index} left open at {last['type']}"
    assert resp["output"] == done, "terminal output differs from the streamed items"
    if status == "incomplete":
        assert resp["incomplete_details"]["reason"] in ("max_output_tokens", "content_filter")
    usage = resp["usage"]
    for field in _USAGE_RESPONSES:
        assert isinstance(usage.get(field), int), f"usage lacks {field}"
    assert isinstance(usage["input_tokens_details"]["cached_tokens"], int)
    assert isinstance(usage["output_tokens_details"]["reasoning_tokens"], int)
    return resp
