"""mitmdump entry point: ``uv run mitmdump -s addons/gateway.py [--set gateway_upstream=URL ...]``.

Thin on purpose: it only lists the addons. The Gateway routes/translates and fills
``flow.metadata["tapegate.exchange"]``; the Recorder, after it, stores that exchange.
"""

from addons.gw import Gateway
from addons.record import Recorder

addons = [Gateway(), Recorder()]
