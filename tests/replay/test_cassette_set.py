"""The shipped cassette set covers what issue 5 asks for, in every direction, so that deleting
(or re-recording away) a cassette fails CI. Features are read from the cassettes' content (the
dialects of each interaction, its request and the response of each leg), not from folder names.

Directions: a2o (Anthropic client -> OpenAI upstream), o2a (OpenAI client -> Anthropic upstream),
pass-anthropic, pass-openai. Re-record with ``uv run python scripts/record_cassettes.py``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from replay.cassette import Interaction, LegRecord, load
from replay.verify import sse_events

ROOT = Path(__file__).resolve().parents[2]
CASSETTES = ROOT / "cassettes"
DIRECTIONS: dict[str, tuple[str, str]] = {
    "a2o": ("anthropic", "openai"),
    "o2a": ("openai", "anthropic"),
    "pass-anthropic": ("anthropic", "anthropic"),
    "pass-openai": ("openai", "openai"),
}


# --------------------------------------------------------------------------- reading a leg


@dataclass(frozen=True, slots=True)
class Reply:
    """What one leg's response holds, whatever its dialect and whether it streamed."""

    status: int
    streamed: bool
    text: str = ""
    tool_calls: int = 0
    argument_deltas: int = 0  # streamed tool-argument fragments
    signed_thinking: bool = False  # Anthropic thinking with a non-empty signature
    reasoning: bool = False  # OpenAI reasoning_content
    stop: str | None = None
    cached_tokens: int = 0
    stream_error: bool = False  # an error event after the stream started


def _anthropic_json(status: int, body: Any) -> Reply:
    content = body.get("content") or [] if isinstance(body, dict) else []
    usage = body.get("usage") or {} if isinstance(body, dict) else {}
    return Reply(
        status,
        False,
        text="".join(b.get("text", "") for b in content if b.get("type") == "text"),
        tool_calls=sum(b.get("type") == "tool_use" for b in content),
        signed_thinking=any(b.get("type") == "thinking" and b.get("signature") for b in content),
        stop=body.get("stop_reason") if isinstance(body, dict) else None,
        cached_tokens=usage.get("cache_read_input_tokens") or 0,
    )


def _anthropic_stream(status: int, events: list[dict[str, Any]]) -> Reply:
    text, tools, args, signed, stop, cached, error = "", 0, 0, False, None, 0, False
    for e in events:
        d = e["data"] if isinstance(e["data"], dict) else {}
        kind = d.get("type")
        delta = d.get("delta") or {}
        if kind == "message_start":
            cached = (d["message"].get("usage") or {}).get("cache_read_input_tokens") or cached
        elif kind == "content_block_start":
            tools += d["content_block"].get("type") == "tool_use"
        elif kind == "content_block_delta":
            text += delta.get("text", "") if delta.get("type") == "text_delta" else ""
            args += delta.get("type") == "input_json_delta"
            signed |= delta.get("type") == "signature_delta" and bool(delta.get("signature"))
        elif kind == "message_delta":
            stop = delta.get("stop_reason") or stop
            cached = (d.get("usage") or {}).get("cache_read_input_tokens") or cached
        elif kind == "error":
            error = True
    return Reply(status, True, text, tools, args, signed, False, stop, cached, error)


