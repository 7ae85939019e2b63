"""The Gateway addon: routes, translates and streams LLM API traffic inside mitmproxy.

Mode handling: mitmdump runs in its default *regular* mode. A client whose base URL is the proxy
sends origin-form requests whose destination (from the Host header) is the proxy itself;
``requestheaders`` recognises them (destination == the socket the client connected to) and the
``request`` hook points them at the route's upstream. The same listener still works as an explicit
proxy: absolute-form or CONNECT traffic to api.anthropic.com / api.openai.com is recorded and
passed through; other hosts are not touched. No ``--mode`` flag is needed.

Hooks never raise: each body is wrapped, and an exception becomes an in-dialect 500 (or is logged
when a response is already under way). Retries and timeouts: see :mod:`addons.upstream`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

import httpx
from mitmproxy import ctx, exceptions, http

from addons import auth, endpoints, routing, summary
from addons.cassette_upstream import CassetteUpstream, reopen
from addons.flowstate import STATE, FlowState, new_exchange
from addons.options import GatewayOptions, declare, read_options
from addons.timeouts import finish_broken_stream, inject_timeout
from addons.upstream import RETRY_STATUSES, ProbeFailed, Reply, probe, reissue
from recorder import ir
from recorder.context import Context, IdFactory
from recorder.errors import ConfigError, TranslationError
from recorder.exchange import EventTape
from recorder.translate import (
    StreamTranslator,
    translate_error,
    translate_request,
    translate_response,
)

logger = logging.getLogger("tapegate.gateway")

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
SSE_TYPE = "text/event-stream; charset=utf-8"
_UNAVAILABLE = (ImportError, NotImplementedError)  # a codec that has not landed yet


class Gateway:
    def __init__(self) -> None:
        self.opts = GatewayOptions()
        self.router = routing.Router()
        self.http: httpx.AsyncClient | None = None
        # (client connection id, upstream address) pairs with an open upstream connection:
        # requests on them skip the connect probe.
        self.live: set[tuple[str, tuple[str, int]]] = set()
        # gateway_upstream named a cassette: replayed in mitmproxy's loop; the default route
        # points at it once its port is known (``_await_cassette``).
        self.cassette: CassetteUpstream | None = None
        self._cassette_route: tuple[routing.GatewayConfig | None, ir.Dialect | None] | None = None

    # ------------------------------------------------------------------ lifecycle

    def load(self, loader: Any) -> None:
        declare(loader)

    def configure(self, updated: set[str]) -> None:
        if not any(k.startswith("gateway_") or k == "listen_host" for k in updated):
            return
        try:
            self.opts = read_options(ctx.options)
            config = routing.load_config(self.opts.config) if self.opts.config else None
            o = self.opts
            self.cassette = reopen(self.cassette, o.cassette, o.replay_timing, o.replay_repeat)
            api = o.api or (self.cassette.dialect if self.cassette else None)
            self._cassette_route = (config, api) if self.cassette else None
            self.router = routing.build_router(
                config, self.opts.upstream, api, self.opts.upstream_key_env
            )
        except (ConfigError, ValueError) as e:
            raise exceptions.OptionsError(str(e)) from None  # type: ignore[no-untyped-call]
        host = ctx.options.listen_host
        if host not in LOOPBACK and host != "" and not self.opts.key and not self.opts.allow_remote:
            raise exceptions.OptionsError(  # type: ignore[no-untyped-call]
                f"refusing to listen on {host!r} without gateway_key: anyone who can reach it "
                "could use your upstream credentials. Set gateway_key or gateway_allow_remote=true."
            )

    def running(self) -> None:
        """mitmproxy's default listen_host "" means every interface; the gateway listens on
        loopback unless told otherwise. The server is already bound by now (12.x binds before
        scripts load) and changing only listen_host does not rebind, so the (default) regular
        mode is re-declared with an explicit loopback address."""
        o = ctx.options
        if o.listen_host == "" and list(o.mode) == ["regular"]:
            port = o.listen_port or 8080
            o.update(listen_host="127.0.0.1", mode=[f"regular@127.0.0.1:{port}"])  # type: ignore[no-untyped-call]

    async def done(self) -> None:
        if self.http is not None:
            await self.http.aclose()
        if self.cassette is not None:
            await self.cassette.stop()

    async def _await_cassette(self) -> None:
        """Point the default route at the replayed cassette once its server listens."""
        pending = self._cassette_route
        if pending is None or self.cassette is None:
            return
        url = await self.cassette.url()
        if self._cassette_route is pending:  # not reconfigured meanwhile
            config, api = pending
            self.router = routing.build_router(config, url, api, self.opts.upstream_key_env)
            self._cassette_route = None

    def server_connected(self, data: Any) -> None:
        self.live.add((data.client.id, tuple(data.server.address[:2])))

    def server_disconnected(self, data: Any) -> None:
        if data.server.address:
            self.live.discard((data.client.id, tuple(data.server.address[:2])))

    # ------------------------------------------------------------------ request side

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        try:
            req = flow.request
            sock = flow.client_conn.sockname
            if req.port == sock[1] and (req.host in LOOPBACK or req.host == sock[0]):
                path = req.path.split("?", 1)[0]
                client = routing.guess_dialect(path, req.headers)
                st = FlowState("gateway", client, client, new_exchange(flow))
                st.client_path = req.path
                st.client_url = f"{req.scheme}://{req.host_header}{req.path}"
                flow.metadata[STATE] = st
                # Never let an origin-form request reach mitmproxy's self-connect check.
                route = self.router.default or routing.vendor_route(client)
                self._point(flow, route, req.path)
            elif req.host in routing.VENDOR_HOSTS:
                client = routing.VENDOR_HOSTS[req.host]
                flow.metadata[STATE] = FlowState("vendor", client, client, new_exchange(flow))
        except Exception:  # noqa: BLE001 - the proxy must never crash on input
            logger.exception("gateway: requestheaders failed")

    async def request(self, flow: http.HTTPFlow) -> None:
        st = flow.metadata.get(STATE)
        if st is None or flow.response is not None:
            return
        try:
            if st.kind == "vendor":
                self._vendor_request(flow, st)
            else:
                await self._await_cassette()
                await self._gateway_request(flow, st)
        except Exception as e:  # noqa: BLE001
            logger.exception("gateway: request failed")
            self._reply_error(flow, st, "api_error", f"gateway error: {type(e).__name__}: {e}")

    def _vendor_request(self, flow: http.HTTPFlow, st: FlowState) -> None:
        """Explicit-proxy traffic to a vendor: recorded, passed through untouched except that
        chat responses are asked for uncompressed (so their events can be recorded)."""
        req = flow.request
        path = req.path.split("?", 1)[0]
        if routing.dialect_of_path(path) is not None:
            req.headers["accept-encoding"] = "identity"
        st.ex.client_request = summary.snapshot_request(req, req.raw_content, req.pretty_url)
        st.ex.upstream_request = st.ex.client_request
        st.ex.route = "forward-proxy"
        self._note_model(st, req.raw_content)

    async def _gateway_request(self, flow: http.HTTPFlow, st: FlowState) -> None:
        req = flow.request
        path, _, query = st.client_path.partition("?")
        st.ex.client_request = summary.snapshot_request(req, req.raw_content, st.client_url)
        if req.method == "HEAD":
            return self._reply(flow, st, 200, b"", {})
        if self.opts.key and not auth.key_ok(req.headers, self.opts.key):
            return self._reply_error(flow, st, "authentication", "invalid or missing gateway key")
        client = st.client
        if req.method == "GET" and path == "/v1/models":
            body = endpoints.models_body(self.router.models(), client, int(time.time()))
            return self._reply(flow, st, 200, body, endpoints.JSON_HEADERS)
        chat = path in routing.CHAT_PATH.values() or path == "/v1/messages/count_tokens"
        if not chat or req.method != "POST":
            route = self.router.default or routing.vendor_route(client)
            if route.dialect_for(client) != client:
                return self._reply_error(
                    flow, st, "not_found", f"{req.method} {path} is not served by this gateway"
                )
            return await self._send(flow, st, route, client, path, query, None)
        try:
            body = json.loads(req.get_content() or b"")
        except (ValueError, UnicodeDecodeError) as e:
            return self._reply_error(flow, st, "invalid_request", f"body is not valid JSON: {e}")
        if not isinstance(body, dict):
            return self._reply_error(flow, st, "invalid_request", "body must be a JSON object")
        asked = body.get("model") if isinstance(body.get("model"), str) else None
        model = self.router.alias(asked)
        route = self.router.resolve(model, client, req.headers)
        upstream = route.dialect_for(client)
        sent = route.model or model
        st.upstream = upstream
        st.ex.model_requested, st.ex.model_sent = asked, sent
        st.ex.stream = bool(body.get("stream"))
        if path == "/v1/messages/count_tokens" and upstream != "anthropic":
            out = endpoints.count_tokens_body(body)
            hdrs = endpoints.JSON_HEADERS | {endpoints.ESTIMATE_HEADER: "true"}
            return self._reply(flow, st, 200, out, hdrs)
        st.ctx = Context(client, upstream, ids=IdFactory(flow.id), created=int(time.time()))
        new: bytes | None = None
        if client == upstream:
            if sent != asked and sent is not None:
                new = json.dumps(body | {"model": sent}).encode()
        else:
            if sent is not None:
                body["model"] = sent
            try:
                new = json.dumps(translate_request(body, st.ctx)).encode()
            except TranslationError as e:
                return self._reply_error(flow, st, "invalid_request", str(e))
            except _UNAVAILABLE as e:
                return self._reply_error(
                    flow, st, "api_error", f"translation {client} -> {upstream} unavailable: {e}"
                )
            path, query = routing.CHAT_PATH[upstream], ""
        st.ctx.requested_model = asked
        await self._send(flow, st, route, upstream, path, query, new)

    async def _send(
        self,
        flow: http.HTTPFlow,
        st: FlowState,
        route: routing.Route,
        upstream: ir.Dialect,
        path: str,
        query: str,
        body: bytes | None,
    ) -> None:
        """Point the request at the route's upstream, fix its headers, and make sure the
        upstream can be reached (see addons.upstream for why the gateway probes)."""
        req = flow.request
        st.upstream = upstream
        st.ex.route = route.name
        st.ex.upstream_dialect = upstream
        full = path + (f"?{query}" if query else "")
        if route is not st.pointed or full != st.client_path:
            self._point(flow, route, full)
        if body is not None:
            req.content = body
        hdrs = req.headers
        hdrs["accept-encoding"] = "identity"
        route_key = route.key()
        if route_key is not None or self.opts.key or st.client != upstream:
            auth.set_upstream_auth(hdrs, upstream, route_key, bool(self.opts.key))
        auth.set_dialect_headers(hdrs, st.client, upstream)
        for k, v in route.headers:
            hdrs[k] = v
        st.upstream_url = route.upstream.url_for(req.path[len(route.upstream.prefix) :])
        st.ex.upstream_request = summary.snapshot_request(req, req.raw_content, st.upstream_url)
        if (flow.client_conn.id, (req.host, req.port)) not in self.live:
            try:
                await probe(req.host, req.port, self.opts.policy)
            except ProbeFailed as e:
                kind: ir.ErrorKind = "timeout" if e.timed_out else "bad_gateway"
                return self._reply_error(flow, st, kind, str(e))
        if self.opts.policy.first_token_timeout:
            st.timer = asyncio.get_running_loop().call_later(
                self.opts.policy.first_token_timeout, self._first_token_timeout, flow
            )

    def _point(self, flow: http.HTTPFlow, route: routing.Route, path: str) -> None:
        """Re-target the request. Writes mitmproxy's raw fields and the Host header once:
        the property setters each rebuild host/authority (measurably slow per request)."""
        up = route.upstream
        data = flow.request.data
        data.scheme = up.scheme.encode()
        data.host, data.port = up.host, up.port
        data.path = up.path_for(path).encode()
        default = 443 if up.scheme == "https" else 80
        flow.request.headers["host"] = up.host if up.port == default else f"{up.host}:{up.port}"
        flow.metadata[STATE].pointed = route

    def _note_model(self, st: FlowState, raw: bytes | None) -> None:
        if raw and raw[:1] == b"{":
            try:
                body = json.loads(raw)
            except ValueError:
                return
            if isinstance(body, dict):
                st.ex.model_requested = st.ex.model_sent = body.get("model")
                st.ex.stream = bool(body.get("stream"))

    # ------------------------------------------------------------------ response side

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        st = flow.metadata.get(STATE)
        if st is None or st.local:
            return
        try:
            st.cancel_timer()
            resp = flow.response
            assert resp is not None
            if resp.status_code >= 400:
                st.retry = (
                    st.kind == "gateway"
                    and resp.status_code in RETRY_STATUSES
                    and self.opts.policy.retries > 0
                )
                return
            if "text/event-stream" not in resp.headers.get("content-type", ""):
                return
            tape = EventTape(st.ex, time.monotonic, st.t0)
            try:
                st.translator = StreamTranslator(st.context(), tape)
            except _UNAVAILABLE as e:
                st.failure = f"translation {st.upstream} -> {st.client} unavailable: {e}"
                return  # buffered; answered as an error in the response hook
            st.ex.stream = True
            if st.client != st.upstream:
                resp.headers.pop("content-length", None)
                resp.headers["content-type"] = SSE_TYPE
                if not flow.request.is_http2 and "transfer-encoding" not in resp.headers:
                    resp.headers["transfer-encoding"] = "chunked"
            feed = st.translator.feed

            def stream(chunk: bytes) -> bytes | list[bytes]:
                try:
                    out = feed(chunk)
                except Exception:  # noqa: BLE001 - keep the connection going
                    logger.exception("gateway: stream translation failed")
                    return []
                # b"" mid-stream would end a chunked response early: return an empty list.
                return out if out or not chunk else []

            resp.stream = stream
        except Exception:  # noqa: BLE001
            logger.exception("gateway: responseheaders failed")

    async def response(self, flow: http.HTTPFlow) -> None:
        st = flow.metadata.get(STATE)
        if st is None:
            return
        try:
            st.cancel_timer()
            if st.local:
                pass
            elif st.translator is not None:
                self._finish_stream(flow, st)
            elif st.retry:
                await self._retry(flow, st)
            else:
                self._finish_buffered(flow, st)
        except Exception as e:  # noqa: BLE001
            logger.exception("gateway: response failed")
            if st.translator is None:
                self._reply_error(flow, st, "api_error", f"gateway error: {type(e).__name__}: {e}")
        st.finish(flow)

    def error(self, flow: http.HTTPFlow) -> None:
        st = flow.metadata.get(STATE)
        if st is None:
            return
        try:
            st.cancel_timer()
            msg = flow.error.msg if flow.error else "unknown error"
            if st.ex.error is None:
                st.ex.error = msg
            if st.translator is not None and "client" not in msg.lower():
                finish_broken_stream(flow, st)
            st.finish(flow)
        except Exception:  # noqa: BLE001
            logger.exception("gateway: error hook failed")

    def _finish_stream(self, flow: http.HTTPFlow, st: FlowState) -> None:
        resp = flow.response
        assert resp is not None
        st.ex.upstream_response = summary.snapshot_response(resp, None)
        st.ex.client_response = st.ex.upstream_response
        summary.summarize_events(st.ex, st.client)

    def _finish_buffered(self, flow: http.HTTPFlow, st: FlowState) -> None:
        """A whole upstream response (JSON, error, or an SSE body from the retry path)."""
        resp = flow.response
        assert resp is not None
        raw = resp.get_content(strict=False) or b""
        st.ex.upstream_response = summary.snapshot_response(resp, raw)
        if st.failure is not None:
            return self._reply_error(flow, st, "api_error", st.failure)
        if st.kind == "vendor" or (st.client == st.upstream and resp.status_code < 400):
            if resp.status_code < 400 and raw[:1] == b"{":
                summary.summarize_body(st.ex, st.client, _loads(raw))
            st.ex.client_response = st.ex.upstream_response
            return
        if resp.status_code >= 400:
            st.ex.error = f"upstream answered {resp.status_code}"
            if st.client == st.upstream:
                st.ex.client_response = st.ex.upstream_response
                return
            try:
                status, body = translate_error(
                    resp.status_code, _loads(raw, text=True), st.context()
                )
            except _UNAVAILABLE:
                return self._reply_error(flow, st, "bad_gateway", raw.decode("utf-8", "replace"))
            return self._set(flow, st, status, json.dumps(body).encode(), endpoints.JSON_HEADERS)
        if "text/event-stream" in resp.headers.get("content-type", ""):
            tr = StreamTranslator(st.context(), EventTape(st.ex, time.monotonic, st.t0))
            out = tr.feed(raw) + tr.feed(b"")
            st.ex.stream = True
            summary.summarize_events(st.ex, st.client)
            return self._set(flow, st, resp.status_code, out, {"content-type": SSE_TYPE})
        try:
            translated = translate_response(_loads(raw), st.context())
        except TranslationError as e:
            return self._reply_error(flow, st, "bad_gateway", f"upstream response: {e}")
        except _UNAVAILABLE as e:
            return self._reply_error(flow, st, "api_error", f"translation unavailable: {e}")
        summary.summarize_body(st.ex, st.client, translated)
        self._set(
            flow, st, resp.status_code, json.dumps(translated).encode(), endpoints.JSON_HEADERS
        )

    async def _retry(self, flow: http.HTTPFlow, st: FlowState) -> None:
        assert flow.response is not None
        if self.http is None:
            self.http = httpx.AsyncClient(trust_env=False)
        req = flow.request
        method, url, body = req.method, st.upstream_url, req.raw_content or b""
        headers = summary.header_pairs(req.headers)
        try:
            reply = await reissue(
                self.http,
                method,
                url,
                headers,
                body,
                self.opts.policy,
                flow.response.headers.get("retry-after"),
            )
        except httpx.TimeoutException as e:
            return self._reply_error(flow, st, "timeout", f"upstream timed out on retry: {e!r}")
        except httpx.TransportError as e:
            return self._reply_error(flow, st, "bad_gateway", f"upstream failed on retry: {e!r}")
        st.ex.extra["attempts"] = reply.attempts
        flow.response = _response_from(reply)
        self._finish_buffered(flow, st)

    def _first_token_timeout(self, flow: http.HTTPFlow) -> None:
        """No response headers within the first-token timeout: give up on the upstream."""
        st = flow.metadata.get(STATE)
        if st is None or flow.response is not None:
            return
        st.ex.error = (
            f"no first byte from upstream within {self.opts.policy.first_token_timeout:g}s"
        )
        inject_timeout(flow, st, self.opts.policy.first_token_timeout)

    # ------------------------------------------------------------------ answers

    def _reply_error(
        self, flow: http.HTTPFlow, st: FlowState, kind: ir.ErrorKind, msg: str
    ) -> None:
        status, body = endpoints.error_response(kind, msg, st.client)
        if st.ex.error is None:
            st.ex.error = msg
        self._reply(flow, st, status, body, endpoints.JSON_HEADERS)

    def _reply(
        self, flow: http.HTTPFlow, st: FlowState, status: int, body: bytes, headers: dict[str, str]
    ) -> None:
        st.local = flow.response is None
        self._set(flow, st, status, body, headers)

    def _set(
        self, flow: http.HTTPFlow, st: FlowState, status: int, body: bytes, headers: dict[str, str]
    ) -> None:
        flow.response = http.Response.make(status, body, headers)
        st.ex.client_response = summary.snapshot_response(flow.response, body)


def _response_from(reply: Reply) -> http.Response:
    drop = {"content-length", "transfer-encoding", "content-encoding", "connection"}
    hdrs = [(k.encode(), v.encode()) for k, v in reply.headers if k.lower() not in drop]
    return http.Response.make(reply.status, reply.body, hdrs)


def _loads(raw: bytes, text: bool = False) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return raw.decode("utf-8", "replace") if text else None
