"""The Gateway addon's hooks in mitmproxy's test context (no sockets except the connect probe,
which is short-circuited by marking the upstream connection as live)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from dataclasses import dataclass, field

import pytest
from mitmproxy import exceptions, hooks, http
from mitmproxy.test import taddons, tflow

from addons.gateway_hooks import Gateway
from addons.metadata import EXCHANGE
from addons.recorder_hooks import Refusal
from addons.request.rejections import Rejection
from recorder.exchange import Exchange

PROXY = ("127.0.0.1", 8080)


def gateway_flow(method: str, path: str, body: bytes, headers: dict[str, str]) -> http.HTTPFlow:
    f = tflow.tflow()
    f.client_conn.sockname = PROXY
    f.request = http.Request.make(method, f"http://127.0.0.1:8080{path}", body, headers)
    return f


def run(gw: Gateway, f: http.HTTPFlow) -> None:
    gw.requestheaders(f)
    gw.live.add((f.client_conn.id, (f.request.host, f.request.port)))  # skip the probe
    asyncio.run(gw.request(f))


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    path: str
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    status: int | None = None  # None: forwarded upstream
    error_type: str | None = None


ANT = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
CASES = [
    Case(
        "no key",
        "POST",
        "/v1/messages",
        b"{}",
        {"anthropic-version": "2023-06-01"},
        401,
        "authentication_error",
    ),
    Case(
        "wrong key openai",
        "POST",
        "/v1/chat/completions",
        b"{}",
        {"authorization": "Bearer x"},
        401,
        None,
    ),
    Case("bad json", "POST", "/v1/messages", b"{", ANT, 400, "invalid_request_error"),
    Case(
        "not an object",
        "POST",
        "/v1/chat/completions",
        b"[]",
        {"authorization": "Bearer k"},
        400,
        "invalid_request_error",
    ),
    Case("models", "GET", "/v1/models", b"", {"authorization": "Bearer k"}, 200),
    Case("messages", "POST", "/v1/messages?beta=true", b'{"model":"m","stream":true}', ANT),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_request_hook(case: Case) -> None:
    gw = Gateway()
    with taddons.context(gw) as tctx:
        tctx.configure(gw, gateway_upstream="http://127.0.0.1:9000/v1", gateway_key="k")
        f = gateway_flow(case.method, case.path, case.body, case.headers)
        run(gw, f)
        ex = f.metadata[EXCHANGE]
        if case.status is None:
            assert f.response is None
            assert (f.request.host, f.request.port, f.request.path) == (
                "127.0.0.1",
                9000,
                "/v1/messages?beta=true",
            )
            assert f.request.headers["accept-encoding"] == "identity"
            assert "x-api-key" not in f.request.headers  # the gateway key stays here
            assert ex.model_requested == "m" and ex.stream
            return
        assert f.response is not None and f.response.status_code == case.status
        if case.error_type:
            body = json.loads(f.response.content or b"")
            assert (body["error"]["type"]) == case.error_type
            assert ex.error


@pytest.mark.parametrize("method, path", [("HEAD", "/"), ("GET", "/"), ("HEAD", "/v1/messages")])
def test_a_health_check_is_answered_and_is_no_exchange(method: str, path: str) -> None:
    gw = Gateway()
    with taddons.context(gw) as tctx:
        tctx.configure(gw, gateway_upstream="http://127.0.0.1:9000/v1", gateway_key="k")
        f = gateway_flow(method, path, b"", {})  # no key: a load balancer has none
        run(gw, f)
        assert f.response is not None and f.response.status_code == 200
        assert EXCHANGE not in f.metadata  # nothing to record, no session of its own
        assert (f.request.host, f.request.port) == PROXY  # shown as what it is: local
        assert gw.health_checks == 1


def test_a_health_check_says_unavailable_while_traffic_is_refused() -> None:
    class Refusing:
        recording = True
        can_look_up = False

        def refusal(self) -> Refusal:
            return Refusal("tapegate is not recording, so it refuses traffic: disk full", True)

        def counts(self) -> dict[str, int]:
            return {"stored": 7, "failed_rows": 1, "not_recorded": 2, "writer_restarts": 1}

    gw = Gateway(Refusing())  # type: ignore[arg-type]
    with taddons.context(gw) as tctx:
        tctx.configure(gw, gateway_upstream="http://127.0.0.1:9000/v1")
        f = gateway_flow("GET", "/", b"", {})
        run(gw, f)
        assert f.response is not None and f.response.status_code == 503
        body = json.loads(f.response.content or b"")
        assert body["reason"].endswith("disk full")
        # what was lost is said where a monitor looks, not only in the log
        assert body["recorder"] == Refusing().counts()


def test_a_local_answer_is_shown_as_local() -> None:
    gw = Gateway()
    with taddons.context(gw) as tctx:
        tctx.configure(gw, gateway_upstream="http://127.0.0.1:9000/v1", gateway_key="k")
        f = gateway_flow("POST", "/v1/messages", b"{}", {"anthropic-version": "2023-06-01"})
        run(gw, f)
        assert f.response is not None and f.response.status_code == 401
        assert f.request.pretty_url == "http://127.0.0.1:8080/v1/messages"


@pytest.mark.parametrize(
    "opts, message",
    [
        ({"gateway_upstream_api": "gemini"}, "gateway_upstream_api must be one of"),
        ({"gateway_upstream": "ftp://x"}, "gateway_upstream"),
        ({"gateway_first_token_timeout": "soon"}, "gateway_first_token_timeout must be a number"),
        ({"gateway_config": "/nonexistent.yaml"}, "cannot read routes file"),
        ({"listen_host": "0.0.0.0"}, "refusing to listen on '0.0.0.0' without gateway_key"),
        ({"gateway_key_env": "TAPEGATE_UNSET_VAR_7f"}, "TAPEGATE_UNSET_VAR_7f is not set"),
        ({"gateway_key_env": "HOME", "gateway_key": "k"}, "not both"),
        ({"gateway_max_body": "lots"}, "gateway_max_body must be a size"),
        ({"gateway_max_json_depth": 1}, "gateway_max_json_depth must be at least 2"),
        ({"gateway_fault": "explode@3"}, "gateway_fault: unknown fault 'explode@3'"),
        ({"gateway_fault": "truncate@2,reset@3"}, "gateway_fault: .*at most one of"),
        ({"gateway_fault_only": "route:"}, "gateway_fault_only: route: needs a route name"),
    ],
)
def test_configure_refuses_bad_options(opts: dict[str, str], message: str) -> None:
    gw = Gateway()
    with taddons.context(gw) as tctx:
        with pytest.raises(exceptions.OptionsError, match=message):
            tctx.configure(gw, **opts)


def test_the_gateway_key_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAPEGATE_TEST_KEY", "from-env")
    gw = Gateway()
    with taddons.context(gw) as tctx:
        tctx.configure(gw, gateway_key_env="TAPEGATE_TEST_KEY", listen_host="0.0.0.0")
        assert gw.opts.key == "from-env"


def test_remote_listen_allowed_with_a_key() -> None:
    gw = Gateway()
    with taddons.context(gw) as tctx:
        tctx.configure(gw, listen_host="0.0.0.0", gateway_key="k")


def test_http2_only_when_gateway_http2_asks_for_it(caplog: pytest.LogCaptureFixture) -> None:
    """mitmproxy negotiates HTTP/2 whenever its http2 option is on (its default), and on HTTP/2
    connections the gateway's deadlines do not hold: off unless gateway_http2, said when on."""
    gw = Gateway()
    with taddons.context(gw) as tctx:
        # as mitmproxy configures a script it loads: every option is new to it
        tctx.master.addons.invoke_addon_sync(gw, hooks.ConfigureHook(set(tctx.options.keys())))
        assert tctx.options.http2 is False
        assert "deadlines" not in caplog.text
        tctx.configure(gw, gateway_http2=True)
        assert tctx.options.http2 is True
        assert "gateway_http2=true: on HTTP/2 connections" in caplog.text
        tctx.configure(gw, gateway_http2=False)
        assert tctx.options.http2 is False
        caplog.clear()
        tctx.configure(gw, http2=True)  # mitmproxy's own option, by hand: it stands, with a word
        assert tctx.options.http2 is True
        assert "http2 is on: on HTTP/2 connections" in caplog.text


