"""Session detection, in order of trust."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

import pytest

from recorder import dialects
from recorder.dialects import SessionHints
from recorder.exchange import Exchange, HttpRequest
from recorder.store.sessions import prefix_hash, session_id_for


def _body(**extra: object) -> bytes:
    body = {"model": "m", "system": "be brief", "messages": [{"role": "user", "content": "hi"}]}
    return json.dumps({**body, **extra}).encode()


CC_USER_ID = json.dumps({"device_id": "d", "account_uuid": "", "session_id": "from-metadata"})


@dataclass(frozen=True)
class Case:
    id: str
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None
    preset: str | None = None
    want: str | None = None


CASES = [
    Case("exchange wins", (("x-tapegate-session", "h"),), _body(), "preset", "preset"),
    Case(
        "explicit header",
        (("X-Tapegate-Session", "mine"), ("X-Claude-Code-Session-Id", "cc")),
        _body(),
        want="mine",
    ),  # fmt: skip
    Case("claude code header", (("X-Claude-Code-Session-Id", "cc"),), _body(), want="cc"),
    Case(
        "metadata.user_id json string",
        body=_body(metadata={"user_id": CC_USER_ID}),
        want="from-metadata",
    ),  # fmt: skip
    Case(
        "plain user_id falls back to prefix hash",
        body=_body(metadata={"user_id": "u-1"}),
        want=prefix_hash(json.loads(_body())),
    ),  # fmt: skip
    Case("codex session header", (("session-id", "th-1"), ("thread-id", "th-1")), want="th-1"),
    Case(
        "responses client_metadata",
        body=json.dumps({"input": "x", "client_metadata": {"thread_id": "th-2"}}).encode(),
        want="th-2",
    ),  # fmt: skip
    Case(
        "responses prompt_cache_key",
        body=json.dumps({"input": "x", "prompt_cache_key": "pck"}).encode(),
        want="pck",
    ),  # fmt: skip
    Case("no body", want=None),
    Case("not json", body=b"\x00", want=None),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_session_id_for(case: Case):
    ex = Exchange(id="e", started_at=0.0, session_id=case.preset)
    ex.client_request = HttpRequest("POST", "http://x/v1/messages", list(case.headers), case.body)
    assert session_id_for(ex) == case.want


def test_prefix_hash_is_stable_across_turns_and_differs_by_prompt():
    turn1 = {"system": "s", "messages": [{"role": "user", "content": "hi"}]}
    turn2 = {"system": "s", "messages": [{"role": "user", "content": "hi"},
                                         {"role": "assistant", "content": "yo"},
                                         {"role": "user", "content": "more"}]}  # fmt: skip
    other = {"system": "s", "messages": [{"role": "user", "content": "bye"}]}
    assert prefix_hash(turn1) == prefix_hash(turn2)
    assert prefix_hash(turn1) != prefix_hash(other)
    assert (h := prefix_hash(turn1)) is not None and h.startswith("h:") and len(h) == 18


def test_prefix_hash_reads_openai_system_messages():
    a = {"messages": [{"role": "system", "content": "s1"}, {"role": "user", "content": "hi"}]}
    b = {"messages": [{"role": "system", "content": "s2"}, {"role": "user", "content": "hi"}]}
    assert prefix_hash(a) != prefix_hash(b)
    assert prefix_hash({"messages": []}) is None


def test_prefix_hash_reads_responses_input():
    turn1 = {"instructions": "i", "input": "hi"}
    turn2 = {"instructions": "i", "input": [{"role": "user", "content": "hi"},
                                            {"type": "function_call_output", "call_id": "c",
                                             "output": "x"}]}  # fmt: skip
    assert prefix_hash(turn1) == prefix_hash(turn2) is not None
    assert prefix_hash({"instructions": "j", "input": "hi"}) != prefix_hash(turn1)


def test_a_dialects_session_hints_come_from_its_registry_entry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # a dialect brings its hints in its entry: sessions.py knows no dialect's headers or fields
    def named(body: dict[str, object]) -> str | None:
        conv = body.get("conversation")
        return conv.get("id") if isinstance(conv, dict) else None  # type: ignore[return-value]

    kiro = dialects.entry("kiro")
    hints = SessionHints(
        headers=("x-new-session",), in_body=named, system_field="preamble", turns_field="turns"
    )
    monkeypatch.setitem(dialects.REGISTRY, "kiro", replace(kiro, sessions=hints))

    def session(headers: tuple[tuple[str, str], ...], body: object) -> str | None:
        ex = Exchange(id="e", started_at=0.0)
        ex.client_request = HttpRequest(
            "POST", "http://x/chat", list(headers), json.dumps(body).encode()
        )
        return session_id_for(ex)

    assert session((("X-New-Session", "s1"),), {}) == "s1"
    assert session((), {"conversation": {"id": "c1"}}) == "c1"
    turns = [{"role": "user", "content": "hi"}]
    one = session((), {"preamble": "p", "turns": turns})
    assert one is not None and one.startswith("h:")
    assert one == session(
        (), {"preamble": "p", "turns": [*turns, {"role": "user", "content": "x"}]}
    )
    assert one != session((), {"preamble": "q", "turns": turns})
