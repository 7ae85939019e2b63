"""Routing is pure: base URLs, the routes file's validation messages, first-match resolution."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from recorder import routes_file, routing
from recorder.backends import RemoteBackend, parse_base_url, vendor_backend
from recorder.claude_cli.invocation import CliPolicy
from recorder.errors import ConfigError


@dataclass(frozen=True)
class PathCase:
    base: str
    endpoint: str
    url: str


PATHS = [
    PathCase(
        "http://127.0.0.1:11434/v1",
        "/v1/chat/completions",
        "http://127.0.0.1:11434/v1/chat/completions",
    ),
    PathCase(
        "https://openrouter.ai/api/v1",
        "/v1/chat/completions",
        "https://openrouter.ai/api/v1/chat/completions",
    ),
    PathCase("https://api.anthropic.com", "/v1/messages", "https://api.anthropic.com/v1/messages"),
    PathCase("http://h:8000/prefix/", "/v1/messages", "http://h:8000/prefix/v1/messages"),
    PathCase("http://h/v1", "/v1/messages?beta=true", "http://h/v1/messages?beta=true"),
]


@pytest.mark.parametrize("case", PATHS, ids=lambda c: c.base)
def test_no_double_v1(case: PathCase) -> None:
    assert parse_base_url(case.base).url_for(case.endpoint) == case.url


@pytest.mark.parametrize("bad", ["ftp://x", "localhost:80", "http://u:p@h/v1", "http://h/?q=1"])
def test_bad_base_urls(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_base_url(bad)


@pytest.mark.parametrize(
    "bad",
    [
        "http://user:s3cret@127.0.0.1:1/v1?api_key=s3cret",
        "http://127.0.0.1:1/v1?api_key=s3cret",
        "ftp://user:s3cret@host/v1",
        "http://user:s3cret@[::1/v1",
    ],
)
def test_a_refused_base_url_is_named_without_its_secrets(bad: str) -> None:
    """The refusal is printed at start and logged: it echoed the key it refused."""
    with pytest.raises(ValueError) as refused:
        parse_base_url(bad)
    assert "s3cret" not in str(refused.value)


@dataclass(frozen=True)
class BadConfig:
    name: str
    yaml: str
    message: str


BAD = [
    BadConfig("not a mapping", "- a\n", "top level must be a mapping"),
    BadConfig("unknown key", "routez: []\n", "routez: Extra inputs are not permitted"),
    BadConfig("bad url", "routes:\n  - upstream: ftp://x\n", "routes[0].upstream"),
    BadConfig(
        "bad api in 2nd route",
        "routes:\n  - upstream: http://a\n  - upstream: http://b\n    api: gemini\n",
        "routes[1].api: Input should be 'anthropic', 'openai', 'responses', 'kiro' or 'claude_cli'",
    ),
    BadConfig("missing upstream", "routes:\n  - model: x\n", "routes[0].upstream: Field required"),
    BadConfig(
        "bad match field",
        "routes:\n  - upstream: http://a\n    match: {modle: x}\n",
        "routes[0].match.modle",
    ),
    BadConfig("not yaml", "routes: [\n", "not valid YAML"),
    BadConfig(
        "two routes of one name",
        "routes:\n  - name: a\n    upstream: http://a\n  - name: a\n    upstream: http://b\n",
        "routes: routes[1] has the name 'a' of routes[0]",
    ),
    BadConfig(
        "a name that an unnamed route has",
        "routes:\n  - upstream: http://a\n  - name: route0\n    upstream: http://b\n",
        "routes: routes[1] has the name 'route0' of routes[0]",
    ),
    BadConfig(
        "unclosed flow mapping",
        'routes:\n  - name: a\n    match: {model: "x*"\n',
        "not valid YAML at line 4, column 1: expected ',' or '}', but got '<stream end>'",
    ),
]


@pytest.mark.parametrize("case", BAD, ids=lambda c: c.name)
def test_bad_config_names_file_and_place(tmp_path: Path, case: BadConfig) -> None:
    f = tmp_path / "routes.yaml"
    f.write_text(case.yaml)
    with pytest.raises(ConfigError) as e:
        routes_file.load_config(f)
    assert str(f) in str(e.value)
    assert case.message in str(e.value)


def test_every_mistake_in_a_routes_file_is_one_line_naming_the_file(tmp_path: Path) -> None:
    """The gateway prints a ConfigError as its one line at start: PyYAML's own message is
    six lines (a copy of the line, a caret), and a file that is not UTF-8 named neither the
    file nor the byte."""
    for case in BAD:
        f = tmp_path / "routes.yaml"
        f.write_text(case.yaml)
        with pytest.raises(ConfigError) as e:
            routes_file.load_config(f)
        assert str(e.value).startswith(str(f)) and "\n" not in str(e.value), case.name
    f.write_bytes(b"routes:\n  - name: caf\xe9\n")
    with pytest.raises(ConfigError) as e:
        routes_file.load_config(f)
    assert str(e.value) == f"{f}: not UTF-8 text (byte 0xe9 at offset 21)"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read routes file"):
        routes_file.load_config(tmp_path / "nope.yaml")


CONFIG = routes_file.parse_config(
    {
        "aliases": {"haiku": "small", "claude-opus-*": "big"},
        "routes": [
            {
                "name": "hdr",
                "match": {"header": {"X-Team": "a*"}},
                "upstream": "http://a",
                "api": "openai",
            },
            {
                "name": "small",
                "match": {"model": "small", "client": "anthropic"},
                "upstream": "http://b/v1",
                "model": "qwen3:8b",
            },
            {"name": "big", "match": {"model": "big"}, "upstream": "http://c", "api": "anthropic"},
        ],
    }
)


@dataclass(frozen=True)
class RouteCase:
    model: str | None
    client: str
    headers: dict[str, str]
    route: str


ROUTES = [
    RouteCase("anything", "anthropic", {"x-team": "alpha"}, "hdr"),
    RouteCase("haiku", "anthropic", {}, "small"),
    RouteCase("haiku", "openai", {}, "default"),  # client mismatch falls through
    RouteCase("claude-opus-4-8", "openai", {}, "big"),
    RouteCase(None, "anthropic", {}, "default"),
]


@pytest.mark.parametrize("case", ROUTES, ids=lambda c: f"{c.model}-{c.client}")
def test_first_match_wins_after_aliases(case: RouteCase) -> None:
    router = routing.build_router(CONFIG, RemoteBackend.at("http://default"))
    route = router.resolve(router.alias(case.model), case.client, case.headers)  # type: ignore[arg-type]
    assert route.name == case.route


def test_no_upstream_means_the_vendor() -> None:
    router = routing.build_router(None, None)
    route = router.resolve("m", "openai", {})
    assert route.backend is vendor_backend("openai") and route.dialect_for("openai") == "openai"
    up = route.backend.endpoint()
    assert up is not None
    assert up.url_for("/v1/chat/completions") == "https://api.openai.com/v1/chat/completions"


def test_models_offered_are_literal_names() -> None:
    assert routing.build_router(CONFIG, None).models() == [
        "haiku",
        "small",
        "qwen3:8b",
        "big",
    ]


CLI_ROUTE = {"name": "cli", "match": {"model": "sonnet*"}, "upstream": "claude-cli"}


def _cli_router(route: dict[str, object]) -> tuple[routing.Router, list[CliPolicy]]:
    asked: list[CliPolicy] = []

    def make(policy: CliPolicy) -> RemoteBackend:
        asked.append(policy)
        return RemoteBackend.at("http://127.0.0.1:1", "claude_cli")

    config = routes_file.parse_config({"routes": [route]})
    return routing.build_router(config, None, (), make), asked


def test_a_claude_cli_route_gets_the_clis_backend_with_its_policy() -> None:
    policy = {"tools": ["Read"], "permission_mode": "acceptEdits", "max_turns": 2, "env": ["V"]}
    router, asked = _cli_router({**CLI_ROUTE, "claude_cli": policy})
    assert asked == [CliPolicy(("Read",), "acceptEdits", 2, ("V",), "replace")]
    assert router.resolve("sonnet", "openai", {}).name == "cli"


def test_a_claude_cli_route_without_policy_is_a_pure_chat_model() -> None:
    _, asked = _cli_router(CLI_ROUTE)
    assert asked == [CliPolicy()]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"api": "openai"}, r"routes\[0\]: upstream claude-cli takes no api or key_env"),
        ({"key_env": "K"}, r"routes\[0\]: upstream claude-cli takes no api or key_env"),
        ({"claude_cli": {"tools": ["rm -rf"]}}, r"routes\[0\]: claude-cli tools: 'rm -rf'"),
        ({"upstream": "http://a", "claude_cli": {}}, r"routes\[0\]: claude_cli is only for"),
    ],
)
def test_a_bad_claude_cli_route_is_refused(extra: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _cli_router({**CLI_ROUTE, **extra})


def test_a_claude_cli_route_where_the_cli_cannot_run() -> None:
    config = routes_file.parse_config({"routes": [CLI_ROUTE]})
    with pytest.raises(ConfigError, match=r"routes\[0\]: upstream claude-cli is not available"):
        routing.build_router(config, None)
