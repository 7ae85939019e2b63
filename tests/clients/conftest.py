"""Fixtures for real-client tests: pinned Claude Code, fake upstream, gateway, egress guard.

Topology of every test::

    client (Claude Code / SDK) ──▶ gateway (mitmdump -s addons/gateway.py) ──▶ fake upstream
         └─ HTTPS_PROXY ─▶ egress guard (refuses and logs anything not bound for 127.0.0.1)

All on 127.0.0.1, free ports, a fresh HOME and work dir per test. The tests are opt-in
(``uv run pytest -m clients``, or ``TAPEGATE_CLIENTS=1``): they start real processes and need
the clients ``scripts/install-clients.sh`` installs (a missing one skips, or fails under
``CI=true``: tests/prereqs.py). A piece that has not landed yet (the gateway addon, a recorder
command) makes the test skip and say which piece; a piece that is there but broken fails the test.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from fakes.claude_code import ClaudeRun, ensure_installed, run_claude
from fakes.codex import CODEX_BIN, CODEX_VERSION, CodexRun, installed_version, run_codex
from fakes.kiro import PROFILE_ARN, FakeKiro
from fakes.procs import BIN, REPO, Service, free_port, start_service
from tests.clients.egress import EgressGuard
from tests.clients.scripted import ScriptedUpstream
from tests.prereqs import missing

GATEWAY_ADDON = REPO / "addons" / "gateway.py"
MITMDUMP = BIN / "mitmdump"


def _opted_in(config: pytest.Config) -> bool:
    return "clients" in (config.getoption("markexpr", "") or "") or (
        os.environ.get("TAPEGATE_CLIENTS") == "1"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _opted_in(config):
        return
    skip = pytest.mark.skip(reason="real-client tests are opt-in: uv run pytest -m clients")
    for item in items:
        if item.get_closest_marker("clients") is not None:
            item.add_marker(skip)


# ---------------------------------------------------------------------------- egress guard


@pytest.fixture(autouse=True)
def egress(monkeypatch: pytest.MonkeyPatch) -> Iterator[EgressGuard]:
    """Every client test runs behind the guard; in-process SDK clients read the same env."""
    with EgressGuard() as guard:
        for name, value in guard.env().items():
            monkeypatch.setenv(name, value)
        yield guard
        guard.assert_no_egress()


# ---------------------------------------------------------------------------- fake upstream


@pytest.fixture
def fake_upstream() -> Iterator[ScriptedUpstream]:
    fake = ScriptedUpstream().start()
    try:
        yield fake
    finally:
        fake.stop()


# ---------------------------------------------------------------------------- gateway


@dataclass
class Gateway:
    service: Service
    db: Path
    upstream_api: str

    @property
    def url(self) -> str:
        return self.service.url

    def stop(self) -> None:
        self.service.stop()


GatewayFactory = Callable[..., Gateway]


@pytest.fixture(scope="session")
def mitm_confdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One mitmproxy confdir (its CA) for the session: generating a CA per test costs time."""
    return tmp_path_factory.mktemp("mitmproxy")


def _gateway_argv(
    port: int, upstream_url: str, upstream_api: str, db: Path, confdir: Path, retries: int
) -> list[str | Path]:
    return [
        MITMDUMP,
        "-s",
        GATEWAY_ADDON,
        "-p",
        str(port),
        "--listen-host",
        "127.0.0.1",
        "--set",
        f"confdir={confdir}",
        "--set",
        f"gateway_upstream={upstream_url}",
        "--set",
        f"gateway_upstream_api={upstream_api}",
        "--set",
        f"recorder_db={db}",
        # The gateway's own upstream retries are off so that one client request is one upstream
        # request (what the tests count) and an upstream error reaches the client as it is.
        "--set",
        f"gateway_retries={retries}",
    ]


def _start_gateway(
    upstream_url: str,
    upstream_api: str,
    *,
    log_dir: Path,
    confdir: Path,
    db: Path | None = None,
    retries: int = 0,
    extra: Sequence[str] = (),
) -> Gateway:
    if not GATEWAY_ADDON.exists():
        pytest.skip("addons/gateway.py has not landed yet")
    port = free_port()
    db = db or log_dir / f"traffic-{port}.duckdb"
    argv = [*_gateway_argv(port, upstream_url, upstream_api, db, confdir, retries), *extra]
    # cwd = log_dir: anything the gateway writes by default stays out of the repo.
    svc = start_service(f"gateway-{port}", argv, port=port, log_dir=log_dir, cwd=log_dir)
    return Gateway(svc, db, upstream_api)


@pytest.fixture
def start_gateway(tmp_path: Path, mitm_confdir: Path) -> Iterator[GatewayFactory]:
    """``start_gateway(upstream_url, "openai"|"anthropic", db=None, retries=0, extra=())``."""
    started: list[Gateway] = []

    def start(upstream_url: str, upstream_api: str, **kwargs: object) -> Gateway:
        gw = _start_gateway(
            upstream_url,
            upstream_api,
            log_dir=tmp_path,
            confdir=mitm_confdir,
            **kwargs,  # type: ignore[arg-type]
        )
        started.append(gw)
        return gw

    yield start
    for gw in started:
        gw.stop()


