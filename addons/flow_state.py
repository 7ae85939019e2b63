"""Per-flow gateway state, kept in ``flow.metadata`` next to the recorded Exchange."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from mitmproxy import http

from addons.metadata import EXCHANGE
from recorder.context import Context, IdFactory
from recorder.exchange import Exchange
from recorder.ir import Dialect


def new_exchange(flow: http.HTTPFlow) -> Exchange:
    ex = Exchange(id=flow.id, started_at=time.time())
    flow.metadata[EXCHANGE] = ex  # read by the Recorder addon in its response/error hooks
    return ex


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
    ctx: Context | None = None
    translator: Any = None  # StreamTranslator once the response streams
    tape: Any = None  # its observer: an EventTape, or a LastClientEvent when not recording
    retry: bool = False  # the upstream answered a retryable status
    renew: bool = False  # the upstream refused the backend's credentials, which may renew them
    upstream_url: str = ""  # where the request went (for the retry path and the record)
    pointed: Any = None  # the route the request is currently aimed at
    local: bool = False  # answered by the gateway itself (no upstream)
    timer: asyncio.TimerHandle | None = None
    tail_written: bool = False  # the gateway itself wrote the end of the client's stream
    finished: bool = False

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

    def finish(self, flow: http.HTTPFlow) -> None:
        """Last touches before the recorder reads the exchange."""
        if self.finished:
            return
        self.finished = True
        ex = self.ex
        ex.t_end = time.monotonic() - self.t0
        ex.upstream_dialect = None if self.local else self.upstream
        if self.ctx is not None and self.rec:
            ex.notes = list(self.ctx.notes)
            if self.ctx.upstream_options:  # what the backend told the codec (for replays)
                ex.extra["upstream_options"] = self.ctx.upstream_options
        if ex.t_upstream_first_byte is None and flow.response is not None and not self.local:
            start = flow.request.timestamp_start
            if flow.response.timestamp_start:
                ex.t_upstream_first_byte = max(0.0, flow.response.timestamp_start - start)