def _openai_json(status: int, body: Any) -> Reply:
    choice = (body.get("choices") or [{}])[0] if isinstance(body, dict) else {}
    msg = choice.get("message") or {}
    usage = body.get("usage") or {} if isinstance(body, dict) else {}
    return Reply(
        status,
        False,
        text=msg.get("content") or "",
        tool_calls=len(msg.get("tool_calls") or []),
        reasoning=bool(msg.get("reasoning_content")),
        stop=choice.get("finish_reason"),
        cached_tokens=(usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0,
    )


def _openai_stream(status: int, events: list[dict[str, Any]]) -> Reply:
    text, calls, args, reasoning, stop, cached, error = "", set(), 0, False, None, 0, False
    for e in events:
        d = e["data"]
        if not isinstance(d, dict):
            continue
        error |= "error" in d
        usage = d.get("usage") or {}
        cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or cached
        for choice in d.get("choices") or []:
            delta = choice.get("delta") or {}
            text += delta.get("content") or ""
            reasoning |= bool(delta.get("reasoning_content"))
            for tc in delta.get("tool_calls") or []:
                calls.add(tc.get("index"))
                args += bool((tc.get("function") or {}).get("arguments"))
            stop = choice.get("finish_reason") or stop
    return Reply(status, True, text, len(calls), args, False, reasoning, stop, cached, error)


def reply(leg: LegRecord | None, dialect: str | None) -> Reply | None:
    if leg is None or leg.response is None:
        return None
    r = leg.response
    if r.stream is not None:
        events = sse_events(r.stream.data)
        return (_anthropic_stream if dialect == "anthropic" else _openai_stream)(r.status, events)
    body = json.loads(r.body) if r.body else None
    return (_anthropic_json if dialect == "anthropic" else _openai_json)(r.status, body)


def request_blocks(it: Interaction) -> list[str]:
    """Kinds of content the client's request carries: text, image, tool_result."""
    body = json.loads(it.client.request.body or b"{}") if it.client else {}
    kinds = []
    for m in body.get("messages") or []:
        if m.get("role") == "tool":
            kinds.append("tool_result")
        content = m.get("content")
        for b in content if isinstance(content, list) else []:
            kind = b.get("type")
            kinds.append("image" if kind == "image_url" else kind)
    return kinds


# --------------------------------------------------------------------------- the requirements


@dataclass(frozen=True, slots=True)
class View:
    it: Interaction
    client: Reply | None
    upstream: Reply | None


Need = Callable[[View, str], bool]  # (interaction, upstream dialect) -> covered?


def _ok(v: View) -> bool:
    return v.client is not None and v.client.status == 200 and not v.client.stream_error


def _plain_text(streamed: bool) -> Need:
    """Only text both ways: no tools, images, thinking, cache or limit in play."""

    def need(v: View, _: str) -> bool:
        c = v.client
        body = json.loads(v.it.client.request.body or b"{}") if v.it.client else {}
        asked = {"tools", "thinking", "reasoning_effort", "system"} & set(body)
        if not _ok(v) or c is None or c.streamed != streamed or asked:
            return False
        plain_reply = not (c.tool_calls or c.signed_thinking or c.reasoning or c.cached_tokens)
        only_text = set(request_blocks(v.it)) <= {"text"}
        return bool(c.text) and plain_reply and only_text and c.stop in ("end_turn", "stop")

    return need


def _tools(n: int, streamed: bool, at_least: bool = False) -> Need:
    def need(v: View, _: str) -> bool:
        c = v.client
        if not _ok(v) or c is None or c.streamed != streamed:
            return False
        count_ok = c.tool_calls >= n if at_least else c.tool_calls == n
        return count_ok and (not streamed or c.argument_deltas >= 2 * n)

    return need


def _stopped_at_limit(streamed: bool) -> Need:
    return lambda v, _: (
        _ok(v)
        and v.client is not None
        and v.client.streamed == streamed
        and v.client.stop in ("max_tokens", "length")
    )


def _thinking(streamed: bool) -> Need:
    """Signed thinking from an Anthropic upstream; reasoning_content from an OpenAI one."""

    def need(v: View, upstream: str) -> bool:
        u = v.upstream
        if not _ok(v) or u is None or u.streamed != streamed:
            return False
        return u.signed_thinking if upstream == "anthropic" else u.reasoning

    return need


def _error(status: int | tuple[int, int]) -> Need:
    wanted = status if isinstance(status, tuple) else (status,)
    return lambda v, _: v.upstream is not None and v.upstream.status in wanted


NEEDS: dict[str, Need] = {
    "text": _plain_text(streamed=False),
    "stream-text": _plain_text(streamed=True),
    "tool (single)": _tools(1, streamed=False),
    "tools (parallel)": _tools(2, streamed=False, at_least=True),
    "stream-tool (streamed arguments)": _tools(1, streamed=True),
    "stream-tools (parallel, streamed arguments)": _tools(2, streamed=True, at_least=True),
    "tool round trip (request carries the tool result)": lambda v, _: _ok(v)
    and "tool_result" in request_blocks(v.it),
    "image (base64 in the request)": lambda v, _: _ok(v) and "image" in request_blocks(v.it),
    "thinking": _thinking(streamed=False),
    "stream-thinking": _thinking(streamed=True),
    "max_tokens / length": _stopped_at_limit(streamed=False),
    "stream max_tokens / length": _stopped_at_limit(streamed=True),
    "usage with cache tokens": lambda v, _: _ok(v) and v.upstream is not None
    and not v.upstream.streamed and v.upstream.cached_tokens > 0,
    "stream usage with cache tokens": lambda v, _: _ok(v) and v.upstream is not None
    and v.upstream.streamed and v.upstream.cached_tokens > 0,
    "error 400": _error(400),
    "error 401": _error(401),
    "error 429": _error(429),
    "error 500": _error(500),
    "error 529 / 503 (overloaded)": _error((529, 503)),
    "mid-stream error": lambda v, _: v.client is not None and v.client.status == 200
    and v.client.stream_error and v.upstream is not None and v.upstream.stream_error,
}  # fmt: skip


def direction_of(name: str) -> str | None:
    return next((d for d in DIRECTIONS if name.startswith(f"{d}-")), None)


@cache
def views() -> dict[str, list[tuple[str, View]]]:
    """Direction -> [(cassette name, view of one interaction)] over the recorded set (the
    cassettes named ``<direction>-<scenario>``; hand-written examples such as ``openai-hello``
    do not count, so that each recorded cassette is the only one covering something)."""
    out: dict[str, list[tuple[str, View]]] = {d: [] for d in DIRECTIONS}
    pairs = {v: k for k, v in DIRECTIONS.items()}
    for f in sorted(CASSETTES.glob("*/cassette.json")):
        if direction_of(f.parent.name) is None:
            continue
        cas = load(f.parent)
        for it in cas.interactions:
            direction = pairs.get((it.client_dialect or "", it.upstream_dialect or ""))
            if direction is not None:
                c, u = reply(it.client, it.client_dialect), reply(it.upstream, it.upstream_dialect)
                out[direction].append((cas.name, View(it, c, u)))
    return out


@dataclass(frozen=True, slots=True)
class Case:
    direction: str
    feature: str


CASES = [Case(d, f) for d in DIRECTIONS for f in NEEDS]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.direction}:{c.feature}")
def test_the_set_covers(case: Case) -> None:
    upstream = DIRECTIONS[case.direction][1]
    found = [name for name, v in views()[case.direction] if NEEDS[case.feature](v, upstream)]
    assert found, (
        f"no cassette covers {case.feature!r} for {case.direction} "
        f"({' -> '.join(DIRECTIONS[case.direction])}); re-record with "
        "`uv run python scripts/record_cassettes.py`"
    )


