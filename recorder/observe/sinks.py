"""What the observer process does with each finished exchange: the console line, the spans,
the message log. Each sink reads the same settled exchange, its reading and its facts."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any, Protocol

from rich.console import Console

from recorder.exchange import Exchange
from recorder.observe import console, messages, spans
from recorder.observe.facts import Facts
from recorder.observe.messagelog import LogConfig, MessageLog
from recorder.observe.otel import ExportStats, OtelConfig, SpanSink
from recorder.observe.reading import Reading
from recorder.observe.tracecontext import TraceIds, TraceStarter
from recorder.observe.turns import Turns

Say = Callable[[dict[str, Any]], None]
_PLAIN_WIDTH = 160  # how much of a message a detail line shows when the output is no terminal


class Sink(Protocol):
    def handle(self, ex: Exchange, reading: Reading, facts: Facts) -> None: ...

    def close(self) -> None: ...


@dataclass(slots=True, frozen=True)
class ConsoleConfig:
    detail: console.Detail = console.Detail.none
    color: bool = True  # the gateway's stdout is a terminal


class ConsoleSink:
    def __init__(self, cfg: ConsoleConfig, out: IO[str] | None = None) -> None:
        self.cfg = cfg
        # Not a terminal (a log file, a pipe): lines are not cut to a screen's width.
        self.console = Console(
            file=out or sys.stdout, force_terminal=cfg.color, no_color=not cfg.color,
            highlight=False, soft_wrap=False, emoji=False, width=None if cfg.color else 4096,
        )  # fmt: skip
        self.width = self.console.width if cfg.color else _PLAIN_WIDTH
        self._turns = Turns()

    def handle(self, ex: Exchange, reading: Reading, facts: Facts) -> None:
        lines = [console.line(facts)]
        if self.cfg.detail is not console.Detail.none:
            req = reading.client.request
            shown = messages.input_messages(req) if req is not None else []
            skip = self._turns.seen(facts.session, shown)
            lines += console.details(reading, self.cfg.detail, skip, self.width)
        cut = self.cfg.detail is not console.Detail.full
        with self.console.capture() as cap:  # one write: lines of two processes never mix
            for t in lines:
                if cut:
                    self.console.print(t, no_wrap=True, overflow="ellipsis", crop=True)
                else:
                    self.console.print(t)
        self.console.file.write(cap.get())
        self.console.file.flush()

    def close(self) -> None:
        self.console.file.flush()


class TraceSink:
    def __init__(self, cfg: OtelConfig, say: Say) -> None:
        self.cfg = cfg
        self.say = say
        self.spans = SpanSink(cfg, self._changed)
        self._starter: TraceStarter | None = None

    def handle(self, ex: Exchange, reading: Reading, facts: Facts) -> None:
        ids = TraceIds.from_extra(ex.extra)
        if ids is None:  # an exchange the gateway did not trace up front: a trace of its own
            self._starter = self._starter or TraceStarter()
            ids = self._starter.start(None)
        self.spans.emit(spans.plan(ex, reading, facts, ids, self.cfg.content), ids)

    def _changed(self, healthy: bool, stats: ExportStats) -> None:
        self.say({"otel": _stats(stats), "healthy": healthy, "target": self.cfg.target})

    def close(self) -> None:
        self.spans.close()
        self.say({"otel": _stats(self.spans.stats), "final": True, "target": self.cfg.target})


class LogSink:
    def __init__(self, cfg: LogConfig) -> None:
        self.log = MessageLog(cfg)

    def handle(self, ex: Exchange, reading: Reading, facts: Facts) -> None:
        self.log.write(facts, reading)

    def close(self) -> None:
        pass


def _stats(s: ExportStats) -> dict[str, Any]:
    return {"ended": s.ended, "exported": s.exported, "failed": s.failed, "error": s.last_error}
