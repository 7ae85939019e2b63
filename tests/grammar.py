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
