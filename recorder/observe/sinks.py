"""What the observer process does with each finished exchange: the console line, the spans,
the message log. Each sink reads the same settled exchange, its reading and its facts."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any, Protocol

from rich.color import ColorSystem
from rich.console import Console
from rich.text import Text

from recorder.exchange import Exchange
from recorder.observe import console, messages, spans
from recorder.observe.console_options import ConsoleConfig, Detail
from recorder.observe.facts import Facts
from recorder.observe.messagelog import MessageLog
from recorder.observe.messagelog_config import LogConfig
from recorder.observe.otel import ExportStats, OtelConfig, SpanSink
from recorder.observe.reading import Reading
from recorder.observe.tracecontext import TraceIds, TraceStarter
from recorder.observe.turns import Turns

Say = Callable[[dict[str, Any]], None]
_PLAIN_WIDTH = 160  # how much of a message a detail line shows when the output is no terminal


@dataclass(slots=True, frozen=True)
class Needs:
    """How much of the exchange a sink reads: the process reads the most any sink needs."""

    # The answers. Without them a console line still has the summary's model, usage, stop
    # reason and error; the answer is read anyway when it holds more (tool calls, an error).
    answer: bool = True
    requests: bool = False  # the requests as IR (messages, parameters)
    upstream: bool = False  # the upstream leg too

    def __or__(self, other: Needs) -> Needs:
        return Needs(
            self.answer or other.answer, self.requests or other.requests,
            self.upstream or other.upstream,
        )  # fmt: skip

    def answer_of(self, ex: Exchange) -> bool:
        """Whether to read ``ex``'s answer: asked for, or it holds what the summary lacks
        (the names of tool calls, the kind of an error)."""
        return self.answer or ex.stop_reason == "tool_use" or ex.error is not None


class Sink(Protocol):
    @property
    def needs(self) -> Needs: ...

    def handle(self, ex: Exchange, reading: Reading, facts: Facts) -> None: ...

    def close(self) -> None: ...


class ConsoleSink:
    """Prints the lines. Each rich ``Text`` is turned into its styled string directly (its
    segments, each style's escape codes): a full ``Console.print`` per line costs the observer
    more than reading the exchange does."""

    def __init__(self, cfg: ConsoleConfig, out: IO[str] | None = None) -> None:
        self.cfg = cfg
        self.file = out or sys.stdout
        self.console = Console(file=self.file, force_terminal=cfg.color, no_color=not cfg.color)
        # Not a terminal (a log file, a pipe): lines are not cut to a screen's width.
        self.width = self.console.width if cfg.color else _PLAIN_WIDTH
        self.colors = ColorSystem.STANDARD if cfg.color else None
        self._turns = Turns()

    @property
    def needs(self) -> Needs:
        if self.cfg.detail is Detail.none:
            return Needs(answer=False)
        return Needs(answer=True, requests=True)

    def handle(self, ex: Exchange, reading: Reading, facts: Facts) -> None:
        lines = [console.line(facts)]
        if self.cfg.detail is not Detail.none:
            req = reading.client.request
            shown = messages.input_messages(req) if req is not None else []
            skip = self._turns.seen(facts.session, shown)
            lines += console.details(reading, self.cfg.detail, skip, self.width)
        cut = self.cfg.color and self.cfg.detail is not Detail.full
        out = []
        for t in lines:
            if cut:
                t.truncate(self.width, overflow="ellipsis")
            out.append(self._styled(t))
        self.file.write("".join(out))  # one write: lines of two processes never mix
        self.file.flush()

    def _styled(self, t: Text) -> str:
        if self.colors is None:
            return t.plain + "\n"
        return (
            "".join(
                seg.style.render(seg.text, color_system=self.colors) if seg.style else seg.text
                for seg in t.render(self.console)
            )
            + "\n"
        )

    def close(self) -> None:
        self.file.flush()


class TraceSink:
    needs = Needs(answer=True, requests=True, upstream=True)

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
    needs = Needs(answer=True, requests=True)

    def __init__(self, cfg: LogConfig) -> None:
        self.log = MessageLog(cfg)

    def handle(self, ex: Exchange, reading: Reading, facts: Facts) -> None:
        self.log.write(facts, reading)

    def close(self) -> None:
        pass


def _stats(s: ExportStats) -> dict[str, Any]:
    return {"ended": s.ended, "exported": s.exported, "failed": s.failed, "error": s.last_error}
