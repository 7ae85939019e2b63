"""The deadlines of an exchange on mitmproxy's own upstream connection: first byte (the response
head), first token, idle (a whole body after its head, whole events of a stream) and total
(``gateway_*_timeout``; which applies when is :func:`addons.upstream.policy.next_deadline`).

One timer per flow, started when the request leaves for the upstream and moved when the head
comes (:func:`head_came`). A stream's progress is not a timer reset per chunk (that would cost
every chunk a timer): the stream callable notes the time of the last whole event
(``FlowState.last_event``), and a timer that fires early is set again for the deadline that
this progress moved.

What a missed deadline does:

* **No response head yet, or a whole body under way** (a JSON head, then silence or a
  trickle): nothing has reached the client. The upstream connection is closed; mitmproxy
  reports the lost answer through ``error``, where the gateway answers the client a ``504`` in
  its dialect naming the timeout (:mod:`addons.response.failures`). (A fake ``504`` handed to
  mitmproxy as if the upstream had sent it would not do: on a TLS upstream connection it
  reaches the TLS layer as a broken record, and the client was left hanging.)
* **A stream under way**: the stream is ended with an in-dialect error event (``timeout``) and
  the upstream connection is closed (:func:`addons.response.stream_end.end_with_error`).

Each is recorded as the exchange's error, with the option in ``extra["timeout"]``. All reach
into mitmproxy's connection handler (:mod:`addons.mitm_io`), so they work on HTTP/1 connections
and degrade to "no timeout" (logged) anywhere else: which is why the gateway speaks HTTP/2 only
when ``gateway_http2`` asks for it (:mod:`addons.http_versions`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import assert_never

from mitmproxy import http

from addons import mitm_io
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
from addons.metadata import FLOW_STATE
from addons.response.stream import collects, is_stream
from addons.response.stream_end import end_with_error
from addons.upstream.policy import Awaiting, Deadline, RetryPolicy, next_deadline

logger = logging.getLogger("tapegate.gateway")


def start(flow: http.HTTPFlow, st: FlowState, policy: RetryPolicy) -> None:
    """Start the clock when the request leaves for the upstream."""
    st.policy = policy
    st.sent_at = time.monotonic()
    _arm(flow, st)


def head_came(flow: http.HTTPFlow, st: FlowState) -> None:
    """``responseheaders``: the deadlines of the body or stream replace the head's."""
    st.head_at = time.monotonic()
    st.cancel_timer()
    _arm(flow, st)


def _phase(flow: http.HTTPFlow, st: FlowState) -> Awaiting | None:
    """Where the exchange is, as far as deadlines go (None: no upstream answer is awaited)."""
    resp = flow.response
    match st.phase:
        case Sent() | Retrying() | Renewing():
            if resp is None:
                return "head"
            return "collect" if collects(st) and is_stream(resp, st.upstream) else "body"
        case Streaming():
            return "stream"
        case Answered() | StreamClosed() | Done():
            return None
        case _:
            assert_never(st.phase)


def _arm(flow: http.HTTPFlow, st: FlowState) -> None:
    if st.policy is None:
        return
    deadline = due(flow, st)
    if deadline is not None:
        delay = max(0.0, deadline.at - time.monotonic())
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # a hook called outside mitmproxy's loop (addon tests)
            return
        st.timer = loop.call_later(delay, _fired, flow)


def due(flow: http.HTTPFlow, st: FlowState) -> Deadline | None:
    """The deadline ``flow`` is under now (None: none)."""
    phase = _phase(flow, st)
    if st.policy is None or phase is None:
        return None
    return next_deadline(
        st.policy,
        phase,
        st.sent_at,
        st.head_at,
        st.last_event,
        st.ex.t_first_token is not None,
    )


def _fired(flow: http.HTTPFlow) -> None:
    st = flow.metadata.get(FLOW_STATE)
    if st is None or st.timer is None:
        return
    st.timer = None
    try:
        deadline = due(flow, st)
        if deadline is None:
            return
        if deadline.at > time.monotonic() + 0.001:  # progress moved it: wait on
            return _arm(flow, st)
        _missed(flow, st, deadline)
    except Exception:  # noqa: BLE001 - a timer must never take the proxy down
        logger.exception("gateway: timeout failed")


def _missed(flow: http.HTTPFlow, st: FlowState, due: Deadline) -> None:
    phase = _phase(flow, st)
    st.ex.extra["timeout"] = due.option
    if phase == "stream":
        if end_with_error(flow, st, "timeout", due.message):
            st.ex.error = due.message
        else:
            logger.warning("gateway: %s cannot be enforced on this connection", due.option)
    else:
        st.timed_out = due.message  # the error hook answers the client with it
        if not mitm_io.close_server(flow):
            st.timed_out = None
            logger.warning("gateway: %s cannot be enforced on this connection", due.option)
