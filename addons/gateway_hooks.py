"""The Gateway addon: routes, translates and streams LLM API traffic inside mitmproxy.

Mode handling: mitmdump runs in its default *regular* mode. A client whose base URL is the proxy
sends origin-form requests whose destination (from the Host header) is the proxy itself;
``requestheaders`` recognises them (destination == the socket the client connected to) and the
``request`` hook points them at the route's upstream. The same listener still works as an explicit
proxy: absolute-form or CONNECT traffic to api.anthropic.com / api.openai.com is recorded and
passed through, other hosts are proxied plainly; who may do so (``gateway_key`` as proxy
credentials, no open proxy beyond loopback) is :mod:`addons.request.proxy_auth`. No ``--mode``
flag is needed.

The hooks are thin: each delegates to the room that does the job —
:mod:`addons.request` (classify, authenticate, translate, point upstream),
:mod:`addons.response` (stream, translate, the gateway's own answers, the ``error`` hook),
:mod:`addons.upstream` (retries, the connect probe, timeouts, a cassette as the upstream).

Hooks never raise: each body is wrapped, and an exception becomes an in-dialect 500 (or is logged
when a response is already under way). Retries and timeouts: see :mod:`addons.upstream`.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
import uuid
from typing import TYPE_CHECKING, Any, Protocol, assert_never

from mitmproxy import ctx, http
from mitmproxy.proxy import mode_specs

from addons import deferred_listen, http_versions
from addons.banner import counted
from addons.flow_state import (
    Answered,
    Done,
    FlowState,
    Renewing,
    Retrying,
    Sent,
    StreamClosed,
    Streaming,
)
from addons.metadata import FLOW_STATE, HEALTH_CHECK, REJECTED
from addons.options import GatewayOptions, declare, default_backend, read_options
from addons.recorder_hooks import Refusal
from addons.request import body as request_body_worker
from addons.request import classify, forward, rejections
from addons.request.proxy_auth import ProxyGate, accepted_on_loopback, is_loopback
from addons.request.stored import RecordedAnswers
from addons.response import buffered, failures, stream
from addons.response.replies import reply, reply_error
from addons.startup import refuse
from addons.upstream import claude_cli_options as cli_options
from addons.upstream import timeouts
from addons.upstream.keepalive import IdleUpstreams
from recorder import endpoints, routing
from recorder.backends import backend_option_specs
from recorder.claude_cli.probe import CliUnavailableError
from recorder.errors import ConfigError
from recorder.exchange import Exchange

# What only some options use loads when they ask for it (its modules would cost every start):
# a routes file (pydantic), a cassette, the Claude Code CLI, gateway_fault.
if TYPE_CHECKING:
    import httpx

    from addons.upstream.cassette import CassetteUpstream
    from addons.upstream.claude_cli import CliRuntime
    from addons.upstream.claude_cli_options import CliOptions
    from addons.upstream.fault_proxy import FaultProxy
    from recorder.routes_file import GatewayConfig

logger = logging.getLogger("tapegate.gateway")
# Options beside gateway_* that change the gateway: the listener, the backends' own (kiro_*,
# claude_cli_*).
_OTHERS = frozenset(
    {
        "listen_host",
        "mode",
        *(spec[0] for spec in backend_option_specs() + cli_options.OPTIONS),
    }
)


class Recording(RecordedAnswers, cli_options.SessionLookup, Protocol):
    @property
    def recording(self) -> bool: ...

    def refusal(self) -> Refusal | None: ...

    def counts(self) -> dict[str, int] | None: ...

    def record(self, ex: Exchange) -> None: ...


def _routes(path: str) -> GatewayConfig:
    from recorder import routes_file

    return routes_file.load_config(path)


def _cassette(current: CassetteUpstream | None, o: GatewayOptions) -> CassetteUpstream | None:
    if current is None and o.cassette is None:
        return None
    from addons.upstream import cassette

    return cassette.reopen(current, o.cassette, o.replay_timing, o.replay_repeat)


def _cli(
    current: CliRuntime | None, options: CliOptions | None, recorder: Recording | None
) -> CliRuntime | None:
    if current is None and options is None:
        return None
    from addons.upstream import claude_cli

    return claude_cli.reopen(current, options, claude_cli.recorded_sessions(recorder))


def _routes_use_cli(config: GatewayConfig | None) -> bool:
    return config is not None and any(r.upstream == routing.CLAUDE_CLI for r in config.routes)


class Gateway:
    def __init__(self, recorder: Recording | None = None) -> None:
        # The Recorder that stores this gateway's exchanges (addons/gateway.py links them):
        # while it has no open sink, flows skip the exchange's detail (FlowState.rec). Without
        # one (the Gateway alone, as in tests) every exchange is filled in completely.
        self.recorder = recorder
        self.opts = GatewayOptions()
        self.router = routing.Router()
        self.http: httpx.AsyncClient | None = None
        # (client connection id, upstream address) pairs with an open upstream connection:
        # requests on them skip the connect probe.
        self.live: set[tuple[str, tuple[str, int]]] = set()
        self.idle = IdleUpstreams()  # closes upstream connections idle for too long
        self.gate = ProxyGate()  # explicit-proxy traffic: who may use the listener
        # The listener was configured beyond loopback (and allowed there): connections may
        # come in on other addresses. Otherwise those are closed (``client_connected``).
        self.remote_ok = False
        # gateway_upstream named a cassette: replayed in mitmproxy's loop (the default route's
        # backend); kept across reconfigurations that do not change it (its play counts).
        self.cassette: CassetteUpstream | None = None
        self.health_checks = 0  # answered, never recorded (see classify.is_health_check)
        # Requests mitmproxy itself refused (no Host, an unreadable head, CL+TE), answered in
        # the client's dialect: see addons.request.rejections
        self.rejected = 0
        # gateway_fault: the loopback proxy that breaks the upstream's answers (started on
        # first use, in mitmproxy's loop).
        self.faults: FaultProxy | None = None
        self._fault_lock = asyncio.Lock()
        # The local Claude Code CLI, when the default upstream or a route uses it: its process
        # pool and session map, kept across reconfigurations that do not change its options.
        self.cli: CliRuntime | None = None

    # ------------------------------------------------------------------ lifecycle

    def load(self, loader: Any) -> None:
        declare(loader)

    def configure(self, updated: set[str]) -> None:
        if "http2" in updated and "gateway_http2" not in updated:
            http_versions.changed_by_hand(ctx.options, self.opts.http2)
        if not any(k.startswith("gateway_") or k in _OTHERS for k in updated):
            return
        self.remote_ok = False  # until the options below are known to be good
        try:
            self.opts = o = read_options(ctx.options)
            config = _routes(o.config) if o.config else None
            self.cassette = _cassette(self.cassette, o)
            wanted = o.claude_cli_default or _routes_use_cli(config)
            self.cli = _cli(self.cli, o.claude_cli if wanted else None, self.recorder)
            if o.claude_cli_default and self.cli is not None and self.cli.status is None:
                self.cli.check_now()  # the default upstream: refuse to start without it
            backends = self.cli.upstream if self.cli is not None else None
            self.router = routing.build_router(
                config, default_backend(o, self.cassette, self.cli), o.backend_options, backends
            )
        except (ConfigError, ValueError, CliUnavailableError) as e:
            refuse(str(e), e)
        hosts = listen_hosts(ctx.options.listen_host, ctx.options.mode)
        remote = [h for h in hosts if h != "" and not is_loopback(h)]
        if remote and not self.opts.key and not self.opts.allow_remote:
            refuse(
                f"refusing to listen on {remote[0]!r} without gateway_key: anyone who can reach it "
                "could use your upstream credentials. Set gateway_key or gateway_allow_remote=true."
            )
        self.remote_ok = bool(remote)
        self.gate.upstreams = self.router.upstream_addresses()
        if "gateway_http2" in updated:
            http_versions.settle(ctx.options, self.opts.http2)

    def running(self) -> None:
        """mitmproxy's default listen_host "" means every interface; the gateway listens on
        loopback unless told otherwise. Started by mitmdump/mitmweb, mitmproxy has bound nothing
        yet (:mod:`addons.deferred_listen`): the options passed, so the server starts now, on
        loopback unless the command line chose an address. Otherwise (a Python environment
        without that start hook) the server is already bound, and since changing only
        listen_host does not rebind, the (default) regular mode is re-declared with an explicit
        loopback address, first thing: until then the proxy listens on every interface (a
        connection there is closed: client_connected)."""
        o = ctx.options
        if deferred_listen.deferred and not o.server:
            loopback = o.listen_host == "" and not deferred_listen.listen_host_given
            o.update(server=True, **({"listen_host": "127.0.0.1"} if loopback else {}))  # type: ignore[no-untyped-call]
        elif o.listen_host == "" and list(o.mode) == ["regular"]:
            port = o.listen_port or 8080
            o.update(listen_host="127.0.0.1", mode=[f"regular@127.0.0.1:{port}"])  # type: ignore[no-untyped-call]
        # Nothing loaded so far is garbage (mitmproxy, pydantic, DuckDB, the codecs: a few
        # hundred thousand objects), yet every full collection would walk all of it again
        # (~75 ms each, several a minute under load). Frozen, collections see only new objects.
        gc.collect()
        gc.freeze()

    async def done(self) -> None:
        await request_body_worker.shutdown()
        if self.health_checks:
            checks = counted(self.health_checks, "health check")
            logger.info(f"tapegate: answered {checks} (not recorded)")
        if self.rejected:
            refused = counted(self.rejected, "malformed request")
            logger.info(f"tapegate: refused {refused} (HTTP-level)")
        if self.http is not None:
            await self.http.aclose()
        if self.faults is not None:
            await self.faults.stop()
        if self.cassette is not None:
            await self.cassette.stop()
        if self.cli is not None:
            await self.cli.shutdown()  # every CLI process ended and reaped

    async def _fault_port(self) -> int | None:
        """Where the fault proxy listens, once gateway_fault is set (started on first use)."""
        if self.opts.fault is None and not self.opts.fault_header:
            return None
        async with self._fault_lock:  # the first requests may arrive together
            if self.faults is None:
                from addons.upstream.fault_proxy import FaultProxy

                self.faults = await FaultProxy().start()
                logger.info(f"tapegate: gateway_fault {self.opts.fault} ({self.opts.fault_scope})")
        return self.faults.port

    def http_connect(self, flow: http.HTTPFlow) -> None:
        try:
            self.gate.connect(flow, self.opts.key)
        except Exception:  # noqa: BLE001
            logger.exception("gateway: http_connect failed")

    def next_layer(self, nextlayer: Any) -> None:
        try:
            rejections.install(nextlayer, self._rejected)
        except Exception:  # noqa: BLE001 - mitmproxy's own answers stay as they are
            logger.exception("gateway: next_layer failed")

    def _rejected(self, r: rejections.Rejection) -> None:
        """A request mitmproxy refused (and the client was told in its dialect): counted, and
        recorded as the client's error unless the hooks saw it (they record it themselves)."""
        self.rejected += 1
        if r.seen or self.recorder is None or not self.recorder.recording:
            return
        listener = f"{r.listener[0]}:{r.listener[1]}" if r.listener else ""
        self.recorder.record(rejections.exchange(r, str(uuid.uuid4()), time.time(), listener))

    def client_connected(self, client: Any) -> None:
        if not self.remote_ok and not accepted_on_loopback(client):
            addr = client.sockname[0] if client.sockname else "?"
            client.error = f"tapegate listens on loopback only, not on {addr}"

    def client_disconnected(self, client: Any) -> None:
        self.gate.forget(client.id)
        self.idle.forget(client.id)

    def server_connected(self, data: Any) -> None:
        self.live.add((data.client.id, tuple(data.server.address[:2])))

    def server_disconnected(self, data: Any) -> None:
        if data.server.address:
            self.live.discard((data.client.id, tuple(data.server.address[:2])))

    # ------------------------------------------------------------------ request side

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        self.idle.began(flow)
        if not self.remote_ok and not accepted_on_loopback(flow.client_conn):
            flow.kill()  # type: ignore[no-untyped-call]  # (client_connected closes such)
            return
        if flow.error is not None:  # mitmproxy refused it already: see addons.request.rejections
            flow.metadata[REJECTED] = True
            return
        try:
            rec = self.recorder is None or self.recorder.recording
            if classify.is_gateway_request(flow) and classify.is_health_check(flow):
                flow.metadata[HEALTH_CHECK] = True  # answered in `request`
            elif classify.is_gateway_request(flow):
                classify.classify_gateway(flow, self.router, rec)
                forward.refuse_announced_size(flow, flow.metadata[FLOW_STATE], self.opts.max_body)
            elif self.gate.admit(flow, self.opts.key):
                classify.classify_proxied(flow, rec)
        except Exception:  # noqa: BLE001 - the proxy must never crash on input
            logger.exception("gateway: requestheaders failed")

    async def request(self, flow: http.HTTPFlow) -> None:
        if flow.metadata.get(HEALTH_CHECK) and flow.response is None:
            self.health_checks += 1
            refused = self.recorder.refusal() if self.recorder is not None else None
            counts = self.recorder.counts() if self.recorder is not None else None
            status, body = endpoints.health_body(refused.message if refused else None, counts)
            flow.response = http.Response.make(status, body, endpoints.JSON_HEADERS)
            return
        st = flow.metadata.get(FLOW_STATE)
        if st is None or flow.response is not None:
            return
        try:
            if self._refused(flow, st):
                return
            if st.kind == "vendor":
                forward.vendor_request(flow, st, self.opts.policy)
            else:
                port = await self._fault_port()
                await forward.gateway_request(
                    flow, st, self.opts, self.router, self.live, self.recorder, port
                )
                if flow.response is None:  # the recorder may have failed while this awaited
                    self._refused(flow, st)
        except Exception as e:  # noqa: BLE001
            logger.exception("gateway: request failed")
            reply_error(flow, st, "api_error", f"gateway error: {type(e).__name__}: {e}")

    # ------------------------------------------------------------------ response side

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        st = flow.metadata.get(FLOW_STATE)
        if st is None or isinstance(st.phase, Answered):
            return
        try:
            stream.on_headers(flow, st, self.opts.policy)
            timeouts.head_came(flow, st)
        except Exception:  # noqa: BLE001
            logger.exception("gateway: responseheaders failed")

    async def response(self, flow: http.HTTPFlow) -> None:
        try:
            await self._response(flow)
        finally:
            self.idle.ended(flow, self.opts.policy.upstream_keepalive)

    async def _response(self, flow: http.HTTPFlow) -> None:
        st = flow.metadata.get(FLOW_STATE)
        if st is None:
            return
        try:
            st.cancel_timer()
            phase = st.phase
            match phase:
                case Answered() | Done():
                    pass
                case Streaming() | StreamClosed():
                    stream.finish_stream(flow, st)
                case Renewing() | Retrying():
                    if not self._refused(flow, st):
                        await self._send_again(flow, st, phase)
                case Sent():
                    buffered.finish_buffered(flow, st)
                case _:
                    assert_never(phase)
        except Exception as e:  # noqa: BLE001
            logger.exception("gateway: response failed")
            if not isinstance(st.phase, Streaming | StreamClosed):
                reply_error(flow, st, "api_error", f"gateway error: {type(e).__name__}: {e}")
        st.finish(flow)

    async def _send_again(
        self, flow: http.HTTPFlow, st: FlowState, phase: Renewing | Retrying
    ) -> None:
        """The retry and renewal paths send with httpx, loaded then, not at start-up (importing
        it costs the gateway's start ~0.2 s). Their client, made on first use, keeps no idle
        connection: httpx closes an expired one only when it is next used, so an upstream
        retried once would stay connected for good (retries are rare: a new connection each
        costs nothing that matters)."""
        from addons.upstream import retries

        if self.http is None:
            import httpx

            limits = httpx.Limits(max_keepalive_connections=0)
            self.http = httpx.AsyncClient(trust_env=False, limits=limits)
        send = retries.renew if isinstance(phase, Renewing) else retries.retry
        await send(flow, st, self.http, self.opts.policy)

    def _refused(self, flow: http.HTTPFlow, st: FlowState) -> bool:
        """Recording is all or nothing: while the recorder cannot take an exchange, nothing
        goes upstream (the 503 is the gateway's own answer, so it is never retried)."""
        refused = self.recorder.refusal() if self.recorder is not None else None
        if refused is None:
            return False
        logger.error(refused.message)
        status, body = endpoints.error_response("unavailable", refused.message, st.client)
        if st.ex.error is None:
            st.ex.error = refused.message
        reply(flow, st, status, body, endpoints.JSON_HEADERS | refused.headers)
        return True

    def error(self, flow: http.HTTPFlow) -> None:
        self.idle.ended(flow, self.opts.policy.upstream_keepalive)
        st = flow.metadata.get(FLOW_STATE)
        if st is None:
            return
        try:
            st.cancel_timer()
            failures.on_error(flow, st)
            st.finish(flow)
        except Exception:  # noqa: BLE001
            logger.exception("gateway: error hook failed")


def listen_hosts(listen_host: str, modes: Any) -> list[str]:
    """The hosts the proxy's listeners bind: each mode's own ``@host:port``, else
    ``listen_host`` ("" = every interface)."""
    hosts = []
    for spec in modes:
        try:
            mode = mode_specs.ProxyMode.parse(spec)
        except ValueError:
            continue  # mitmproxy refuses it itself
        hosts.append(mode.listen_host(listen_host))
    return hosts or [listen_host]