def test_cassette_names_say_their_direction() -> None:
    pairs = {v: k for k, v in DIRECTIONS.items()}
    for f in sorted(CASSETTES.glob("*/cassette.json")):
        named = direction_of(f.parent.name)
        for it in load(f.parent).interactions if named else []:
            actual = pairs.get((it.client_dialect or "", it.upstream_dialect or ""))
            assert actual == named, f"{f.parent.name}#{it.index} is {actual} traffic"


def test_no_cassette_holds_a_key() -> None:
    for f in sorted(CASSETTES.glob("*/*")):
        text = f.read_bytes().decode("utf-8", "replace")  # Kiro's event streams are binary
        assert "sk-test" not in text, f"{f} holds the recording key"
        for h in ("authorization", "x-api-key"):
            for line in text.splitlines():
                if f'"{h}":' in line:
                    assert '"[redacted]"' in line, f"{f}: {line.strip()}"


# --------------------------------------------------------------------------- Kiro upstreams

KIRO_DIRECTIONS = {"a2k": "anthropic", "o2k": "openai"}
KIRO_NEEDS = (
    "text",
    "stream-text",
    "tool",
    "stream-tool",
    "tool-result",
    "image",
    "stream-thinking",
    "stream-truncated-tool",
    "error-invalid-model",
    "stream-exception",
)


def _kiro_frames(it: Interaction) -> list[str]:
    from recorder.wire.eventstream import decode_all

    assert it.upstream is not None and it.upstream.response is not None
    stream = it.upstream.response.stream
    if stream is None:
        return []
    return [
        m.string(":event-type") or m.string(":message-type") or "" for m in decode_all(stream.data)
    ]


@pytest.mark.parametrize("direction", sorted(KIRO_DIRECTIONS))
def test_the_kiro_set_covers(direction: str) -> None:
    """Every Kiro scenario is there, upstream leg as an event stream (raw frames that decode),
    and the cut-off tool call reached the client as max_tokens / length with no tool call."""
    for scenario in KIRO_NEEDS:
        cas = load(CASSETTES / f"{direction}-{scenario}")
        (it,) = cas.interactions
        assert (it.client_dialect, it.upstream_dialect) == (KIRO_DIRECTIONS[direction], "kiro")
        frames = _kiro_frames(it)
        if scenario.startswith("error"):
            assert not frames
            continue
        assert "assistantResponseEvent" in frames, (cas.name, frames)
        if scenario == "stream-truncated-tool":
            assert "toolUseEvent" in frames and "meteringEvent" not in frames
            r = reply(it.client, it.client_dialect)
            assert r.tool_calls == 0 and r.stop in ("max_tokens", "length"), r
        if scenario == "stream-exception":
            assert "exception" in frames
