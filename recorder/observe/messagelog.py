"""The message log: each exchange's conversation as one JSON line, for people who grep.

One line per exchange, appended to one file, or to one file per session
(``<dir>/<session>.jsonl``). A line (format version 1, documented in docs/messagelog.md)::

    {"v": 1, "id": "…", "time": "2026-05-01T12:00:00.123Z", "session": "…",
     "client": "anthropic", "upstream": "openai", "route": null,
     "model": "qwen3:32b", "model_requested": "claude-sonnet-5", "status": 200, "stream": true,
     "ttft_ms": 412, "duration_ms": 1840, "usage": {"input": 1204, "output": 88, ...},
     "stop_reason": "tool_use", "error": null, "error_kind": null,
     "system": [...], "history": 12, "messages": [...], "reply": {...}}

``messages`` are the messages new in this turn: a client re-sends the whole conversation every
turn, so the ``history`` messages a previous line of the same session already carried are left
out (``full=True`` logs every message every time). Parts are in the shape of the OpenTelemetry
GenAI message schema (:mod:`recorder.observe.messages`). No header is logged; text that looks
like a credential (API keys, bearer tokens) is replaced by ``[redacted]``.

Rotation: a file over ``max_bytes`` is renamed ``NAME.1`` (older ones shift to ``.2`` …, at most
``keep``) before the next line is written.
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from recorder.exchange import REDACTED
from recorder.observe import messages
from recorder.observe.facts import Facts
from recorder.observe.messagelog_config import LogConfig
from recorder.observe.reading import Reading
from recorder.observe.turns import Turns

FORMAT_VERSION = 1
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
# Credential-shaped text inside conversation content (a key pasted into a prompt, a token in a
# tool result): vendor key prefixes and bearer tokens. Headers are never logged at all.
_SECRET_TEXT = re.compile(
    r"\b(?:sk-(?:ant-|proj-)?[A-Za-z0-9_-]{16,}|AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{30,}"
    r"|xox[abprs]-[A-Za-z0-9-]{10,}|AIza[0-9A-Za-z_-]{35})"
    r"|(?i:(?<=bearer )[A-Za-z0-9._~+/-]{15,}[A-Za-z0-9_~+/-]=*)"
)


class MessageLog:
    def __init__(self, cfg: LogConfig) -> None:
        self.cfg = cfg
        self._turns = Turns()
        if cfg.by_session:
            Path(cfg.path).mkdir(parents=True, exist_ok=True)
        else:
            Path(cfg.path).parent.mkdir(parents=True, exist_ok=True)

    def write(self, facts: Facts, reading: Reading) -> None:
        line = json.dumps(self.entry(facts, reading), ensure_ascii=False) + "\n"
        target = self._target(facts.session)
        data = line.encode()
        self._rotate(target, len(data))
        fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, data)  # one write per line: lines never interleave
        finally:
            os.close(fd)

    def entry(self, f: Facts, reading: Reading) -> dict[str, Any]:
        req = reading.client.request
        answer = reading.client.response
        logged = [] if req is None else messages.input_messages(req)
        skip = 0 if self.cfg.full else self._turns.seen(f.session, logged)
        u = f.usage
        out: dict[str, Any] = {
            "v": FORMAT_VERSION,
            "id": f.id,
            "time": _iso(f.started_at),
            "session": f.session,
            "client": f.client_dialect,
            "upstream": f.upstream_dialect,
            "route": f.route,
            "model": f.model,
            "model_requested": f.model_requested,
            "status": f.status,
            "stream": f.stream,
            "ttft_ms": _ms(f.ttft),
            "duration_ms": _ms(f.duration),
            "usage": None if u is None else {
                "input": u.input_tokens, "output": u.output_tokens,
                "cache_read": u.cache_read_tokens, "cache_creation": u.cache_creation_tokens,
                "reasoning": u.reasoning_tokens,
            },
            "stop_reason": f.stop_reason,
            "error": f.error,
            "error_kind": f.error_kind,
            "tool_calls": list(f.tool_calls),
        }  # fmt: skip
        if req is not None:
            if skip == 0 and req.system:
                out["system"] = messages.system_instructions(req)
            out["history"] = skip
            out["messages"] = logged[skip:]
        if answer is not None:
            out["reply"] = messages.output_messages(answer)[0]
        scrubbed: dict[str, Any] = scrub(out)
        return scrubbed

    def _target(self, session: str | None) -> str:
        if not self.cfg.by_session:
            return self.cfg.path
        name = _SAFE_NAME.sub("_", session or "no-session").strip("._") or "session"
        return str(Path(self.cfg.path) / f"{name[:120]}.jsonl")

    def _rotate(self, path: str, incoming: int) -> None:
        try:
            size = os.path.getsize(path)
        except OSError:
            return
        if size == 0 or size + incoming <= self.cfg.max_bytes:
            return
        if self.cfg.keep <= 0:
            os.remove(path)
            return
        for i in range(self.cfg.keep - 1, 0, -1):
            older = f"{path}.{i}"
            if os.path.exists(older):
                os.replace(older, f"{path}.{i + 1}")
        os.replace(path, f"{path}.1")


def scrub(value: Any) -> Any:
    """``value`` with credential-shaped text replaced, at any depth."""
    if isinstance(value, str):
        return _SECRET_TEXT.sub(REDACTED, value) if len(value) >= 16 else value
    if isinstance(value, dict):
        return {k: scrub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v) for v in value]
    return value


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _ms(s: float | None) -> int | None:
    return None if s is None else round(s * 1000)
