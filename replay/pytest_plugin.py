"""pytest plugin (entry point ``tapegate``): hand a test a cassette to replay.

    @pytest.mark.cassette("cassettes/anthropic-hello", role="upstream", record="none")
    def test_hello(cassette):
        client = anthropic.Anthropic(api_key="x", base_url=cassette.url)        # over a socket
        client = anthropic.Anthropic(api_key="x", base_url="http://replay",
                                     http_client=httpx2.Client(transport=cassette.transport))

The path is resolved against the test file's folder, then the rootdir. ``.url`` starts a server
on 127.0.0.1 on first use; ``.transport`` / ``.async_transport`` replay in-process. All three share
one engine, so play counts add up. With ``strict=True`` (the default) a test that passes but left
an interaction unplayed, or made a request that missed, fails.

Record modes: ``none`` replays only (a missing cassette fails the test); ``once`` would record a
missing cassette, but recording needs the gateway (mitmdump) in front of a real upstream, which a
test cannot start in-process, so ``once`` fails with the two commands that record it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from replay.cassette import load
from replay.engine import ReplayEngine, Role, Timing
from replay.matching import MatchPolicy
from replay.server import ThreadedServer
from replay.transport import AsyncCassetteTransport, CassetteTransport

RECORD_MODES = ("none", "once")
_HANDLE = pytest.StashKey["CassetteHandle"]()


@dataclass(slots=True)
class CassetteHandle:
    path: Path
    engine: ReplayEngine
    _server: ThreadedServer | None = None
    _transport: CassetteTransport | None = None
    _async_transport: AsyncCassetteTransport | None = None

    @property
    def url(self) -> str:
        """Base URL of a replay server for this cassette (started on first use)."""
        if self._server is None:
            self._server = ThreadedServer(self.engine)
        return self._server.url

    @property
    def transport(self) -> CassetteTransport:
        if self._transport is None:
            self._transport = CassetteTransport(self.engine)
        return self._transport

    @property
    def async_transport(self) -> AsyncCassetteTransport:
        if self._async_transport is None:
            self._async_transport = AsyncCassetteTransport(self.engine)
        return self._async_transport

    def check(self) -> None:
        self.engine.check()

    def close(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "cassette(path, role='upstream', record='none', timing='instant', strict=True, "
        "repeat=False, policy=None): replay a tapegate cassette through the `cassette` fixture",
    )


def _resolve(request: pytest.FixtureRequest, raw: str | Path) -> Path:
    p = Path(raw)
    if p.is_absolute():
        return p
    for base in (request.path.parent, request.config.rootpath, Path.cwd()):
        if (base / p).exists():
            return base / p
    return request.config.rootpath / p


def _how_to_record(path: Path) -> str:
    return (
        f"record it through the gateway: run `mitmdump -s addons/gateway.py --set "
        f"recorder_db=traffic.duckdb`, point the client at http://127.0.0.1:8080, run the "
        f"scenario, then `recorder export --db traffic.duckdb --session <ID> {path}`"
    )


@pytest.fixture
def cassette(request: pytest.FixtureRequest) -> Iterator[CassetteHandle]:
    """The cassette named by ``@pytest.mark.cassette(...)``, ready to replay."""
    marker = request.node.get_closest_marker("cassette")
    if marker is None or not marker.args:
        pytest.fail("the `cassette` fixture needs @pytest.mark.cassette('cassettes/NAME')")
    opts: dict[str, Any] = dict(marker.kwargs)
    record = opts.pop("record", "none")
    if record not in RECORD_MODES:  # a misspelled mode must fail, not silently replay
        pytest.fail(f"cassette record mode must be one of {RECORD_MODES}, not {record!r}")
    path = _resolve(request, marker.args[0])
    if not (path / "cassette.json").is_file():
        why = "record='none' replays only" if record == "none" else "recording is not in-process"
        pytest.fail(f"cassette {path} does not exist ({why}); {_how_to_record(path)}")
    role: Role = opts.pop("role", "upstream")
    engine = ReplayEngine(
        load(path),
        role,
        opts.pop("policy", None) or MatchPolicy(),
        strict=bool(opts.pop("strict", True)),
        repeat=bool(opts.pop("repeat", False)),
        timing=Timing.parse(opts.pop("timing", "instant")),
    )
    if opts:
        pytest.fail(f"unknown cassette marker options: {sorted(opts)}")
    handle = CassetteHandle(path, engine)
    request.node.stash[_HANDLE] = handle
    try:
        yield handle
    finally:
        handle.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """After a passing test body: strict cassettes must have been played fully, without misses."""
    result = yield
    handle = item.stash.get(_HANDLE, None)
    if handle is not None:
        handle.check()  # raises NotFullyPlayedError (an AssertionError): the test fails
    return result
