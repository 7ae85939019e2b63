"""What the Kiro codec may be told: every rule learned from reverse-engineered clients that
could change on the vendor's side is a setting here, with today's best guess as the default
(research/kiro.md; each field names its section)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any, Literal

# Kiro rejects empty content anywhere (§2.2 rule 8); one neutral text stands in for it.
# ("Continue" was read by the model as an instruction: jwadow/kiro-gateway #171.)
PLACEHOLDER = "(empty placeholder)"
EMPTY_TOOL_RESULT = "(empty result)"


@dataclass(frozen=True, slots=True)
class KiroSettings:
    # §2.3: the credential's profile ARN, sent beside the conversation (None: left out)
    profile_arn: str | None = None
    # §2.1: request envelope
    origin: str = "AI_EDITOR"
    chat_trigger_type: str = "MANUAL"  # "AUTO" is reported to cause 400s
    agent_task_type: str | None = "vibe"  # optional; None leaves it out
    # §2.2 rule 1: where the system prompt goes. "prepend": before the first user message;
    # "pair": a user message of its own answered by ``system_ack`` at the start of history.
    system_placement: Literal["prepend", "pair"] = "prepend"
    system_ack: str = "I will follow these instructions."
    placeholder: str = PLACEHOLDER
    # §2.4: tool limits. Longer names are shortened reversibly (context.ToolNameMap, 64);
    # longer descriptions move into the system prompt, leaving a pointer in the tool.
    tool_description_max: int = 10_000
    # §2.5: the body size Kiro accepts is undocumented (600 KB guards, 1.25 MB measured to
    # pass, 1.3 MB to fail); above this the client gets a 400 naming the limit, not Kiro's
    # anonymous "Improperly formed request".
    max_body_bytes: int = 1_200_000
    # §6: tag-based reasoning (prompt tags + <thinking> extraction), off by default: it
    # costs output budget and can misread answers that talk about the tags.
    thinking_tags: bool = False
    thinking_budget_default: int = 4_000
    thinking_budget_max: int = 10_000
    # §5: model resolution (ids Kiro listed, and aliases such as "auto-kiro" -> "auto")
    known_models: frozenset[str] = frozenset()
    model_aliases: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    # §3.4: usage estimates from contextUsagePercentage need the model's window
    context_windows: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    default_context_window: int = 200_000
    # §7.2/§7.3: a stream that ends without meteringEvent/contextUsageEvent was cut off, so
    # its stop reason is max_tokens. Off only if Kiro stops sending those events.
    require_completion_event: bool = True
    # §7.4: drop an assistantResponseEvent identical to the one before (Kiro is reported to
    # resend content); off by default because repeated short tokens ("\n") are legitimate.
    dedupe_repeated_content: bool = False

    def context_window(self, model: str) -> int:
        return self.context_windows.get(model, self.default_context_window)

    def to_json(self) -> dict[str, Any]:
        """The settings that differ from the defaults, as JSON (``Context.upstream_options``:
        recorded with the exchange, so a replay translates with them)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value == getattr(DEFAULT_SETTINGS, f.name):
                continue
            if isinstance(value, frozenset):
                value = sorted(value)
            elif isinstance(value, Mapping):
                value = dict(value)
            out[f.name] = value
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> KiroSettings:
        """Settings from :meth:`to_json` (unknown keys are ignored: an older recording)."""
        known = {f.name: f for f in fields(cls)}
        kw: dict[str, Any] = {}
        for name, value in data.items():
            if name not in known:
                continue
            if name == "known_models" and isinstance(value, list):
                value = frozenset(value)
            elif name in ("model_aliases", "context_windows") and isinstance(value, dict):
                value = MappingProxyType(dict(value))
            kw[name] = value
        return cls(**kw)


DEFAULT_SETTINGS = KiroSettings()


def settings_of(options: object) -> KiroSettings:
    """The settings a backend put in ``Context.upstream_options`` (as JSON, see
    :meth:`KiroSettings.to_json`), else the defaults."""
    if isinstance(options, KiroSettings):
        return options
    if isinstance(options, Mapping) and options:
        return KiroSettings.from_json(options)
    return DEFAULT_SETTINGS
