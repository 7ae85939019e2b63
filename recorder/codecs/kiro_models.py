"""Kiro model ids: client names normalised to Kiro's, and token estimates (pure).

Kiro names Claude models with a dotted version and no date (``claude-sonnet-4.5``, ``auto``);
clients send Anthropic's dashed, dated ids (``claude-sonnet-4-5-20250929``) or Claude Code's
context tags (``claude-opus-4-6[1m]``). :func:`normalize` rewrites only those documented shapes
(research/kiro.md §5.2); anything else passes through unchanged, so an unknown model reaches
Kiro as the client wrote it and Kiro's own ``INVALID_MODEL_ID`` reaches the client. A model is
never silently replaced by another (e.g. by ``auto``): every rewrite is a recorded note.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass

_TAG = re.compile(r"\[[0-9a-z]+\]$")  # Claude Code's context tags: [1m], [200k]
_SUFFIX = r"(?:-(?:\d{8}|latest|v\d+(?::\d+)?))?"
_DASHED = re.compile(rf"^claude-([a-z]+)-(\d+)-(\d{{1,2}}){_SUFFIX}$")
_MAJOR = re.compile(rf"^claude-([a-z]+)-(\d+){_SUFFIX}$")
_LEGACY = re.compile(r"^claude-(\d+)-(\d)-([a-z]+)(?:-\d{8}|-latest)?(?:-v\d+(?::\d+)?)?$")
_DOTTED_DATED = re.compile(r"^(claude-[a-z]+-\d+\.\d+)-\d{8}$")
_INVERTED = re.compile(r"^claude-(\d+\.\d+)-([a-z]+)-[a-z0-9-]+$")


def normalize(name: str) -> str:
    """Kiro's spelling of a client model name; unchanged when no rule applies."""
    n = _TAG.sub("", name.strip().lower())
    if n.endswith("-thinking"):
        n = n[: -len("-thinking")]
    if m := _DASHED.match(n):
        return f"claude-{m[1]}-{m[2]}.{m[3]}"
    if m := _MAJOR.match(n):
        return f"claude-{m[1]}-{m[2]}"
    if m := _LEGACY.match(n):
        return f"claude-{m[1]}.{m[2]}-{m[3]}"
    if m := _DOTTED_DATED.match(n):
        return m[1]
    if m := _INVERTED.match(n):
        return f"claude-{m[2]}-{m[1]}"
    # a Claude-looking name loses only its tag and case; anything else is left alone
    return n if n == "auto" or n.startswith("claude-") else name


@dataclass(frozen=True, slots=True)
class Resolution:
    wire: str  # the modelId sent to Kiro
    how: str  # "as is" | "known" | "alias" | "normalised"


def resolve(
    name: str, known: Collection[str] = (), aliases: Mapping[str, str] | None = None
) -> Resolution:
    """The Kiro ``modelId`` for a client's model name: an alias, an id Kiro listed, the
    normalised spelling, or the name itself (passed through, for Kiro to accept or refuse)."""
    if aliases and name in aliases:
        return Resolution(aliases[name], "alias")
    if name in known:
        return Resolution(name, "known")
    n = normalize(name)
    if n != name:
        return Resolution(n, "normalised")
    return Resolution(name, "as is")


# --------------------------------------------------------------------------- token estimates

_CJK = re.compile(r"[\u3000-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]")


def estimate_tokens(text: str) -> int:
    """Roughly what a Claude tokenizer counts: ~4 characters a token, CJK ~1.5 (Kiro reports
    no token counts, so usage is estimated and marked as such)."""
    if not text:
        return 0
    cjk = len(_CJK.findall(text))
    return math.ceil((len(text) - cjk) / 4 + cjk / 1.5)