def test_stream_callable_never_returns_empty_bytes_mid_stream() -> None:
    gw = Gateway()
    with taddons.context(gw) as tctx:
        tctx.configure(gw, gateway_upstream="http://127.0.0.1:9000")
        f = gateway_flow("POST", "/v1/messages", b'{"model":"m","stream":true}', ANT)
        run(gw, f)
        f.response = http.Response.make(200, b"", {"content-type": "text/event-stream"})
        gw.responseheaders(f)
        assert callable(f.response.stream)
        gw_stream = f.response.stream
        # pass-through: the same bytes, a whole event at a time
        assert gw_stream(b"event: ping\n") == []  # not b"": that would end the body
        assert gw_stream(b"data: {}\n\n") == b"event: ping\ndata: {}\n\n"
        assert gw_stream(b"") == b""  # the end is mitmproxy's own b""


def test_other_hosts_are_left_alone_for_whoever_presents_the_key() -> None:
    gw = Gateway()
    with taddons.context(gw) as tctx:
        tctx.configure(gw, gateway_key="k")
        f = tflow.tflow()
        f.request.headers["proxy-authorization"] = "Bearer k"
        gw.requestheaders(f)
        asyncio.run(gw.request(f))
        assert EXCHANGE not in f.metadata and f.response is None


