"""Token prices, for the report's cost column: US dollars per million tokens, by model glob.

The built-in table holds list prices of well-known hosted models as published by their vendors
(checked 2025); prices change, so a report says where its prices came from, and ``--prices
FILE`` (JSON or YAML: ``{"model-glob": {"input": 3, "output": 15, "cache_read": 0.3,
"cache_write": 3.75}}``) adds or overrides entries; the first matching glob wins, the file's
before the built-in ones. A model without a price costs "unknown", never zero: local models
(Ollama, vLLM) are free only if the file says so (``{"qwen3*": {"input": 0, "output": 0}}``).
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recorder import ir


@dataclass(slots=True, frozen=True)
class Price:
    input: float  # USD per million uncached input tokens
    output: float
    cache_read: float | None = None  # None: as input
    cache_write: float | None = None

    def cost(self, u: ir.Usage) -> float:
        read = u.cache_read_tokens or 0
        write = u.cache_creation_tokens or 0
        fresh = max(0, (u.input_tokens or 0) - read - write)  # IR input includes the cache
        total = (
            fresh * self.input
            + read * (self.input if self.cache_read is None else self.cache_read)
            + write * (self.input if self.cache_write is None else self.cache_write)
            + (u.output_tokens or 0) * self.output
        )
        return total / 1e6


BUILTIN: dict[str, Price] = {
    "claude-opus-4-5*": Price(5, 25, 0.5, 6.25),
    "claude-opus-4*": Price(15, 75, 1.5, 18.75),
    "claude-sonnet-4*": Price(3, 15, 0.3, 3.75),
    "claude-3-7-sonnet*": Price(3, 15, 0.3, 3.75),
    "claude-3-5-sonnet*": Price(3, 15, 0.3, 3.75),
    "claude-haiku-4-5*": Price(1, 5, 0.1, 1.25),
    "claude-3-5-haiku*": Price(0.8, 4, 0.08, 1),
    "gpt-5-nano*": Price(0.05, 0.4, 0.005),
    "gpt-5-mini*": Price(0.25, 2, 0.025),
    "gpt-5": Price(1.25, 10, 0.125),
    "gpt-5-20*": Price(1.25, 10, 0.125),
    "gpt-4.1-nano*": Price(0.1, 0.4, 0.025),
    "gpt-4.1-mini*": Price(0.4, 1.6, 0.1),
    "gpt-4.1*": Price(2, 8, 0.5),
    "gpt-4o-mini*": Price(0.15, 0.6, 0.075),
    "gpt-4o*": Price(2.5, 10, 1.25),
    "o4-mini*": Price(1.1, 4.4, 0.275),
    "o3": Price(2, 8, 0.5),
}


class PriceList:
    def __init__(self, extra: dict[str, Price] | None = None, source: str | None = None) -> None:
        extra = extra or {}
        self.table = {**extra, **{k: v for k, v in BUILTIN.items() if k not in extra}}
        self.source = source or "built-in list prices (2025)"

    def price(self, model: str | None) -> Price | None:
        if not model:
            return None
        name = model.lower().rsplit("/", 1)[-1]  # "anthropic/claude-sonnet-4" on OpenRouter
        for glob, price in self.table.items():
            if fnmatch.fnmatchcase(name, glob.lower()):
                return price
        return None

    def cost(self, model: str | None, usage: ir.Usage | None) -> float | None:
        price = self.price(model)
        if price is None or usage is None:
            return None
        return price.cost(usage)

    @classmethod
    def load(cls, path: str | Path) -> PriceList:
        """A price file; ValueError naming the entry when it is not usable."""
        text = Path(path).read_text()
        data: Any
        if str(path).endswith((".yaml", ".yml")):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a mapping of model globs to prices")
        extra: dict[str, Price] = {}
        for glob, entry in data.items():
            if not isinstance(entry, dict) or "input" not in entry or "output" not in entry:
                raise ValueError(f"{path}: {glob!r} needs at least 'input' and 'output'")
            try:
                extra[str(glob)] = Price(
                    float(entry["input"]), float(entry["output"]),
                    _opt(entry.get("cache_read")), _opt(entry.get("cache_write")),
                )  # fmt: skip
            except (TypeError, ValueError):
                raise ValueError(f"{path}: {glob!r}: prices must be numbers") from None
        return cls(extra, source=f"{path} (then built-in list prices)")


def _opt(v: Any) -> float | None:
    return None if v is None else float(v)
