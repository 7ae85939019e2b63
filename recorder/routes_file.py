"""The routes file (``gateway_config``): reading and validating it. Pure (no mitmproxy).

It is YAML::

    aliases:                        # model names rewritten before matching (glob -> name)
      haiku: qwen3:8b
      "claude-haiku-*": qwen3:8b
    routes:                         # first match wins; unmatched traffic uses the default route
      - name: local
        match: {model: "qwen*", client: anthropic, header: {x-team: "a*"}}
        upstream: http://127.0.0.1:11434/v1
        api: openai                 # the upstream's dialect; omitted = the client's own
        model: qwen3:8b             # model rename (sent upstream)
        key_env: OLLAMA_KEY         # upstream key from this environment variable
        headers: {x-extra: "1"}     # added to the upstream request
      - name: claude
        match: {model: "sonnet*"}
        upstream: claude-cli        # the local Claude Code CLI answers
        claude_cli:                 # what it may do for this route (default: nothing but answer)
          tools: [Read, Grep]
          permission_mode: acceptEdits
          max_turns: 4
          env: [MY_VAR]             # more variables of the gateway's environment for the CLI
          system_prompt: append     # the client's added to Claude Code's own (default: replace)

Validation happens once, at start-up, with pydantic; a bad file raises
:class:`recorder.errors.ConfigError` naming the file, the route index and the field. What the
routes do is :mod:`recorder.routing`; this module (and pydantic) loads only with a routes file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from recorder import dialects
from recorder.backends import parse_base_url
from recorder.claude_cli.invocation import CliPolicy, PermissionMode
from recorder.errors import ConfigError
from recorder.ir import Dialect
from recorder.routing import CLAUDE_CLI, route_name


def _dialect(value: str | None, choices: tuple[Dialect, ...]) -> str | None:
    """A dialect name among ``choices`` (pydantic's own wording for a bad literal)."""
    if value is None or value in choices:
        return value
    quoted = [f"'{c}'" for c in choices]
    expected = ", ".join(quoted[:-1]) + " or " + quoted[-1] if len(quoted) > 1 else quoted[0]
    raise PydanticCustomError("literal_error", "Input should be {expected}", {"expected": expected})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MatchConfig(_Strict):
    model: str | None = None  # glob over the (aliased) model name
    client: str | None = None  # a client dialect
    header: dict[str, str] = Field(default_factory=dict)  # name -> glob over the value

    @field_validator("client")
    @classmethod
    def _client(cls, v: str | None) -> str | None:
        return _dialect(v, dialects.CLIENT_DIALECTS)


class CliRouteConfig(_Strict):
    """What the Claude Code CLI may do for a route (``upstream: claude-cli``)."""

    tools: list[str] = Field(default_factory=list)
    permission_mode: PermissionMode | None = None
    max_turns: int | None = Field(default=None, ge=1)
    env: list[str] = Field(default_factory=list)
    system_prompt: Literal["replace", "append"] = "replace"

    def policy(self) -> CliPolicy:
        return CliPolicy(
            tuple(self.tools),
            self.permission_mode,
            self.max_turns,
            tuple(self.env),
            self.system_prompt,
        )


class RouteConfig(_Strict):
    name: str | None = None
    match: MatchConfig = Field(default_factory=MatchConfig)
    api: str | None = None  # the upstream's dialect
    # Needed unless the api brings its own backend (Kiro finds its service from its options).
    upstream: str | None = Field(default=None, validate_default=True)
    model: str | None = None
    key_env: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    claude_cli: CliRouteConfig | None = None

    def cli_policy(self) -> CliPolicy:
        """What the CLI may do for this route (``upstream: claude-cli``): nothing but answer
        unless the route says more."""
        return (self.claude_cli or CliRouteConfig()).policy()

    @field_validator("upstream")
    @classmethod
    def _url(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is not None:
            if v != CLAUDE_CLI:
                parse_base_url(v)
            return v
        api = info.data.get("api")
        found = dialects.named(api) if isinstance(api, str) else None
        if found is None or found.backend is None:
            raise PydanticCustomError("missing", "Field required")
        return v

    @field_validator("api")
    @classmethod
    def _api(cls, v: str | None) -> str | None:
        return _dialect(v, dialects.UPSTREAM_DIALECTS)


class GatewayConfig(_Strict):
    aliases: dict[str, str] = Field(default_factory=dict)
    routes: list[RouteConfig] = Field(default_factory=list)

    @field_validator("routes")
    @classmethod
    def _names_unique(cls, routes: list[RouteConfig]) -> list[RouteConfig]:
        """The recording, the console and ``gateway_fault_only=route:NAME`` tell routes apart
        by name (an unnamed one is ``routeN``, N its index)."""
        first: dict[str, int] = {}
        for i, rc in enumerate(routes):
            name = route_name(i, rc)
            if name in first:
                raise ValueError(f"routes[{i}] has the name {name!r} of routes[{first[name]}]")
            first[name] = i
        return routes


def load_config(path: str | Path) -> GatewayConfig:
    """Read and validate a routes file; every problem becomes a ConfigError naming its place."""
    import yaml  # only with a routes file: loading it costs every gateway's start ~0.1 s

    p = Path(path)
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"{p}: cannot read routes file: {e.strerror or e}") from e
    except UnicodeDecodeError as e:
        raise ConfigError(
            f"{p}: not UTF-8 text (byte {e.object[e.start]:#04x} at offset {e.start})"
        ) from e
    except yaml.YAMLError as e:
        raise ConfigError(f"{p}: not valid YAML{_yaml_problem(e)}") from e
    return parse_config(raw if raw is not None else {}, str(p))


def _yaml_problem(e: Exception) -> str:
    """PyYAML's several lines (context, a caret under a copy of the line) as one: where and
    what. ``e`` is a ``yaml.YAMLError``; those without a place say only what."""
    mark, problem = getattr(e, "problem_mark", None), getattr(e, "problem", None)
    if mark is None:
        return f": {' '.join(str(e).split())}"
    return f" at line {mark.line + 1}, column {mark.column + 1}: {problem or 'unreadable'}"


def parse_config(raw: Any, source: str = "<config>") -> GatewayConfig:
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{source}: the top level must be a mapping with 'routes' (and 'aliases')"
        )
    try:
        return GatewayConfig.model_validate(raw)
    except ValidationError as e:
        problems = []
        for err in e.errors():
            place = _place(err["loc"])
            msg = err["msg"].removeprefix("Value error, ")  # pydantic's wrapping of a ValueError
            problems.append(f"{source}: {place}: {msg}")
        raise ConfigError("\n".join(problems)) from None


def _place(loc: tuple[int | str, ...]) -> str:
    """pydantic's ``('routes', 2, 'upstream')`` as ``routes[2].upstream``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"
