from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from recorder import dialects
from replay.cassette import load
from replay.export import export
from replay.verify import normalize, verify_cassette
from tests.replay.conftest import ANTHROPIC, OPENAI
from tests.replay.recording import record


def _upstream(index: int) -> Any:
    up = load(OPENAI).interactions[index].upstream
    assert up is not None and up.response is not None
    return up.response


def _cross_dialect(tmp_path: Path) -> Path:
    """anthropic client -> openai upstream, recorded through today's translator."""
    msgs = [{"role": "user", "content": "Say hello."}]
    plain = record(
        "anthropic",
        "openai",
        {"model": "claude-sonnet-5", "max_tokens": 50, "messages": msgs},
        upstream_body=_upstream(0).body,
        id="a",
        started_at=1.0,
    )
    streamed = record(
        "anthropic",
        "openai",
        {"model": "claude-sonnet-5", "max_tokens": 50, "stream": True, "messages": msgs},
        upstream_chunks=[c for _, c in _upstream(1).stream.chunks()],
        id="b",
        started_at=2.0,
    )
    export([plain, streamed], tmp_path / "cross")
    return tmp_path / "cross"


@pytest.mark.parametrize("cassette", [ANTHROPIC, OPENAI], ids=lambda p: p.name)
def test_pass_through_reproduces_the_client_leg(cassette: Path) -> None:
    result = verify_cassette(cassette)
    assert result.ok, result.report()
    assert [c.skipped for c in result.checks] == [None, None]


def test_cross_dialect_cassette_verifies(tmp_path: Path) -> None:
    result = verify_cassette(_cross_dialect(tmp_path))
    assert result.ok, result.report()


def test_a_codec_bug_fails_verify_with_a_readable_diff(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = _cross_dialect(tmp_path)
    entry = dialects.entry("anthropic")
    real = entry.codec.response_from_ir

    def buggy(resp: Any, ctx: Any) -> Any:
        out = real(resp, ctx)
        out["stop_reason"] = "max_tokens"  # the deliberate regression
        return out

    buggy_codec = replace(entry.codec, response_from_ir=buggy)
    swapped = replace(entry, load_codec=lambda: buggy_codec)
    monkeypatch.setitem(dialects.REGISTRY, "anthropic", swapped)
    result = verify_cassette(d)
    assert not result.ok
    assert [c.ok for c in result.checks] == [False, True]  # only the non-streamed one
    assert '-    "stop_reason": "end_turn",' in result.diff
    assert '+    "stop_reason": "max_tokens",' in result.diff
    assert "#0 client response (recorded)" in result.diff


def test_a_stream_bug_in_pass_through_fails_verify(monkeypatch: pytest.MonkeyPatch) -> None:
    from recorder import translate

    real = translate.StreamTranslator.feed

    def buggy(self: Any, chunk: bytes) -> bytes:
        return real(self, chunk).replace(b"Hello", b"Howdy")

    monkeypatch.setattr(translate.StreamTranslator, "feed", buggy)
    result = verify_cassette(ANTHROPIC)
    assert [c.ok for c in result.checks] == [True, False]
    assert '"text": "Howdy"' in result.diff


def test_normalize_replaces_per_run_values_consistently() -> None:
    a = {
        "id": "msg_1",
        "created": 5,
        "system_fingerprint": "fp",
        "content": [
            {"type": "tool_use", "id": "toolu_9"},
            {"type": "tool_result", "tool_use_id": "toolu_9"},
        ],
    }
    assert normalize(a) == {
        "id": "<id1>",
        "created": 0,
        "content": [
            {"type": "tool_use", "id": "<id2>"},
            {"type": "tool_result", "tool_use_id": "<id2>"},
        ],
    }