@dataclass
class Stack:
    """A fake upstream speaking ``upstream_api`` behind a gateway."""

    fake: ScriptedUpstream
    gateway: Gateway
    upstream_api: str


@pytest.fixture(scope="module")
def stack_pool(
    tmp_path_factory: pytest.TempPathFactory, mitm_confdir: Path
) -> Iterator[dict[str, Stack]]:
    """One fake + gateway per upstream dialect per test module, started on first use.

    Starting mitmdump costs ~1.5 s; the gateway keeps no per-request state, so tests share it
    and only the fake's script and request log are reset per test.
    """
    pool: dict[str, Stack] = {}
    yield pool
    for st in pool.values():
        st.gateway.stop()
        st.fake.stop()


@pytest.fixture(params=["openai", "anthropic"])
def stack(
    request: pytest.FixtureRequest,
    stack_pool: dict[str, Stack],
    tmp_path_factory: pytest.TempPathFactory,
    mitm_confdir: Path,
) -> Stack:
    """Parametrised: translation to Chat Completions, and Anthropic pass-through."""
    api = request.param
    st = stack_pool.get(api)
    if st is None or not st.gateway.service.alive():
        fake = ScriptedUpstream().start()
        base = fake.url + ("/v1" if api == "openai" else "")
        log_dir = tmp_path_factory.mktemp(f"gateway-{api}")
        try:
            gw = _start_gateway(base, api, log_dir=log_dir, confdir=mitm_confdir)
        except BaseException:
            fake.stop()
            raise
        st = stack_pool[api] = Stack(fake, gw, api)
    st.fake.clear()
    return st


# ---------------------------------------------------------------------------- Claude Code


@pytest.fixture(scope="session")
def claude_bin() -> Path:
    binary, what = ensure_installed()
    if binary is None:
        missing(what)
    return binary


ClaudeRunner = Callable[..., ClaudeRun]


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    return path


@pytest.fixture
def claude(claude_bin: Path, tmp_path: Path, workdir: Path, egress: EgressGuard) -> ClaudeRunner:
    """``claude(prompt, base_url=..., args=[...], env={...})``: fresh HOME per test."""

    def run(
        prompt: str,
        *,
        base_url: str,
        args: Sequence[str] = (),
        env: dict[str, str] | None = None,
        home: Path | None = None,
    ) -> ClaudeRun:
        return run_claude(
            claude_bin,
            prompt,
            base_url=base_url,
            home=home or tmp_path / "home",
            cwd=workdir,
            extra_args=args,
            extra_env={**egress.env(), **(env or {})},
        )

    return run


def recorder_cli() -> list[str]:
    return [str(BIN / "recorder")] if (BIN / "recorder").exists() else [sys.executable, "-m", "cli"]


# ---------------------------------------------------------------------------- Codex


CodexRunner = Callable[..., CodexRun]


@pytest.fixture(scope="session")
def codex_bin() -> Path:
    have = installed_version()
    if have != CODEX_VERSION:
        missing(f"Codex {CODEX_VERSION} (clients/node_modules has {have or 'none'})")
    return CODEX_BIN


@pytest.fixture
def codex(codex_bin: Path, tmp_path: Path, workdir: Path, egress: EgressGuard) -> CodexRunner:
    """``codex(prompt, base_url=..., args=[...])``: a fresh CODEX_HOME per test."""

    def run(
        prompt: str, *, base_url: str, args: Sequence[str] = (), home: Path | None = None
    ) -> CodexRun:
        return run_codex(
            codex_bin,
            prompt,
            base_url=base_url,
            home=home or tmp_path / "codex-home",
            cwd=workdir,
            extra_args=args,
            extra_env=egress.env(),
        )

    return run


# ---------------------------------------------------------------------------- Kiro


@pytest.fixture(scope="module")
def kiro() -> Iterator[FakeKiro]:
    fake = FakeKiro().start()
    yield fake
    fake.stop()


def start_kiro_gateway(
    kiro: FakeKiro, home: Path, confdir: Path, extra: Sequence[str] = ()
) -> Gateway:
    """A gateway whose upstream is the fake Kiro, with a credentials file it can refresh."""
    creds = home / "kiro-auth-token.json"
    creds.write_text(
        json.dumps(
            {"refreshToken": "fake-refresh-1", "authMethod": "social", "profileArn": PROFILE_ARN}
        )
    )
    return _start_gateway(
        kiro.url,
        "kiro",
        log_dir=home,
        confdir=confdir,
        extra=[
            "--set", f"kiro_credentials={creds}",
            "--set", f"kiro_auth_url={kiro.url}/refreshToken",
            *extra,
        ],
    )  # fmt: skip
