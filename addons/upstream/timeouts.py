"""The first-token timeout (``gateway_first_token_timeout``) on mitmproxy's own upstream
connection.

What "first token" means: the first event of a stream that carries model output on the client
leg, the moment ``Exchange.t_first_token`` records (an Anthropic ``content_block_delta`` of text,
thinking or tool input; an OpenAI chunk whose delta has content, reasoning or tool calls). Role
chunks, ``message_start``, ``ping`` and empty deltas do not count. For a response that is not a
stream (JSON, errors) the response head counts as the first token. The clock starts when the
request leaves for the upstream.

When it fires:

* **No response head yet**: mitmproxy has no read timeout for upstream responses, and a
  response an addon sets after the request left is overwritten by whatever the upstream sends.
  So the gateway hands mitmproxy's HTTP/1 client layer a complete ``504`` response (in the
  client's dialect, with ``connection: close``) as if it had come from the upstream; mitmproxy
  then runs its usual hooks, answers the client and closes the silent upstream connection.
* **A stream under way, no token yet** (headers come fast, tokens slowly): the stream is ended
  with an in-dialect error event (``timeout``) and the upstream connection is closed
  (:func:`addons.response.stream_end.end_with_error`); the exchange is recorded as an error.

Both reach into mitmproxy's connection handler (:mod:`addons.mitm_io`), so they work on HTTP/1
connections and degrade to "no timeout" (logged) anywhere else.
"""

from __future__ import annotations

import asyncio
import logging

from mitmproxy import http

from addons import mitm_io
from addons.flow_state import ANSWERED, FlowState, Streaming
from addons.metadata import FLOW_STATE
from addons.response.stream_end import end_with_error
from recorder.endpoints import error_response

logger = logging.getLogger("tapegate.gateway")


def start(flow: http.HTTPFlow, st: FlowState, seconds: float) -> None:
    """Start the timer when the request leaves for the upstream (0: no limit)."""
    if seconds:
        loop = asyncio.get_running_loop()
        st.timer = loop.call_later(seconds, _fired, flow, seconds)


def _fired(flow: http.HTTPFlow, seconds: float) -> None:
    """No first token within the timeout: give up on the upstream."""
    st = flow.metadata.get(FLOW_STATE)
    if st is None or st.timer is None:
        return
    st.timer = None
    if flow.response is None:
        st.ex.error = f"no first byte from upstream within {seconds:g}s"
        inject_timeout(flow, st, seconds)
    elif isinstance(st.phase, Streaming):
        _end_stream(flow, st, seconds)


def _end_stream(flow: http.HTTPFlow, st: FlowState, seconds: float) -> None:
    try:
        msg = f"no first token from upstream within {seconds:g}s"
        if end_with_error(flow, st, "timeout", msg):
            st.ex.error = msg
            st.ex.extra["first_token_timeout"] = seconds
        else:
            logger.warning("gateway: first-token timeout cannot be enforced on this connection")
    except Exception:  # noqa: BLE001 - a timer must never take the proxy down
        logger.exception("gateway: first-token timeout failed")


def inject_timeout(flow: http.HTTPFlow, st: FlowState, seconds: float) -> None:
    try:
        status, body = error_response(
            "timeout", f"upstream sent nothing within {seconds:g}s", st.client
        )
        head = (
            f"HTTP/1.1 {status} Gateway Timeout\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
        ).encode()
        if not mitm_io.inject_from_server(flow, head + body):
            logger.warning("gateway: first-token timeout cannot be enforced on this connection")
            return
        st.phase = ANSWERED  # the 504 is the gateway's answer, not the upstream's
        st.ex.extra["first_token_timeout"] = seconds
    except Exception:  # noqa: BLE001 - a timer must never take the proxy down
        logger.exception("gateway: first-token timeout failed")
