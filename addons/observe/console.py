"""The live console: one line per exchange as it finishes (``gateway_console``), with the
messages and tool arguments under it on request (``console_detail``).

``auto`` (the default) shows it when the gateway's stdout is a terminal, so a gateway run by a
service manager or piped into a file stays quiet. While it shows, mitmdump's own line per flow
is switched off (``flow_detail=0``, unless set otherwise): one line per exchange is enough.
"""

from __future__ import annotations

import sys
from typing import Any

from mitmproxy import ctx

from addons import declare
from addons.observe.hub import Observers
from addons.startup import refuse
from recorder.observe.console_options import ConsoleConfig, Detail

MODES = ("auto", "on", "off")


class Console:
    def __init__(self, hub: Observers) -> None:
        self.hub = hub
        self.active = False

    def load(self, loader: Any) -> None:
        declare.options(loader, [
            (
                "gateway_console", str, "auto",
                "Live console: one line per finished exchange (time, session, dialects, model, "
                "status, TTFT, duration, tokens, tool calls, error). auto: when stdout is a "
                "terminal | on | off.",
                MODES,
            ),
            (
                "console_detail", str, "none",
                "Under each console line: none | tools (tool calls with their arguments) | "
                "messages (the turn's new messages and the reply, shortened) | full (not "
                "shortened).",
                [d.value for d in Detail],
            ),
        ])  # fmt: skip

    def configure(self, updated: set[str]) -> None:
        if not {"gateway_console", "console_detail"} & updated:
            return
        mode, detail = ctx.options.gateway_console, ctx.options.console_detail
        details = [d.value for d in Detail]
        if mode not in MODES or detail not in details:
            refuse(
                f"gateway_console must be one of {', '.join(MODES)} and console_detail one of "
                f"{', '.join(details)}"
            )
        tty = sys.stdout.isatty()
        self.active = mode == "on" or (mode == "auto" and tty)
        cfg = ConsoleConfig(Detail(detail), color=tty) if self.active else None
        self.hub.want_console(cfg)

    def running(self) -> None:
        opts = ctx.options
        if self.active and "flow_detail" in opts and opts.flow_detail == 1:  # mitmdump's default
            opts.update(flow_detail=0)  # type: ignore[no-untyped-call]
