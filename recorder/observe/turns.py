"""Which messages of a request are new: a stateless client re-sends the whole conversation
every turn, and showing or logging it N times helps nobody. Pure.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from typing import Any


class Turns:
    """Remembers, per session, the messages of its last request. A session may hold several
    conversations at once (Claude Code's sub-agents share one session id): a request counts as
    the next turn only when it starts with exactly those messages; otherwise all of it is new.
    """

    def __init__(self, remember: int = 4096) -> None:
        self.remember = remember
        self._last: OrderedDict[str, tuple[int, str]] = OrderedDict()

    def seen(self, session: str | None, messages: list[dict[str, Any]]) -> int:
        """How many leading ``messages`` were shown before: the previous request's messages
        and the reply to it (which the client now sends back as history)."""
        if session is None:
            return 0
        before = self._last.pop(session, None)
        self._last[session] = (len(messages), _digest(messages))
        while len(self._last) > self.remember:
            self._last.popitem(last=False)
        if before is None:
            return 0
        n, digest = before
        if len(messages) <= n or _digest(messages[:n]) != digest:
            return 0
        return n + 1


def _digest(messages: list[dict[str, Any]]) -> str:
    raw = json.dumps(messages, sort_keys=True, ensure_ascii=False).encode()
    return hashlib.sha256(raw).hexdigest()
