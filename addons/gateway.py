"""mitmdump entry point: ``uv run mitmdump -s addons/gateway.py [--set gateway_upstream=URL ...]``
(``mitmweb`` takes the same script and options).

Thin on purpose: it only lists the addons. The Gateway routes/translates and fills
``flow.metadata["tapegate.exchange"]``; the Recorder, after it, stores that exchange; the
observers (console, OpenTelemetry, message log) look at it. The Gateway fills in exchanges only
while something records or looks at them.
"""
# ruff: noqa: E402 - the recorder's writer process starts before the modules below load

from addons.prestart import before_loading

before_loading()

from typing import Any, Literal

from addons.banner import Banner
from addons.gateway_hooks import Gateway, Recording
from addons.observe.console import Console
from addons.observe.hub import Observers
from addons.observe.messagelog import MessageLogger
from addons.observe.telemetry import Telemetry
from addons.observe.web_views import WebViews
from addons.recorder_hooks import Recorder, Refusal
from addons.startup import StartupCheck, ValueCheck
from recorder.codecs.responses_history import StoredConversations, Turn
from recorder.exchange import Exchange


class _Takers:
    """Whoever takes the gateway's exchanges: the Recorder, and the observers."""

    def __init__(self, recorder: Recorder, observers: Observers) -> None:
        self.recorder = recorder
        self.observers = observers

    @property
    def recording(self) -> bool:
        return self.recorder.recording or self.observers.recording

    def refusal(self) -> Refusal | None:
        return self.recorder.refusal()

    def counts(self) -> dict[str, int] | None:
        return self.recorder.counts()

    def record(self, ex: Exchange) -> None:
        self.recorder.record(ex)

    @property
    def can_look_up(self) -> bool:
        return self.recorder.can_look_up

    async def recorded_turn(
        self, recipe: StoredConversations, dialect: str, response_id: str
    ) -> Turn | None:
        return await self.recorder.recorded_turn(recipe, dialect, response_id)

    async def recorded_backend_session(
        self, backend: str, kind: Literal["conversation", "name"], value: str
    ) -> dict[str, Any] | None:
        return await self.recorder.recorded_backend_session(backend, kind, value)


recorder = Recorder()
observers = Observers()
takers: Recording = _Takers(recorder, observers)
gateway = Gateway(takers)
addons = [
    StartupCheck(),  # first: unknown options of ours stop the gateway before anything starts
    gateway,
    recorder,
    Banner(gateway, recorder),  # after both: what is in effect, once they are configured
    Console(observers),
    Telemetry(observers),
    MessageLogger(observers),
    observers,  # after the three above: it starts the observer process with what they asked
    WebViews(),
    ValueCheck(),  # last: every option above is declared, its --set value not yet converted
]
