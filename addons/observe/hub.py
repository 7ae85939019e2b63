"""The observer hub: one child process (:mod:`recorder.observe.process`) for the console, the
span export and the message log, and the hooks that hand it each finished exchange.

The :class:`Console`, :class:`~addons.observe.telemetry.Telemetry` and
:class:`~addons.observe.messagelog.MessageLogger` addons each read their own options and tell
the hub what they want; the hub comes after them in the addon list, so that it restarts the
process once per change of options, with everything they asked for. On the proxy's event loop
an exchange costs one pack and one pipe write, at its end; nothing per event.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import replace
from typing import Any

from mitmproxy import http

from addons.metadata import EXCHANGE
from addons.recorder_hooks import finish
from recorder.exchange import Exchange
from recorder.observe.console_options import ConsoleConfig
from recorder.observe.messagelog_config import LogConfig
from recorder.observe.otel_config import OtelConfig
from recorder.observe.process import ObserverProcess, ObserveSettings

log = logging.getLogger("tapegate.observe")
SEEN = "tapegate.observed"  # flow.metadata: this flow's exchange was handed over


class Observers:
    def __init__(self) -> None:
        self.settings = ObserveSettings()
        self.wanted = ObserveSettings()
        self.proc: ObserverProcess | None = None
        self.otel: dict[str, Any] = {}  # the export's last counters, as the child reported them
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ what the addons want

    def want_console(self, cfg: ConsoleConfig | None) -> None:
        self.wanted = replace(self.wanted, console=cfg)

    def want_otel(self, cfg: OtelConfig | None) -> None:
        self.wanted = replace(self.wanted, otel=cfg)

    def want_log(self, cfg: LogConfig | None) -> None:
        self.wanted = replace(self.wanted, log=cfg)

    @property
    def recording(self) -> bool:
        """Something looks at the exchanges: the gateway must fill them in."""
        return self.settings.active

    # ------------------------------------------------------------------ mitmproxy hooks

    def configure(self, updated: set[str]) -> None:
        if self.wanted == self.settings and (self.proc is not None or not self.wanted.active):
            return
        self._stop()
        self.settings = self.wanted
        if self.settings.active:
            self.proc = ObserverProcess(self.settings, self._heard).start()

    def response(self, flow: http.HTTPFlow) -> None:
        self._hand_over(flow)

    def error(self, flow: http.HTTPFlow) -> None:
        self._hand_over(flow)

    def done(self) -> None:
        self._stop()

    # ------------------------------------------------------------------

    def _hand_over(self, flow: http.HTTPFlow) -> None:
        if self.proc is None or flow.metadata.get(SEEN):
            return
        ex = flow.metadata.get(EXCHANGE)
        if not isinstance(ex, Exchange):
            return  # not LLM traffic the gateway handled
        flow.metadata[SEEN] = True
        try:
            finish(ex, flow)
            self.proc.put(ex)
        except Exception:  # noqa: BLE001 - looking must never cost a request
            log.exception(f"tapegate: exchange {ex.id} not observed")

    def _stop(self) -> None:
        if self.proc is not None:
            proc, self.proc = self.proc, None
            proc.close()
            if proc.dropped:
                log.warning(
                    f"tapegate: {proc.dropped} of {proc.sent + proc.dropped} exchanges were not "
                    "shown, exported or logged: the observer process could not keep up"
                )

    def _heard(self, msg: dict[str, Any]) -> None:
        """A status line from the child (its reader thread)."""
        if "warning" in msg:
            log.warning(f"tapegate: {msg['warning']}")
        elif "error" in msg:
            log.error(f"tapegate: {msg['error']}")
        elif "otel" in msg:
            self._otel_status(msg)

    def _otel_status(self, msg: dict[str, Any]) -> None:
        with self._lock:
            self.otel = dict(msg["otel"])
        stats, target = msg["otel"], msg.get("target")
        counts = f"{stats['exported']} spans exported, {stats['failed']} not"
        if msg.get("final"):
            level = logging.WARNING if stats["failed"] else logging.INFO
            log.log(level, f"tapegate: OpenTelemetry export to {target}: {counts}")
        elif msg.get("healthy"):
            log.info(f"tapegate: OpenTelemetry export to {target} works again ({counts})")
        else:
            log.warning(
                f"tapegate: OpenTelemetry export to {target} is failing "
                f"({stats.get('error')}); traffic is unaffected, spans are dropped and "
                f"counted ({counts})"
            )
