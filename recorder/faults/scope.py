"""Which gateway requests ``gateway_fault`` breaks: all of them, those whose model matches a glob
(``gateway_fault_only=claude-haiku-*``), or those of one route (``gateway_fault_only=route:local``).
The model is the one the client asked for, before aliases and route renames. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

__all__ = ["FaultScope"]

_ROUTE = "route:"


@dataclass(frozen=True, slots=True)
class FaultScope:
    model_glob: str | None = None
    route: str | None = None

    @classmethod
    def parse(cls, text: str) -> FaultScope:
        """``""`` (everything), ``GLOB`` or ``route:NAME``; ValueError for ``route:`` alone."""
        text = text.strip()
        if text.startswith(_ROUTE):
            name = text[len(_ROUTE) :].strip()
            if not name:
                raise ValueError("gateway_fault_only: route: needs a route name (route:NAME)")
            return cls(route=name)
        return cls(model_glob=text or None)

    def covers(self, model: str | None, route: str) -> bool:
        if self.route is not None:
            return route == self.route
        return self.model_glob is None or fnmatchcase(model or "", self.model_glob)

    def __str__(self) -> str:
        if self.route is not None:
            return f"{_ROUTE}{self.route}"
        return self.model_glob or "every request"
