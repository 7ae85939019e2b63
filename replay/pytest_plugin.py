"""pytest plugin (entry point ``tapegate``): hand a test a cassette to replay, or record it once.

    @pytest.mark.cassette("cassettes/anthropic-hello", role="gateway", record="none")
    def test_hello(cassette):
        client = anthropic.Anthropic(api_key="x", base_url=cassette.url)        # over a socket
        client = anthropic.Anthropic(api_key="x", base_url="http://replay",
                                     http_client=httpx2.Client(transport=cassette.transport))

    @pytest.mark.cassette("cassettes/weather", record="once",
                          upstream="http://127.0.0.1:11434/v1", upstream_api="openai")
    def test_weather(cassette): ...       # same body: records on the first run, replays after

The path is resolved against the test file's folder, then the rootdir. ``.url`` starts a server
on 127.0.0.1 on first use; ``.transport`` / ``.async_transport`` replay in-process. All three share
one engine, so play counts add up. With ``strict=True`` (the default) a test that passes but left
an interaction unplayed, or made a request that missed, fails.

Marker arguments (all but the path are keywords):

``path``         the cassette directory (``cassette.json`` + ``.sse`` files).
``record``       ``"none"`` (default): replay only; a missing cassette fails the test.
                 ``"once"``: a missing cassette is recorded by this run (below); an existing one
                 replays exactly as with ``"none"``.
``role``         which leg answers: ``"gateway"``, what the recorded client got (test a client
                 against what it saw), or ``"upstream"``, what the upstream sent the gateway (the
                 test stands where the gateway stood; a miss that the other leg would answer
                 names the role to use). Default ``"upstream"``, but
                 ``"gateway"`` with ``record="once"``, since that is how it was recorded
                 (switching such a marker to ``record="none"``: add ``role="gateway"``).
``timing``       ``"instant"`` (default), ``"recorded"`` or ``"xN"`` (N times the recorded gaps).
``strict``       default True: an unplayed interaction or a miss fails a passing test.
``repeat``       default False: a played interaction may not answer again.
``policy``       a :class:`replay.matching.MatchPolicy` (default: the LLM-aware one).
``upstream``     ``record="once"`` only: the upstream's base URL (``gateway_upstream``); without
                 it the ``cassette_record_upstream`` fixture is asked (override it in a conftest,
                 e.g. to start a local server only when something is recorded).
``upstream_api`` ``record="once"`` only: ``"anthropic"`` | ``"openai"`` (``gateway_upstream_api``);
                 default: the client's own dialect.
``upstream_key_env`` ``record="once"`` only: environment variable with the upstream key
                 (``gateway_upstream_key_env``); default: the client's key is passed on.
``faults``       a list of fault specs (``["truncate@3", "error@5", "status:529"]``; README,
                 "Faults"): the test runs once clean and once per fault (``test_x[clean]``,
                 ``test_x[truncate@3]``, ...), each fault applied to every interaction it fits
                 (``"2=truncate@3"``: interaction 2 only). ``cassette.fault`` is the spec of the
                 run (None when clean), so one test body asserts both outcomes. A faulted run
                 does not require every interaction to be played (the client may stop at the
                 fault) and a faulted interaction answers a retry with the same fault.

Recording (``record="once"``, cassette missing): the fixture starts the gateway
(``mitmdump -s addons/gateway.py`` on a free 127.0.0.1 port, ``recorder_db=`` empty,
``recorder_cassette=<path>``) in front of the upstream; ``.url`` is the gateway's URL and
``.transport`` / ``.async_transport`` forward to it, so the test body is the same in both modes.
At teardown the gateway is stopped with SIGTERM, which writes the cassette (secrets redacted).
A failing test keeps no cassette, so the next run records again; a test that sent nothing writes
none. The gateway's log is in the test's temporary directory (named in any error).
"""

from __future__ import annotations

import difflib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from replay.cassette import CASSETTE_FILE, CassetteError, load
from replay.engine import ROLE_LEG, ReplayEngine, Role, Timing
from replay.export import STAGING_DIR
from replay.faultplan import FaultPlan, FaultPlanError
from replay.httpx_compat import AsyncTransportBase, SyncTransportBase, package_of
from replay.matching import MatchPolicy
from replay.server import ThreadedServer
from replay.transport import AsyncCassetteTransport, CassetteTransport

RECORD_MODES = ("none", "once")
_HANDLE = pytest.StashKey["CassetteHandle"]()
# replay/ and addons/ are siblings, in the repository and in an installed wheel alike.
_PACKAGE_ROOT = Path(__file__).resolve().parents[1]
GATEWAY_SCRIPT = _PACKAGE_ROOT / "addons" / "gateway.py"
START_TIMEOUT, STOP_TIMEOUT = 30.0, 15.0
# mitmdump logs LISTENING once its scripts are loaded, then STARTUP_ERROR and exits if one of
# them failed to start (bad option, existing cassette).
LISTENING, STARTUP_ERROR = b"listening at", b"logged during startup"
START_GRACE = 0.3


