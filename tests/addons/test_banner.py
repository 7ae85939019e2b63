"""The start-up block says where requests go, where they are recorded and who may send them."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from addons.banner import InEffect, counted, lines
from recorder import routes_file, routing
from recorder.backends import RemoteBackend
from recorder.kiro.backend import KiroBackend, KiroConfig


def state(router: routing.Router, **kw: object) -> InEffect:
    base: dict[str, object] = {
        "listen": "http://127.0.0.1:8080",
        "router": router,
        "config": None,
        "gateway_key": False,
        "allow_remote": False,
        "recording": ("traffic.duckdb",),
    }
    return InEffect(**{**base, **kw})  # type: ignore[arg-type]


def test_nothing_configured_says_the_vendors_get_the_clients_key() -> None:
    text = "\n".join(lines(state(routing.Router())))
    assert text.splitlines()[0] == "tapegate gateway on http://127.0.0.1:8080"
    assert "each client's vendor API, with the client's own key" in text
    assert "anthropic -> https://api.anthropic.com" in text
    assert "recording  traffic.duckdb" in text
    assert "clients    any on this machine (no gateway_key)" in text


def test_the_upstream_its_dialect_and_where_its_key_comes_from(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TAPEGATE_BANNER_KEY", "sk-secret-value")
    backend = RemoteBackend.at("http://127.0.0.1:11434/v1", "openai", "TAPEGATE_BANNER_KEY")
    router = routing.build_router(None, backend)
    text = "\n".join(lines(state(router, recording=(), gateway_key=True)))
    assert "upstream   http://127.0.0.1:11434/v1 (openai; key from $TAPEGATE_BANNER_KEY)" in text
    assert "sk-secret-value" not in text
    assert "recording  off" in text
    assert "must present gateway_key" in text
    assert "vendor" not in text


def test_routes_are_listed_in_order_and_an_unset_key_variable_is_flagged(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TAPEGATE_UNSET_KEY_3", raising=False)
    config = routes_file.parse_config(
        {
            "aliases": {"claude-*": "qwen3:8b"},
            "routes": [
                {
                    "name": "local",
                    "match": {"model": "qwen3*"},
                    "upstream": "http://127.0.0.1:11434/v1",
                    "api": "openai",
                    "key_env": "TAPEGATE_UNSET_KEY_3",
                },
                {"upstream": "https://api.anthropic.com", "match": {"client": "anthropic"}},
            ],
        }  # fmt: skip
    )
    router = routing.build_router(config, None)
    out = lines(state(router, config="routes.yaml"))
    assert out[1] == "  routes     routes.yaml: 2 routes, 1 model alias"
    assert out[2] == (
        "    local (model qwen3*) -> http://127.0.0.1:11434/v1 (openai; $TAPEGATE_UNSET_KEY_3 "
        "is NOT SET: the client's key is passed on)"
    )
    assert out[3] == (
        "    route1 (client anthropic) -> https://api.anthropic.com (the client's dialect; "
        "the client's key)"
    )
    assert out[4].startswith("  upstream   else: each client's vendor API")


def test_a_backend_that_finds_its_own_key_names_its_login_never_a_token(tmp_path: Path) -> None:
    creds = tmp_path / "kiro-auth-token.json"
    creds.write_text(json.dumps({"refreshToken": "refresh-secret", "authMethod": "social"}))
    backend = KiroBackend(KiroConfig(credentials=str(creds), region="eu-central-1"))
    text = "\n".join(lines(state(routing.build_router(None, backend))))
    assert (
        "upstream   Kiro runtime in eu-central-1 at https://runtime.eu-central-1.kiro.dev "
        f"(kiro; social login from Kiro credentials file {creds}, refreshed by the gateway)"
    ) in text
    assert "refresh-secret" not in text and "client's key" not in text


def test_the_claude_cli_says_which_cli_and_that_it_uses_its_own_login(tmp_path: Path) -> None:
    from addons.upstream.claude_cli import CliOptions, CliRuntime
    from recorder.claude_cli.invocation import CliPolicy

    exe = tmp_path / "claude"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    runtime = CliRuntime(CliOptions(path=str(exe), workdir=tmp_path / "work"), {"PATH": ""})
    router = routing.build_router(None, runtime.upstream(CliPolicy(tools=("Read",))))
    text = "\n".join(lines(state(router)))
    assert f"upstream   the Claude Code CLI {exe}, Read (claude_cli; the CLI's own login" in text
    assert "the client's key is never passed on" in text


def test_a_count_of_one_reads_in_the_singular() -> None:
    """The stop line said "answered 1 health checks"."""
    assert counted(1, "health check") == "1 health check"
    assert counted(2, "malformed request") == "2 malformed requests"
    assert counted(3, "model alias") == "3 model aliases"


def test_no_block_when_the_listener_did_not_bind(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """mitmproxy's bind error was followed by 'tapegate gateway on http://127.0.0.1:8080'
    (then exit 1): the block says where the gateway listens only once it does."""
    from mitmproxy.test import taddons

    from addons import startup
    from addons.banner import Banner
    from tests.addons.test_startup import BUSY, _ProxyServer

    monkeypatch.setattr(startup.LISTEN_FAILURES, "seen", [BUSY])
    proxyserver = _ProxyServer(False)
    proxyserver.servers.is_updating = True  # binding: the block waits for it

    async def bound() -> None:
        pending = Banner(None, None).running()
        assert pending is not None
        waiting = asyncio.ensure_future(pending)
        await asyncio.sleep(0.01)
        assert not waiting.done()
        proxyserver.servers.is_updating = False
        await waiting

    with taddons.context(proxyserver):
        asyncio.run(bound())
    assert "tapegate: cannot listen on 127.0.0.1:8080: address already in use" in caplog.text
    assert "tapegate gateway on" not in caplog.text
