from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from replay.cassette import Cassette, Interaction, LegRecord, Request, Response, Stream, load
from replay.engine import NotFullyPlayedError, ReplayEngine, Timing
from tests.replay.conftest import ANTHROPIC, OPENAI, recorded_body


def _cassette() -> Cassette:
    def it(i: int, text: str) -> Interaction:
        body = json.dumps({"model": "m", "messages": [{"role": "user", "content": text}]}).encode()
        leg = LegRecord(
            Request("POST", "http://u/v1/chat/completions", {}, body),
            Response(200, {"content-type": "application/json"}, f'{{"n":{i}}}'.encode()),
        )
        return Interaction(i, upstream=leg, client=leg)

    return Cassette("c", [it(0, "a"), it(1, "b"), it(2, "a")])


def _ask(e: ReplayEngine, text: str) -> tuple[int, int | None]:
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": text}]}).encode()
    r = e.handle("POST", "/v1/chat/completions", body)
    return r.status, r.index


def test_each_interaction_plays_once_in_recorded_order() -> None:
    e = ReplayEngine(_cassette())
    assert [_ask(e, "a"), _ask(e, "a"), _ask(e, "b")] == [(200, 0), (200, 2), (200, 1)]
    status, index = _ask(e, "a")
    assert (status, index) == (404, None)
    assert "already played" in e.misses[-1]


def test_repeat_serves_the_least_played_match_again() -> None:
    e = ReplayEngine(_cassette(), repeat=True)
    assert [_ask(e, "b") for _ in range(3)] == [(200, 1)] * 3
    assert [_ask(e, "a")[1] for _ in range(4)] == [0, 2, 0, 2]


def test_strict_check_names_unplayed_and_misses() -> None:
    e = ReplayEngine(_cassette())
    _ask(e, "a")
    _ask(e, "zzz")
    with pytest.raises(NotFullyPlayedError) as info:
        e.check()
    text = str(info.value)
    assert "#1 (POST /v1/chat/completions, model 'm') was never played" in text
    assert "#2" in text and "miss: no recorded interaction" in text


def test_not_strict_check_passes() -> None:
    ReplayEngine(_cassette(), strict=False).check()


def test_fully_played_strict_check_passes() -> None:
    e = ReplayEngine(_cassette())
    for t in ("a", "b", "a"):
        _ask(e, t)
    e.check()


@dataclass(frozen=True)
class MissCase:
    id: str
    path: str
    expected_keys: tuple[str, ...]


@pytest.mark.parametrize(
    "case",
    [
        MissCase("anthropic", "/v1/messages", ("error", "type")),
        MissCase("openai", "/v1/chat/completions", ("error",)),
    ],
    ids=lambda c: c.id,
)
def test_miss_answers_404_in_the_client_dialect(case: MissCase) -> None:
    r = ReplayEngine(_cassette()).handle("POST", case.path, b'{"model":"nope"}')
    body = json.loads(r.body)
    assert r.status == 404 and tuple(sorted(body)) == case.expected_keys
    if case.id == "anthropic":
        assert body["type"] == "error" and body["error"]["type"] == "not_found_error"
    else:
        assert body["error"]["code"] == "cassette_miss"
    assert "no recorded interaction" in (body["error"]["message"])


def test_role_gateway_serves_the_client_leg() -> None:
    e = ReplayEngine(load(ANTHROPIC), role="gateway")
    r = e.handle("POST", "/v1/messages", json.dumps(recorded_body(ANTHROPIC, 0, "client")).encode())
    assert r.status == 200 and json.loads(r.body)["content"][0]["text"] == "Hello!"


def test_role_without_that_leg_is_skipped() -> None:
    cas = _cassette()
    cas.interactions[1].client = None
    assert list(ReplayEngine(cas, role="gateway").play_counts()) == [0, 2]


def test_stream_reply_keeps_recorded_chunks() -> None:
    e = ReplayEngine(load(OPENAI), timing=Timing.parse("x2"))
    r = e.handle("POST", "/v1/chat/completions", json.dumps(recorded_body(OPENAI, 1)).encode())
    assert r.chunks is not None
    up = load(OPENAI).interactions[1].upstream
    assert up is not None and up.response is not None and up.response.stream is not None
    assert b"".join(c for _, c in r.chunks) == up.response.stream.data
    assert [round(d, 3) for d, _ in r.chunks] == [0.4, 0.1, 0.1]  # gaps 0.2, 0.05, 0.05 doubled


@pytest.mark.parametrize(
    ("text", "mode", "factor"),
    [
        ("instant", "instant", 0.0),
        ("recorded", "recorded", 1.0),
        ("x2", "scaled", 2.0),
        ("0.5x", "scaled", 0.5),
        ("x0", "scaled", 0.0),
    ],
)
def test_timing_parse(text: str, mode: str, factor: float) -> None:
    t = Timing.parse(text)
    assert (t.mode, t.factor) == (mode, factor)


@pytest.mark.parametrize("bad", ["slow", "x-1", ""])
def test_timing_parse_rejects(bad: str) -> None:
    with pytest.raises(ValueError):
        Timing.parse(bad)


def test_timing_delays_clamp_out_of_order_offsets() -> None:
    assert Timing.parse("recorded").delays([0.5, 0.4, 1.0]) == [0.5, 0.0, 0.5]
    assert Timing.parse("instant").delays([0.5, 1.0]) == [0.0, 0.0]


def test_stream_without_timing_is_one_chunk() -> None:
    s = Stream(b"data: x\n\n", [])
    assert s.chunks() == [(0.0, b"data: x\n\n")]


# An Anthropic client's session against an OpenAI upstream.
A2O = ANTHROPIC.parent / "a2o-stream-text"


def test_a_miss_the_client_leg_would_answer_names_role_gateway() -> None:
    client_body = json.dumps(recorded_body(A2O, 0, "client")).encode()
    e = ReplayEngine(load(A2O), "upstream")
    r = e.handle("POST", "/v1/messages", client_body)
    assert r.status == 404 and r.miss is not None
    assert "It is interaction #0 (POST /v1/messages, model 'claude-sonnet-5') of the " in r.miss
    assert "cassette's client leg (what the recorded client sent)" in r.miss
    assert 'role="gateway" (recorder replay --as gateway)' in r.miss


def test_a_miss_the_upstream_leg_would_answer_names_role_upstream() -> None:
    upstream_body = json.dumps(recorded_body(A2O, 0, "upstream")).encode()
    e = ReplayEngine(load(A2O), "gateway")
    r = e.handle("POST", "/v1/chat/completions", upstream_body)
    assert r.miss is not None and "upstream leg (what the gateway sent upstream)" in r.miss
    assert 'role="upstream"' in r.miss


def test_a_different_request_on_the_other_legs_path_still_points_there() -> None:
    body = json.dumps({"model": "claude-sonnet-5", "max_tokens": 9, "messages": []}).encode()
    r = ReplayEngine(load(A2O), "upstream").handle("POST", "/v1/messages", body)
    assert r.miss is not None
    assert "client leg (what the recorded client sent) has POST /v1/messages requests (#0)" in (
        r.miss
    )


def test_a_plain_miss_on_the_right_leg_has_no_role_hint() -> None:
    body = json.dumps({"model": "claude-sonnet-5", "max_tokens": 9, "messages": []}).encode()
    r = ReplayEngine(load(A2O), "gateway").handle("POST", "/v1/messages", body)
    assert r.miss is not None and "role=" not in r.miss