# --------------------------------------------------------------------------- recording gateway


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _mitmdump() -> list[str]:
    exe = Path(sys.executable).parent / "mitmdump"
    if exe.exists():
        return [str(exe)]
    return [sys.executable, "-c", "from mitmproxy.tools.main import mitmdump; mitmdump()"]


@dataclass(frozen=True, slots=True)
class UpstreamSpec:
    url: str
    api: str | None = None
    key_env: str | None = None

    def sets(self) -> list[str]:
        out = [f"gateway_upstream={self.url}"]
        if self.api:
            out.append(f"gateway_upstream_api={self.api}")
        if self.key_env:
            out.append(f"gateway_upstream_key_env={self.key_env}")
        return out


class RecordingGateway:
    """``mitmdump -s addons/gateway.py`` recording into one cassette, in its own process group."""

    def __init__(self, cassette: Path, upstream: UpstreamSpec, log: Path) -> None:
        self.cassette, self.log = cassette, log
        self.port = _free_port()
        argv = [*_mitmdump(), "-s", str(GATEWAY_SCRIPT), "-p", str(self.port),
                "--listen-host", "127.0.0.1"]  # fmt: skip
        for s in ["recorder_db=", f"recorder_cassette={cassette}", *upstream.sets()]:
            argv += ["--set", s]
        path = os.pathsep.join(p for p in (str(_PACKAGE_ROOT), os.environ.get("PYTHONPATH")) if p)
        env = {**os.environ, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1"}
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("wb") as fh:
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT, env=env,
                cwd=_PACKAGE_ROOT, start_new_session=True,
            )  # fmt: skip
        self._wait_ready()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _wait_ready(self) -> None:
        """Listening, the scripts loaded (mitmdump logs "listening at" after them) and no start-up
        error logged within a grace period (mitmdump exits on one just after it listens)."""
        deadline = time.monotonic() + START_TIMEOUT
        while not self._failed() and not (LISTENING in self._log() and _listening(self.port)):
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        else:
            grace = time.monotonic() + START_GRACE
            while not self._failed():
                if time.monotonic() > grace:
                    return
                time.sleep(0.05)
        self.stop()
        pytest.fail(f"the recording gateway did not start:\n{self.log_tail()}", pytrace=False)

    def _log(self) -> bytes:
        try:
            return self.log.read_bytes()
        except OSError:
            return b""

    def _failed(self) -> bool:
        return self.proc.poll() is not None or STARTUP_ERROR in self._log()

    def log_tail(self, head: int = 20, tail: int = 30) -> str:
        """The log's start (start-up errors) and end (the last requests), with its path."""
        lines = self._log().decode(errors="replace").splitlines()
        if len(lines) > head + tail:
            lines = [*lines[:head], "...", *lines[-tail:]]
        return "\n".join([*lines, f"(log: {self.log})"])

    def stop(self) -> int:
        """SIGTERM (mitmdump runs ``done``: the cassette is written), SIGKILL if it hangs."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(STOP_TIMEOUT)
        return self.proc.returncode


def _to_gateway(request: Any, port: int) -> None:
    request.url = request.url.copy_with(scheme="http", host="127.0.0.1", port=port)
    request.headers["host"] = f"127.0.0.1:{port}"


class _ForwardTransport(SyncTransportBase):
    """``.transport`` while recording: the same requests, sent to the recording gateway."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._inner: dict[str, Any] = {}

    def handle_request(self, request: Any) -> Any:
        mod = package_of(request)
        inner = self._inner.setdefault(mod.__name__, mod.HTTPTransport())
        _to_gateway(request, self.port)
        return inner.handle_request(request)

    def close(self) -> None:
        for t in self._inner.values():
            t.close()


class _AsyncForwardTransport(AsyncTransportBase):
    def __init__(self, port: int) -> None:
        self.port = port
        self._inner: dict[str, Any] = {}

    async def handle_async_request(self, request: Any) -> Any:
        mod = package_of(request)
        inner = self._inner.setdefault(mod.__name__, mod.AsyncHTTPTransport())
        _to_gateway(request, self.port)
        return await inner.handle_async_request(request)


# --------------------------------------------------------------------------- the handle