def test_without_a_key_other_hosts_are_refused() -> None:
    gw = Gateway()
    with taddons.context(gw) as tctx:
        tctx.configure(gw)
        f = tflow.tflow()
        gw.requestheaders(f)
        assert f.response is not None and f.response.status_code == 403


def test_connections_on_other_addresses_are_closed_unless_configured() -> None:
    gw = Gateway()
    with taddons.context(gw) as tctx:
        tctx.configure(gw)
        lan, local = tflow.tclient_conn(), tflow.tclient_conn()
        lan.sockname, local.sockname = ("192.0.2.10", 8080), ("127.0.0.1", 8080)
        gw.client_connected(lan)
        gw.client_connected(local)
        assert lan.error and "loopback only" in lan.error and not local.error
        tctx.configure(gw, listen_host="0.0.0.0", gateway_key="k")
        lan.error = None
        gw.client_connected(lan)
        assert not lan.error


def test_a_request_mitmproxy_refused_is_counted_and_recorded_unless_the_hooks_saw_it() -> None:
    class Takes:
        recording = True
        can_look_up = False

        def __init__(self) -> None:
            self.recorded: list[Exchange] = []

        def refusal(self) -> None:
            return None

        def record(self, ex: Exchange) -> None:
            self.recorded.append(ex)

    takes = Takes()
    gw = Gateway(takes)  # type: ignore[arg-type]
    unseen = Rejection(400, "Invalid header line: b'x'", "POST", "/v1/messages", "anthropic", b"",
                       listener=("127.0.0.1", 8080))  # fmt: skip
    gw._rejected(unseen)
    gw._rejected(dataclasses.replace(unseen, seen=True))  # the hooks record it themselves
    assert gw.rejected == 2
    [ex] = takes.recorded
    assert ex.client_request is not None
    assert ex.client_request.url == "http://127.0.0.1:8080/v1/messages"
    assert ex.extra == {"client_error": True, "rejected_by": "mitmproxy"}


def test_loading_the_gateway_loads_no_client_library_exporter_or_database() -> None:
    """The gateway's start-up is mitmproxy's plus what it uses on every request: httpx (the
    retry path, the fault proxy, Kiro), the OpenTelemetry SDK (export on), YAML and pydantic (a
    routes file) and DuckDB (the recorder's writer process) load when configured or first used."""
    import subprocess
    import sys

    code = "import sys, addons.gateway; print(' '.join(sorted(sys.modules)))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, timeout=120).stdout.split()  # fmt: skip
    heavy = ("httpx", "opentelemetry", "yaml", "duckdb", "pydantic", "pydantic_core", "rich")
    assert [m for m in loaded if m.split(".")[0] in heavy] == []
    # Nor the codecs (and their pydantic wire models): loaded on first use, by dialect. Nor
    # what only an option or a rare request uses: a routes file, a cassette, the Claude Code
    # CLI, Kiro, faults, mitmweb's views, the worker process for large bodies.
    unused = {
        *("recorder.codecs.anthropic", "recorder.codecs.openai", "recorder.routes_file"),
        *("replay.engine", "replay.server", "addons.upstream.cassette"),
        *("addons.upstream.claude_cli", "addons.upstream.claude_cli_server"),
        *("recorder.claude_cli.turn", "addons.upstream.fault_proxy", "recorder.faults.spec"),
        *("recorder.faults.inject", "recorder.kiro.backend", "recorder.kiro.auth"),
        *("recorder.kiro.credentials", "sqlite3", "recorder.observe.views"),
        *("recorder.observe.reading", "recorder.observe.messagelog", "recorder.observe.facts"),
        *("multiprocessing", "concurrent.futures.process", "replay.export", "recorder.summary"),
    }
    assert [m for m in loaded if m in unused or m.startswith("recorder.wire.")] == []
