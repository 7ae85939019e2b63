"""argv and environment of the CLI: built from configuration, never from client text."""

from __future__ import annotations

import json

import pytest

from recorder.claude_cli.invocation import (
    MCP_CONFIG,
    CliPolicy,
    SessionRef,
    build_argv,
    cli_env,
)
from recorder.claude_cli.models import ALIASES, cli_model, listed_models
from recorder.errors import ConfigError, WireFormatError

SID = "11111111-2222-4333-8444-555555555555"
LEAF = "66666666-7777-4888-8999-000000000000"


def test_default_argv_is_a_pure_chat_model() -> None:
    argv = build_argv(
        "/opt/claude", "sonnet", CliPolicy(), SessionRef(SID, False), client_tools=False
    )
    assert argv[0] == "/opt/claude"
    assert argv[argv.index("--tools") + 1] == ""  # no built-in tool at all
    assert argv[argv.index("--setting-sources") + 1] == ""
    assert argv[argv.index("--permission-prompt-tool") + 1] == "stdio"
    assert argv[argv.index("--model") + 1] == "sonnet"
    assert argv[argv.index("--session-id") + 1] == SID
    for absent in ("--allowedTools", "--permission-mode", "--mcp-config", "--resume", "--effort"):
        assert absent not in argv
    assert "--include-partial-messages" in argv and "--strict-mcp-config" in argv


def test_route_policy_widens_argv() -> None:
    policy = CliPolicy(tools=("Read", "Grep"), permission_mode="acceptEdits", max_turns=4)
    argv = build_argv(
        "claude", "opus", policy, SessionRef(SID, True, LEAF), client_tools=True, effort="low"
    )
    assert argv[argv.index("--tools") + 1] == "Read,Grep"
    assert argv[argv.index("--allowedTools") + 1] == "Read,Grep"
    assert argv[argv.index("--permission-mode") + 1] == "acceptEdits"
    assert argv[argv.index("--max-turns") + 1] == "4"
    assert argv[argv.index("--effort") + 1] == "low"
    assert argv[argv.index("--resume") + 1] == SID
    assert argv[argv.index("--resume-session-at") + 1] == LEAF
    assert json.loads(argv[argv.index("--mcp-config") + 1]) == json.loads(MCP_CONFIG)


@pytest.mark.parametrize(
    "name", ["sonnet", "claude-opus-4-8[1m]", "us.anthropic.claude-sonnet-5:0", "org/m@v2"]
)
def test_model_names_accepted(name: str) -> None:
    assert cli_model(name) == name


@pytest.mark.parametrize(
    "name", ["--dangerously-skip-permissions", "-p", "a b", "x;rm -rf /", "", "é", "a" * 201]
)
def test_model_names_that_could_be_options_or_garbage_are_refused(name: str) -> None:
    with pytest.raises(WireFormatError):
        cli_model(name)


@pytest.mark.parametrize(
    "bad", ["not-a-uuid", "AAAAAAAA-BBBB-4CCC-8DDD-EEEEEEEEEEEE", SID.replace("-", "")]
)
def test_session_ids_are_canonical_uuids(bad: str) -> None:
    with pytest.raises(ValueError):
        SessionRef(bad, False)
    with pytest.raises(ValueError):
        SessionRef(SID, True, bad)


def test_a_new_session_has_no_leaf() -> None:
    with pytest.raises(ValueError):
        SessionRef(SID, False, LEAF)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"tools": ("Bash(rm *)",)},
        {"tools": ("--x",)},
        {"permission_mode": "yolo"},
        {"max_turns": 0},
        {"env_names": ("A=B",)},
        {"system_prompt": "prepend"},
    ],
)
def test_bad_policies_refused_at_configuration(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        CliPolicy(**kwargs)  # type: ignore[arg-type]


def test_environment_is_allow_listed() -> None:
    source = {
        "HOME": "/home/op",
        "PATH": "/usr/bin",
        "ANTHROPIC_API_KEY": "sk-operator",
        "ANTHROPIC_BASE_URL": "http://127.0.0.1:9",
        "CLAUDE_CODE_USE_BEDROCK": "1",
        "DISABLE_TELEMETRY": "1",
        "HTTPS_PROXY": "http://proxy:3128",
        "OPENAI_API_KEY": "sk-other-service",
        "TAPEGATE_GATEWAY_KEY": "gw-secret",
        "AWS_SECRET_ACCESS_KEY": "aws",
        "MY_ROUTE_VAR": "yes",
        "CLAUDE_CODE_MAX_RETRIES": "3",
        "CLAUDE_AGENT_SDK_MCP_NO_PREFIX": "0",
    }
    env = cli_env(source, CliPolicy(env_names=("MY_ROUTE_VAR",)))
    for name in ("OPENAI_API_KEY", "TAPEGATE_GATEWAY_KEY", "AWS_SECRET_ACCESS_KEY"):
        assert name not in env
    for name in ("HOME", "PATH", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "HTTPS_PROXY"):
        assert env[name] == source[name]
    assert env["CLAUDE_CODE_USE_BEDROCK"] == "1" and env["DISABLE_TELEMETRY"] == "1"
    assert env["MY_ROUTE_VAR"] == "yes"
    assert env["CLAUDE_CODE_MAX_RETRIES"] == "3"  # the operator's value beats the default
    assert env["CLAUDE_CODE_DISABLE_NONSTREAMING_FALLBACK"] == "1"  # default where unset
    assert env["CLAUDE_AGENT_SDK_MCP_NO_PREFIX"] == "1"  # the backend depends on it


def test_model_list_has_short_names_full_ids_and_route_aliases() -> None:
    listed = dict(listed_models({"gpt-4o": "sonnet", "sonnet": "opus"}))
    assert listed["sonnet"] == ALIASES["sonnet"]  # a route alias never hides the CLI's own
    assert listed[ALIASES["opus"]] == ALIASES["opus"]
    assert listed["gpt-4o"] == ALIASES["sonnet"]