@dataclass(slots=True)
class CassetteHandle:
    """Replays ``path`` through ``engine``; or, while recording, fronts the recording gateway."""

    path: Path
    engine: ReplayEngine | None
    recording: RecordingGateway | None = None
    test_failed: bool = False
    fault: str | None = None  # the fault spec of this run (faults=[...]); None when clean
    _server: ThreadedServer | None = None
    _transport: CassetteTransport | _ForwardTransport | None = None
    _async_transport: AsyncCassetteTransport | _AsyncForwardTransport | None = None

    @property
    def url(self) -> str:
        """Base URL of a replay server for this cassette (started on first use), or of the
        recording gateway."""
        if self.recording is not None:
            return self.recording.url
        if self._server is None:
            assert self.engine is not None
            self._server = ThreadedServer(self.engine)
        return self._server.url

    @property
    def transport(self) -> CassetteTransport | _ForwardTransport:
        if self._transport is None:
            if self.recording is not None:
                self._transport = _ForwardTransport(self.recording.port)
            else:
                assert self.engine is not None
                self._transport = CassetteTransport(self.engine)
        return self._transport

    @property
    def async_transport(self) -> AsyncCassetteTransport | _AsyncForwardTransport:
        if self._async_transport is None:
            if self.recording is not None:
                self._async_transport = _AsyncForwardTransport(self.recording.port)
            else:
                assert self.engine is not None
                self._async_transport = AsyncCassetteTransport(self.engine)
        return self._async_transport

    def check(self) -> None:
        if self.engine is not None:
            self.engine.check(unplayed=self.fault is None)

    def close(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
        if isinstance(self._transport, _ForwardTransport):
            self._transport.close()
        if self.recording is not None:
            self._finish_recording(self.recording)

    def _finish_recording(self, gw: RecordingGateway) -> None:
        self.recording = None
        code = gw.stop()
        if self.test_failed:
            _discard(self.path)
            return
        if code != 0:
            pytest.fail(
                f"the recording gateway exited with {code}; cassette {self.path} may be "
                f"incomplete:\n{gw.log_tail()}",
                pytrace=False,
            )
        if not (self.path / CASSETTE_FILE).is_file():
            warnings.warn(
                f"record='once': the test sent nothing through {gw.url}; no cassette written "
                f"at {self.path}",
                stacklevel=1,
            )
            return
        try:
            load(self.path)
        except CassetteError as e:
            pytest.fail(f"the recorded cassette does not load: {e}", pytrace=False)


def _discard(path: Path) -> None:
    """Remove what a recording wrote (the directory itself only if it is left empty)."""
    for p in [path / CASSETTE_FILE, *path.glob("[0-9][0-9][0-9][0-9].*.sse")]:
        p.unlink(missing_ok=True)
    shutil.rmtree(path / STAGING_DIR, ignore_errors=True)
    if path.is_dir() and not any(path.iterdir()):
        path.rmdir()


# --------------------------------------------------------------------------- pytest hooks


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "cassette(path, role='upstream', record='none', timing='instant', strict=True, "
        "repeat=False, policy=None, upstream=None, upstream_api=None, upstream_key_env=None, "
        "faults=None): replay a tapegate cassette through the `cassette` fixture (record='once' "
        "records a missing one through the gateway; faults=[SPEC, ...] runs the test clean and "
        "once per fault)",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``faults=[...]`` on the marker: one test per fault plus the clean run."""
    marker = metafunc.definition.get_closest_marker("cassette")
    if marker is None or marker.kwargs.get("faults") is None:
        return
    faults = marker.kwargs["faults"]
    where = metafunc.definition.nodeid
    if isinstance(faults, str) or not all(isinstance(f, str) for f in faults):
        pytest.fail(
            f"{where}: cassette faults must be a list of fault specs, e.g. "
            f"faults=['truncate@3', 'status:529'], not {faults!r}",
            pytrace=False,
        )
    problem = None
    for f in faults:
        try:
            FaultPlan.parse([f])
        except ValueError as e:
            problem = f"{where}: {e}"
    if "cassette_fault" not in metafunc.fixturenames:
        problem = f"{where}: faults=[...] needs the `cassette` fixture"
    if problem is not None:
        pytest.fail(problem, pytrace=False)
    metafunc.parametrize("cassette_fault", [None, *faults], ids=["clean", *faults], indirect=True)


@pytest.fixture
def cassette_fault(request: pytest.FixtureRequest) -> str | None:
    """The fault spec of this run of a ``faults=[...]`` test; None for the clean run."""
    return getattr(request, "param", None)


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
        f"record it with record='once' and upstream=URL on the marker, or through the gateway: "
        f"`mitmdump -s addons/gateway.py --set recorder_cassette={path} --set recorder_db= "
        f"--set gateway_upstream=URL`, point the client at http://127.0.0.1:8080, run the "
        f"scenario, stop mitmdump"
    )


@pytest.fixture
def cassette_record_upstream() -> str | None:
    """The upstream base URL that ``record="once"`` records against when the marker names none.
    Override it (e.g. in a conftest) to start a local server only when a cassette is missing."""
    return None


def _upstream(request: pytest.FixtureRequest, opts: dict[str, Any]) -> UpstreamSpec:
    url = opts.get("upstream") or request.getfixturevalue("cassette_record_upstream")
    if not url:
        pytest.fail(
            "record='once' needs an upstream to record against: "
            "@pytest.mark.cassette(..., upstream='http://HOST:PORT', upstream_api='openai') "
            "or a `cassette_record_upstream` fixture that returns the URL",
            pytrace=False,
        )
    return UpstreamSpec(str(url), opts.get("upstream_api"), opts.get("upstream_key_env"))


_RECORD_ONLY: Sequence[str] = ("upstream", "upstream_api", "upstream_key_env")
_REPLAY_OPTIONS: Sequence[str] = ("policy", "strict", "repeat", "timing")
_MARKER_OPTIONS: Sequence[str] = ("record", "role", "faults", *_RECORD_ONLY, *_REPLAY_OPTIONS)


def _unknown_marker_options(names: list[str]) -> str:
    named = []
    for name in names:
        close = difflib.get_close_matches(name, _MARKER_OPTIONS, n=1)
        named.append(f"{name} (did you mean {close[0]}?)" if close else name)
    return f"unknown cassette marker options: {', '.join(named)}"


@pytest.fixture
def cassette(
    request: pytest.FixtureRequest, cassette_fault: str | None
) -> Iterator[CassetteHandle]:
    """The cassette named by ``@pytest.mark.cassette(...)``, ready to replay (or to record)."""
    # A misused marker is the test's mistake: one line (pytrace=False), not this fixture's code.
    marker = request.node.get_closest_marker("cassette")
    if marker is None or not marker.args:
        pytest.fail(
            "the `cassette` fixture needs @pytest.mark.cassette('cassettes/NAME')", pytrace=False
        )
    opts: dict[str, Any] = dict(marker.kwargs)
    opts.pop("faults", None)  # pytest_generate_tests made one test per fault
    record = opts.pop("record", "none")
    if record not in RECORD_MODES:  # a misspelled mode must fail, not silently replay
        pytest.fail(
            f"cassette record mode must be one of {RECORD_MODES}, not {record!r}", pytrace=False
        )
    record_opts = {k: opts.pop(k) for k in _RECORD_ONLY if k in opts}
    role: Role = opts.pop("role", "gateway" if record == "once" else "upstream")
    if role not in ROLE_LEG:  # it failed deep in the engine, a ValueError with its traceback
        pytest.fail(f"cassette role must be 'upstream' or 'gateway', not {role!r}", pytrace=False)
    replay_opts = {k: opts.pop(k) for k in _REPLAY_OPTIONS if k in opts}
    if opts:
        pytest.fail(_unknown_marker_options(sorted(opts)), pytrace=False)
    path = _resolve(request, marker.args[0])
    if (path / CASSETTE_FILE).is_file():
        try:
            engine = ReplayEngine(
                load(path),
                role,
                replay_opts.get("policy") or MatchPolicy(),
                strict=bool(replay_opts.get("strict", True)),
                repeat=bool(replay_opts.get("repeat", False)),
                timing=Timing.parse(replay_opts.get("timing", "instant")),
                faults=FaultPlan.parse([cassette_fault] if cassette_fault else []),
            )
            unfit = None
        except FaultPlanError as e:  # a fault that does not fit this cassette
            unfit = f"cassette {path}: {e}"
        except ValueError as e:  # a timing it cannot read
            unfit = f"cassette {path}: {e}"
        if unfit is not None:
            pytest.fail(unfit, pytrace=False)
        handle = CassetteHandle(path, engine, fault=cassette_fault)
    elif cassette_fault is not None:
        pytest.skip(f"cassette {path} is not recorded yet: its clean run records it")
    elif record == "none":
        pytest.fail(
            f"cassette {path} does not exist (record='none' replays only); {_how_to_record(path)}",
            pytrace=False,
        )
    else:
        upstream = _upstream(request, record_opts)
        log_dir = request.getfixturevalue("tmp_path_factory").mktemp("tapegate-record")
        handle = CassetteHandle(path, None, RecordingGateway(path, upstream, log_dir / "gw.log"))
    request.node.stash[_HANDLE] = handle
    try:
        yield handle
    finally:
        handle.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """After a passing test body: strict cassettes must have been played fully, without misses.
    A failing body is noted, so that a recording made by it is not kept."""
    handle = item.stash.get(_HANDLE, None)
    try:
        result = yield
    except BaseException:
        if handle is not None:
            handle.test_failed = True
        raise
    if handle is not None:
        handle.check()  # raises NotFullyPlayedError (an AssertionError): the test fails
    return result
