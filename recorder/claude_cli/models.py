"""Model names for the Claude Code CLI: what ``--model`` accepts and what ``GET /v1/models`` lists.

The CLI resolves its own short names (``sonnet``, ``opus``, ``haiku``, ``fable``) to the current
full id and sends any other name upstream unchanged (docs/claude-cli.md §Models). The table below
is what the pinned version resolved them to; the gateway shows it, it does not resolve with it:
the short name itself goes to the CLI, so a newer CLI picks its own newer model.
"""

from __future__ import annotations

import re
from typing import Final

from recorder.errors import WireFormatError

PINNED_VERSION: Final = "2.1.197"

# short name -> full id, as Claude Code 2.1.197 resolved them (probed against a fake upstream)
ALIASES: Final[dict[str, str]] = {
    "opus": "claude-opus-4-8",
    "sonnet": "claude-sonnet-5",
    "haiku": "claude-haiku-4-5-20251001",
    "fable": "claude-fable-5",
}

# A model name becomes one argv element after "--model": letters, digits and the punctuation of
# real ids ("claude-opus-4-8[1m]", "us.anthropic.claude-...:0", "org/model@v2"). Never a leading
# "-", so it can never read as an option.
_MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@/\[\]-]{0,199}")


def cli_model(requested: str) -> str:
    """The ``--model`` argument for a requested model name; WireFormatError if it cannot be one."""
    if not _MODEL_NAME.fullmatch(requested):
        raise WireFormatError(
            f"model {requested[:80]!r} is not a name the Claude Code CLI accepts "
            "(letters, digits and ._:@/[]- only, at most 200 characters)"
        )
    return requested


def listed_models(route_aliases: dict[str, str] | None = None) -> list[tuple[str, str]]:
    """``(id, resolves_to)`` pairs for a model list: the CLI's short names, their full ids, then
    the aliases a routes file adds (which resolve to one of those)."""
    out: dict[str, str] = dict(ALIASES)
    for full in ALIASES.values():
        out.setdefault(full, full)
    for alias, target in (route_aliases or {}).items():
        out.setdefault(alias, ALIASES.get(target, target))
    return list(out.items())
