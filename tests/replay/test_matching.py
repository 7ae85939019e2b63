from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from syrupy.assertion import SnapshotAssertion

from replay.matching import MatchPolicy, differences, explain_miss, view

BASE: dict[str, Any] = {
    "model": "claude-sonnet-5",
    "max_tokens": 100,
    "system": [
        {"type": "text", "text": "<system-reminder>currentDate: 2026-11-22</system-reminder>"}
    ],
    "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
    "metadata": {"user_id": "user_abc_account__session_1"},
}


def _with(**changes: Any) -> bytes:
    body = json.loads(json.dumps(BASE))
    for path, value in changes.items():
        node = body
        keys = path.split("__")
        for k in keys[:-1]:
            node = node[int(k)] if isinstance(node, list) else node.setdefault(k, {})
        if value is None:
            del node[keys[-1]]
        else:
            node[keys[-1]] = value
    return json.dumps(body).encode()


@dataclass(frozen=True)
class Case:
    id: str
    other: bytes
    same: bool
    policy: MatchPolicy = field(default_factory=MatchPolicy)
    url: str = "http://127.0.0.1:8080/v1/messages"
    headers: tuple[tuple[str, str], ...] = ()


CASES = [
    Case("identical", _with(), True),
    Case("key order and whitespace", json.dumps(BASE, indent=4, sort_keys=True).encode(), True),
    Case("query string ignored", _with(), True, url="http://x/v1/messages?beta=true"),
    Case("metadata.user_id ignored", _with(metadata__user_id="user_other_session_2"), True),
    Case(
        "date in currentDate reminder masked",
        _with(
            system=[
                {
                    "type": "text",
                    "text": "<system-reminder>currentDate: 2027-01-05</system-reminder>",
                }
            ]
        ),
        True,
    ),
    Case(
        "date masking can be turned off",
        _with(system=[{"type": "text", "text": "currentDate: 2027-01-05"}]),
        False,
        MatchPolicy(mask_dates=False),
    ),
    Case(
        "a date outside a reminder matters",
        _with(messages=[{"role": "user", "content": "2027-01-05"}]),
        False,
    ),
    Case("stream_options ignored", _with(stream_options={"include_usage": True}), True),
    Case(
        "prompt_cache_key and client_metadata ignored",
        _with(prompt_cache_key="k", client_metadata={"turn": "t"}),
        True,
    ),
    Case(
        "sdk headers ignored",
        _with(),
        True,
        headers=(("x-stainless-retry-count", "1"), ("user-agent", "x")),
    ),
    Case(
        "header matched when the policy says so",
        _with(),
        False,
        MatchPolicy(match_headers=("anthropic-beta",)),
        headers=(("anthropic-beta", "b"),),
    ),
    Case(
        "message text matters",
        _with(messages=[{"role": "user", "content": [{"type": "text", "text": "ho"}]}]),
        False,
    ),
    Case("model matters", _with(model="claude-opus-5"), False),
    Case("path matters", _with(), False, url="http://x/v1/messages/count_tokens"),
    Case("extra ignore path", _with(max_tokens=5), True, MatchPolicy().ignoring("max_tokens")),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_matching(case: Case) -> None:
    recorded = view("POST", "https://api.anthropic.com/v1/messages", _with(), {}, case.policy)
    got = view("post", case.url, case.other, dict(case.headers), case.policy)
    assert (got.key == recorded.key) is case.same


def test_codex_input_ids_ignored() -> None:
    a = {"model": "gpt-5", "input": [{"id": "msg_1", "type": "message", "content": "x"}]}
    b = {"model": "gpt-5", "input": [{"id": "msg_2", "type": "message", "content": "x"}]}
    assert (
        view("POST", "/v1/responses", json.dumps(a).encode()).key
        == view("POST", "/v1/responses", json.dumps(b).encode()).key
    )


def test_non_json_bodies_compare_as_text() -> None:
    assert view("POST", "/x", b"abc").key == view("POST", "/x", b"abc").key
    assert view("POST", "/x", b"abc").key != view("POST", "/x", b"abd").key


def test_differences_lists_model_first_then_paths() -> None:
    a = {"model": "a", "max_tokens": 1, "messages": [{"content": [{"text": "foo"}]}]}
    b = {"model": "b", "messages": [{"content": [{"text": "bar"}]}, {"x": 1}]}
    assert list(differences(a, b)) == [
        ("model", "a", "b"),
        ("messages[0].content[0].text", "foo", "bar"),
        ("messages[1]", "<missing>", {"x": 1}),
        ("max_tokens", 1, "<missing>"),
    ]


def test_closest_miss_message(snapshot_json: SnapshotAssertion) -> None:
    recorded = [
        (0, view("POST", "/v1/chat/completions", b'{"model":"gpt-5","messages":[]}')),
        (1, view("POST", "/v1/messages", _with())),
        (2, view("POST", "/v1/messages", _with(model="claude-opus-5"))),
    ]
    asked = _with(messages=[{"role": "user", "content": [{"type": "text", "text": "hello"}]}])
    messages = {
        "closest by body": explain_miss(
            view("POST", "/v1/messages", asked), recorded, "cassette 'x'"
        ),
        "other path": explain_miss(view("GET", "/v1/models", None), recorded, "cassette 'x'"),
        "empty cassette": explain_miss(view("POST", "/v1/messages", asked), [], "cassette 'x'"),
    }
    assert "#1 (POST /v1/messages, model 'claude-sonnet-5')" in messages["closest by body"]
    assert 'messages[0].content[0].text: "hello" != "hi"' in messages["closest by body"]
    assert messages == snapshot_json


def _codex_output(chunk: str, wall: str, out: str) -> bytes:
    text = f"Chunk ID: {chunk}\nWall time: {wall} seconds\nProcess exited with code 0\n"
    text += f"Output:\n{out}\n"
    return json.dumps(
        {"model": "m", "messages": [{"role": "tool", "tool_call_id": "c", "content": text}]}
    ).encode()


def test_codex_run_details_are_masked_but_the_output_is_not() -> None:
    a = view("POST", "http://x/v1/chat/completions", _codex_output("7eea47", "0.0000", "hi"))
    b = view("POST", "http://x/v1/chat/completions", _codex_output("4b7524", "0.0123", "hi"))
    c = view("POST", "http://x/v1/chat/completions", _codex_output("4b7524", "0.0123", "ho"))
    assert a.key == b.key and b.key != c.key
    off = MatchPolicy(mask_run_details=False)
    assert (
        view(
            "POST", "http://x/v1/chat/completions", _codex_output("7eea47", "0", "hi"), {}, off
        ).key
        != view(
            "POST", "http://x/v1/chat/completions", _codex_output("4b7524", "0", "hi"), {}, off
        ).key
    )
