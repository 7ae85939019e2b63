"""Per-flow gateway state, kept in ``flow.metadata`` next to the recorded Exchange: what the
request side decided, and the flow's :data:`Phase`."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Literal, assert_never

from mitmproxy import http

from addons.metadata import EXCHANGE
from addons.upstream.policy import RetryPolicy
from recorder.context import Context, IdFactory
from recorder.exchange import EventTape, Exchange, LastClientEvent
from recorder.ir import Dialect
from recorder.routing import Route
from recorder.translate import StreamTranslator


def new_exchange(flow: http.HTTPFlow) -> Exchange:
    ex = Exchange(id=flow.id, started_at=time.time())
    flow.metadata[EXCHANGE] = ex  # read by the Recorder addon in its response/error hooks
    return ex


# ---------------------------------------------------------------------------- phases
# Where a flow is, as one value (``FlowState.phase``); the hooks ``match`` on it.


@dataclass(frozen=True, slots=True)
class Sent:
    """The request is on its way upstream, or the head of a whole answer arrived."""


@dataclass(frozen=True, slots=True)
class Answered:
    """The gateway answered itself (an error, a local endpoint, a timeout's 504): no upstream
    answer is part of this exchange."""


@dataclass(frozen=True, slots=True)
class Retrying:
    """The upstream answered a retryable status: the ``response`` hook sends again."""


@dataclass(frozen=True, slots=True)
class Renewing:
    """The upstream refused the backend's credentials (401/403) and the backend may renew
    them: the ``response`` hook asks it, and sends once more with the new ones."""


@dataclass(frozen=True, slots=True)
class Streaming:
    """The answer streams through ``translator``; ``tape`` watches both legs."""

    translator: StreamTranslator
    tape: EventTape | LastClientEvent


@dataclass(frozen=True, slots=True)
class StreamClosed:
    """A stream whose end the gateway wrote itself (an error event, a retried stream's last
    bytes): nothing more may reach the client."""

    tape: EventTape | LastClientEvent


@dataclass(frozen=True, slots=True)
class Done:
    """Finished: the recorder reads the exchange now."""

    was: Sent | Answered | Retrying | Renewing | Streaming | StreamClosed


Phase = Sent | Answered | Retrying | Renewing | Streaming | StreamClosed | Done
SENT = Sent()
ANSWERED = Answered()
RETRYING = Retrying()
RENEWING = Renewing()


@dataclass(slots=True)
class FlowState:
    kind: Literal["gateway", "vendor"]
    client: Dialect
    upstream: Dialect
    ex: Exchange
    # The exchange is recorded: fill in its detail (both legs' snapshots, every event, the
    # summary). False when no recorder sink is open: the gateway then keeps only what its own
    # logic reads (errors, the first token while a timeout watches it, the stream's last event).
    rec: bool = True
    t0: float = field(default_factory=time.monotonic)
    client_path: str = ""  # path + query as the client sent it (before re-pointing)
    client_url: str = ""
    # (scheme, host, port, Host header) the client addressed: the gateway itself. A request the
    # gateway answers itself is pointed back there, so that flow lines show it as local.
    client_target: tuple[str, str, int, str] | None = None
    ctx: Context | None = None
    phase: Phase = SENT
    upstream_url: str = ""  # where the request went (for the retry path and the record)
    pointed: Route | None = None  # the route the request is currently aimed at
    timer: asyncio.TimerHandle | None = None
    # The deadlines' clock (addons.upstream.timeouts), monotonic: when the request left, the
    # response head came, the stream's last whole event came; a missed deadline's message,
    # for the error hook to answer with.
    policy: RetryPolicy | None = None  # whose deadlines apply, once the request left
    sent_at: float = 0.0
    head_at: float | None = None
    last_event: float | None = None
    timed_out: str | None = None

    def __post_init__(self) -> None:
        self.ex.client_dialect = self.client
        self.ex.upstream_dialect = self.upstream

    def context(self) -> Context:
        if self.ctx is None:
            self.ctx = Context(self.client, self.upstream, ids=IdFactory(self.ex.id))
        return self.ctx

    def cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    @property
    def tape(self) -> EventTape | LastClientEvent | None:
        """The stream's observer while the answer streams (or the gateway closed it)."""
        match self.phase:
            case Streaming(tape=tape) | StreamClosed(tape=tape):
                return tape
            case Sent() | Answered() | Retrying() | Renewing() | Done():
                return None
            case _:
                assert_never(self.phase)

    def close_stream(self) -> None:
        """The gateway wrote the end of the client's stream itself."""
        if isinstance(self.phase, Streaming):
            self.phase = StreamClosed(self.phase.tape)

    def finish(self, flow: http.HTTPFlow) -> None:
        """Last touches before the recorder reads the exchange."""
        if isinstance(self.phase, Done):
            return
        local = isinstance(self.phase, Answered)
        self.phase = Done(self.phase)
        ex = self.ex
        ex.t_end = time.monotonic() - self.t0
        ex.upstream_dialect = None if local else self.upstream
        if self.ctx is not None and self.rec:
            ex.notes = list(self.ctx.notes)
            if self.ctx.upstream_options:  # what the backend told the codec (for replays)
                ex.extra["upstream_options"] = self.ctx.upstream_options
        if ex.t_upstream_first_byte is None and flow.response is not None and not local:
            start = flow.request.timestamp_start
            if flow.response.timestamp_start:
                ex.t_upstream_first_byte = max(0.0, flow.response.timestamp_start - start)
