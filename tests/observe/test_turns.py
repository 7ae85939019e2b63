"""Which messages of a request are new in its session."""

from __future__ import annotations

from recorder.observe.turns import Turns


def _msgs(*texts: str) -> list[dict[str, str]]:
    return [{"role": "user" if i % 2 == 0 else "assistant", "content": t}
            for i, t in enumerate(texts)]  # fmt: skip


def test_the_next_turn_repeats_the_previous_request_and_its_reply():
    t = Turns()
    assert t.seen("s", _msgs("q1")) == 0
    assert t.seen("s", _msgs("q1", "a1", "q2")) == 2
    assert t.seen("s", _msgs("q1", "a1", "q2", "a2", "q3")) == 4


def test_another_conversation_in_the_same_session_is_new_from_the_start():
    t = Turns()
    t.seen("s", _msgs("q1"))
    assert t.seen("s", _msgs("title?", "x", "y")) == 0  # a sub-agent, say
    assert t.seen("s", _msgs("q1", "a1", "q2")) == 0  # the main one again: not what came last


def test_no_session_means_everything_is_new_and_memory_is_bounded():
    t = Turns(remember=2)
    assert t.seen(None, _msgs("q1")) == 0
    for s in ("a", "b", "c"):
        t.seen(s, _msgs("q1"))
    assert t.seen("a", _msgs("q1", "a1", "q2")) == 0  # forgotten
    assert t.seen("c", _msgs("q1", "a1", "q2")) == 2
