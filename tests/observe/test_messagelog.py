"""The message log: one JSON line per exchange, new messages only, scrubbed, rotated."""

from __future__ import annotations

import json
import os
import stat

from recorder.observe.facts import facts_of
from recorder.observe.messagelog import MessageLog, scrub
from recorder.observe.messagelog_config import LogConfig
from recorder.observe.reading import read
from tests.observe import exchanges
from tests.store import samples


def _write(log: MessageLog, *exs) -> None:
    for ex in exs:
        r = read(ex)
        log.write(facts_of(ex, r), r)


def _lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_line_holds_the_facts_and_the_conversation(tmp_path):
    path = tmp_path / "log" / "messages.jsonl"
    _write(MessageLog(LogConfig(str(path))), samples.streaming())
    (line,) = _lines(path)
    assert line == {
        "v": 1, "id": "ex-stream", "time": "2025-11-22T02:00:00.123Z",
        "session": samples.SESSION, "client": "anthropic", "upstream": "openai",
        "route": "default", "model": "gpt-5.5", "model_requested": "claude-sonnet-5",
        "status": 200, "stream": True, "ttft_ms": 17, "duration_ms": 60,
        "usage": {"input": 120, "output": 17, "cache_read": None, "cache_creation": None,
                  "reasoning": None},
        "stop_reason": "tool_use", "error": None, "error_kind": None, "tool_calls": ["Bash"],
        "system": [{"type": "text", "content": "You are a terse assistant."}],
        "history": 0,
        "messages": [{"role": "user",
                      "parts": [{"type": "text", "content": "List the files, then say done."}]}],
        "reply": {"role": "assistant", "finish_reason": "tool_use", "parts": [
            {"type": "text", "content": "Listing."},
            {"type": "tool_call", "id": "toolu_1", "name": "Bash", "arguments": {"command": "ls"}},
        ]},
    }  # fmt: skip
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_each_turn_logs_only_its_new_messages_unless_full(tmp_path):
    path = tmp_path / "m.jsonl"
    _write(MessageLog(LogConfig(str(path))), *(exchanges.turn(n) for n in (1, 2, 3)))
    lines = _lines(path)
    assert [ln["history"] for ln in lines] == [0, 2, 4]
    assert [[m["parts"][0]["content"] for m in ln["messages"]] for ln in lines] == [
        ["main question 1"], ["main question 2"], ["main question 3"]]  # fmt: skip
    full = tmp_path / "full.jsonl"
    _write(MessageLog(LogConfig(str(full), full=True)), *(exchanges.turn(n) for n in (1, 2)))
    assert [len(ln["messages"]) for ln in _lines(full)] == [1, 3]


def test_a_file_per_session_with_a_safe_name(tmp_path):
    log = MessageLog(LogConfig(str(tmp_path / "sessions"), by_session=True))
    _write(log, exchanges.turn(1, session="../../etc/passwd"), exchanges.openai_client())
    names = sorted(p.name for p in (tmp_path / "sessions").iterdir())
    assert names == ["etc_passwd.jsonl", "s-openai.jsonl"]


def test_credentials_in_content_are_scrubbed():
    text = "key sk-ant-api03-AAAAAAAAAAAAAAAAAAAA and Bearer abcdefghijklmnopqrstuvwx."
    assert scrub({"a": [text]}) == {"a": ["key [redacted] and Bearer [redacted]."]}
    assert scrub("short") == "short" and scrub(3) == 3


def test_files_rotate_by_size_keeping_a_few(tmp_path):
    path = tmp_path / "m.jsonl"
    log = MessageLog(LogConfig(str(path), max_bytes=3000, keep=2))
    for n in range(1, 13):
        _write(log, exchanges.turn(1, session=f"s{n}"))
    kept = sorted(p.name for p in tmp_path.iterdir())
    assert kept == ["m.jsonl", "m.jsonl.1", "m.jsonl.2"]
    assert all(p.stat().st_size <= 3000 for p in tmp_path.iterdir())
    ids = [json.loads(x)["session"] for p in ("m.jsonl.2", "m.jsonl.1", "m.jsonl")
           for x in (tmp_path / p).read_text().splitlines()]  # fmt: skip
    assert ids == sorted(ids, key=lambda s: int(s[1:])) and ids[-1] == "s12"
