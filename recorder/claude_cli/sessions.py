"""Which CLI session a client conversation continues.

Chat clients are stateless: every request carries the whole conversation. The CLI is stateful:
``--resume ID`` continues a session it saved on disk, and then only the new turn is written to
it. The link between the two is a hash of the conversation *up to the new turn*:

- after a turn, the conversation including the answer the client got is hashed and mapped to
  the CLI session that produced it *and the message it ended on*;
- a request whose history (everything before its trailing user messages) hashes to a known
  value resumes that session at that message (``--resume ID --resume-session-at UUID``) with
  only the new turn; anything else starts a new session seeded with the whole history (no model
  call for the seeding: docs/claude-cli.md §Input).

Resuming *at a message* makes branches work: a client that regenerates an answer or edits its
last message sends a history that is known, and continues from the same point as before; the
CLI keeps the session's messages as a tree. A failed turn leaves the mapping as it was.

The hash ignores what clients are free to change between turns without changing the
conversation: ``cache_control`` markers, thinking blocks (OpenAI clients drop them), how text is
split into blocks, how tool results are grouped into messages, and JSON key order.

A client may also name its conversation explicitly (header ``x-tapegate-session``): then it may
send only the new turn, and the named session is resumed.

The map lives in memory and in the recording (table ``backend_sessions``, written with each
exchange): a conversation the memory does not know is looked up there (:data:`Recorded`), so a
gateway that restarts resumes its conversations. Without recording, memory alone.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

JsonObject = dict[str, Any]

SESSION_HEADER = "x-tapegate-session"


@dataclass(frozen=True, slots=True)
class CliSession:
    """A point in a CLI session: resuming continues from ``leaf`` (the transcript is a tree,
    so several conversations that share a history can each continue from the same point)."""

    id: str  # the CLI's session UUID
    cwd: Path  # the CLI finds a session by its working directory: resume from the same one
    leaf: str | None = None  # uuid of the last message (``--resume-session-at``); None: the end


# Where the recording says a conversation was left: ("conversation", key) or ("name", name)
# -> the point, or None (not recorded, no recording, or the recording could not be asked).
Recorded = Callable[[Literal["conversation", "name"], str], Awaitable[CliSession | None]]


class SessionBusyError(Exception):
    """A named conversation already has a turn running."""


def conversation_key(namespace: str, system: list[str], messages: list[JsonObject]) -> str:
    """A stable hash of a conversation written as Anthropic messages (see the module docstring).
    ``namespace`` keeps conversations of different callers apart (the explicit session name,
    or the request's ``user``)."""
    canon: list[list[Any]] = []
    for msg in messages:
        items = _canon_blocks(msg["content"])
        if canon and canon[-1][0] == msg["role"]:
            _extend(canon[-1][1], items)
        else:
            canon.append([msg["role"], items])
    text = json.dumps(
        [namespace, system, canon], sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _canon_blocks(content: str | list[JsonObject]) -> list[list[Any]]:
    blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
    out: list[list[Any]] = []
    for b in blocks:
        kind = b.get("type")
        if kind in ("thinking", "redacted_thinking"):
            continue
        if kind == "text":
            item: list[Any] = ["text", b.get("text", "")]
        elif kind == "tool_use":
            item = ["tool_use", b.get("id"), b.get("name"), b.get("input")]
        elif kind == "tool_result":
            inner = b.get("content")
            item = [
                "tool_result",
                b.get("tool_use_id"),
                _canon_blocks(inner) if isinstance(inner, str | list) else [],
                bool(b.get("is_error")),
            ]
        else:
            item = [kind, {k: v for k, v in b.items() if k != "cache_control"}]
        _extend(out, [item])
    return out


def _extend(out: list[list[Any]], items: list[list[Any]]) -> None:
    for item in items:
        if item[0] == "text" and out and out[-1][0] == "text":
            out[-1] = ["text", out[-1][1] + item[1]]
        elif not (item[0] == "text" and not item[1]):
            out.append(item)


class SessionStore:
    """Conversation hash -> point in a CLI session, and session name -> point, in memory (the
    recording keeps the same mapping on disk). One turn at a time may write a session: a second
    request with the same history while the first runs gets a new, seeded session. Bounded: the
    least recently used entries go."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self._max = max_entries
        self._by_key: OrderedDict[str, CliSession] = OrderedDict()
        self._by_name: OrderedDict[str, CliSession] = OrderedDict()
        self._busy: set[str] = set()  # session ids with a turn running
        self._busy_names: set[str] = set()

    def checkout(self, key: str) -> CliSession | None:
        """The point this conversation continues from, unless that session is in use; pair with
        :meth:`release`."""
        found = self._by_key.get(key)
        if found is None or found.id in self._busy:
            return None
        self._by_key.move_to_end(key)
        self._busy.add(found.id)
        return found

    def knows(self, key: str) -> bool:
        return key in self._by_key

    def knows_name(self, name: str) -> bool:
        return name in self._by_name

    def adopt(self, key: str, session: CliSession) -> None:
        """A point found in the recording, unless memory learnt a newer one meanwhile."""
        if key not in self._by_key:
            self.remember(key, session)

    def adopt_named(self, name: str, session: CliSession) -> None:
        if name not in self._by_name:
            self._by_name[name] = session
            while len(self._by_name) > self._max:
                self._by_name.popitem(last=False)

    def release(self, session: CliSession) -> None:
        self._busy.discard(session.id)

    def forget(self, key: str) -> None:
        self._by_key.pop(key, None)

    def remember(self, key: str, session: CliSession) -> None:
        self._by_key[key] = session
        self._by_key.move_to_end(key)
        while len(self._by_key) > self._max:
            self._by_key.popitem(last=False)

    def begin_named(self, name: str) -> CliSession | None:
        """The named conversation's point (None: a new conversation); SessionBusyError while
        another turn of it runs. Pair with :meth:`end_named`."""
        if name in self._busy_names:
            raise SessionBusyError(f"conversation {name[:80]!r} already has a turn running")
        found = self._by_name.get(name)
        if found is not None and found.id in self._busy:
            raise SessionBusyError(f"conversation {name[:80]!r} already has a turn running")
        self._busy_names.add(name)
        if found is not None:
            self._busy.add(found.id)
        return found

    def end_named(self, name: str, before: CliSession | None, after: CliSession | None) -> None:
        """The turn is over: ``after`` continues the conversation (None: the turn failed, the
        conversation stays at ``before``)."""
        self._busy_names.discard(name)
        if before is not None:
            self._busy.discard(before.id)
        if after is None:
            return
        self._by_name[name] = after
        self._by_name.move_to_end(name)
        while len(self._by_name) > self._max:
            self._by_name.popitem(last=False)

    def __len__(self) -> int:
        return len(self._by_key)
