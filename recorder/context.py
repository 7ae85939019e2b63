"""Per-exchange translation state, injected so that codecs stay pure and deterministic.

The request translation fills a :class:`Context`; the response (or stream) translation of the
same exchange reads it back: which tool names were shortened, whether the client asked for a
usage chunk, and the id factory that replaces every random id a translator would otherwise mint.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from recorder.ir import Dialect, Note

OPENAI_TOOL_NAME_MAX = 64
_OPENAI_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


@dataclass(slots=True)
class IdFactory:
    """Deterministic ids: the same seed gives the same sequence, so replays and snapshots agree.

    The gateway seeds it from the exchange (e.g. a hash of the request body or the upstream
    response id); tests seed it with a constant.
    """

    seed: str = "tapegate"
    _n: int = 0

    def make(self, prefix: str) -> str:
        self._n += 1
        digest = hashlib.sha256(f"{self.seed}:{self._n}".encode()).hexdigest()[:24]
        return f"{prefix}{digest}"


@dataclass(slots=True)
class ToolNameMap:
    """Reversible renaming of tool names that an OpenAI upstream would refuse (over 64 chars or
    with characters outside ``[a-zA-Z0-9_-]``): a 55-char prefix, ``_`` and 8 hex of sha256."""

    to_wire: dict[str, str] = field(default_factory=dict)
    from_wire: dict[str, str] = field(default_factory=dict)

    def shorten(self, name: str) -> str:
        if name in self.to_wire:
            return self.to_wire[name]
        if _OPENAI_TOOL_NAME.match(name):
            return name
        safe = re.sub(r"[^a-zA-Z0-9_-]", "_", name)
        # surrogatepass: a lone surrogate escaped in the request JSON still names a tool
        digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:8]
        wire = f"{safe[:55]}_{digest}"
        self.to_wire[name] = wire
        self.from_wire[wire] = name
        return wire

    def restore(self, wire: str) -> str:
        return self.from_wire.get(wire, wire)


@dataclass(slots=True)
class Context:
    """What one exchange's translations share. ``client`` speaks to the gateway, ``upstream``
    is what the gateway speaks to."""

    client: Dialect
    upstream: Dialect
    ids: IdFactory = field(default_factory=IdFactory)
    created: int = 0  # Unix time for OpenAI "created" fields, read by the adapter, not here
    tool_names: ToolNameMap = field(default_factory=ToolNameMap)
    include_usage: bool = False  # the (OpenAI) client asked for a usage chunk
    requested_model: str | None = None  # the model the client asked for
    # custom tools sent upstream as function tools taking {"input": text}; their calls are
    # turned back into custom tool calls for the client
    custom_tools: set[str] = field(default_factory=set)
    # What the upstream's backend tells its codec for this exchange, as JSON (its settings,
    # e.g. Kiro's with the credential's profile ARN); None: the codec's defaults. Set before
    # translation, recorded with the exchange so that a replay translates alike.
    upstream_options: dict[str, Any] | None = None
    notes: list[Note] = field(default_factory=list)

    def note(self, path: str, reason: str) -> None:
        self.notes.append(Note(path, reason))
