"""Conversation hashes that survive what clients change between turns, and the session store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from recorder.claude_cli.sessions import (
    CliSession,
    SessionBusyError,
    SessionStore,
    conversation_key,
)

Q = {"role": "user", "content": "what is 2+2?"}
A = {"role": "assistant", "content": [{"type": "text", "text": "4"}]}


def key(*messages: dict, namespace: str = "", system: list[str] | None = None) -> str:  # type: ignore[type-arg]
    return conversation_key(namespace, system or [], list(messages))


def test_equivalent_histories_hash_alike() -> None:
    base = key(Q, A)
    variants: list[tuple[dict[str, Any], dict[str, Any]]] = [
        ({"role": "user", "content": [{"type": "text", "text": "what is 2+2?"}]}, A),
        (
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is "},
                    {"type": "text", "text": "2+2?", "cache_control": {"type": "ephemeral"}},
                ],
            },
            A,
        ),
        (
            Q,
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "hmm", "signature": "s"},
                    {"type": "text", "text": "4"},
                ],
            },
        ),
        (Q, {"role": "assistant", "content": "4"}),
    ]
    for q, a in variants:
        assert key(q, a) == base


def test_tool_results_grouped_either_way_hash_alike() -> None:
    call = {
        "role": "assistant",
        "content": [
            {"type": "tool_use", "id": "t1", "name": "f", "input": {"a": 1, "b": 2}},
            {"type": "tool_use", "id": "t2", "name": "f", "input": {"b": 2, "a": 1}},
        ],
    }
    r1 = {"type": "tool_result", "tool_use_id": "t1", "content": "x"}
    r2 = {"type": "tool_result", "tool_use_id": "t2", "content": [{"type": "text", "text": "y"}]}
    one = key(Q, call, {"role": "user", "content": [r1, r2]})
    two = key(Q, call, {"role": "user", "content": [r1]}, {"role": "user", "content": [r2]})
    assert one == two


@pytest.mark.parametrize(
    "other",
    [
        lambda: key(Q, {"role": "assistant", "content": "5"}),
        lambda: key(Q, A, namespace="someone-else"),
        lambda: key(Q, A, system=["Be terse."]),
        lambda: key(Q),
        lambda: key(A, Q),
    ],
)
def test_different_conversations_hash_apart(other) -> None:  # type: ignore[no-untyped-def]
    assert other() != key(Q, A)


def test_checkout_is_exclusive_until_released() -> None:
    store = SessionStore()
    s = CliSession("s1", Path("/w/s1"), "leaf1")
    store.remember("k", s)
    assert store.checkout("k") == s
    assert store.checkout("k") is None  # a second turn on the same history: a new session
    store.release(s)
    assert store.checkout("k") == s


def test_store_is_bounded() -> None:
    store = SessionStore(max_entries=2)
    for i in range(3):
        store.remember(f"k{i}", CliSession(f"s{i}", Path("/w")))
    assert len(store) == 2 and store.checkout("k0") is None


def test_named_conversations() -> None:
    store = SessionStore()
    assert store.begin_named("chat-1") is None
    with pytest.raises(SessionBusyError):
        store.begin_named("chat-1")
    first = CliSession("s1", Path("/w/s1"), "l1")
    store.end_named("chat-1", None, first)
    assert store.begin_named("chat-1") == first
    store.end_named("chat-1", first, None)  # a failed turn leaves it where it was
    assert store.begin_named("chat-1") == first
