"""mitmdump entry point: ``uv run mitmdump -s addons/gateway.py [--set gateway_upstream=URL ...]``.

Thin on purpose: it only lists the addons. The Gateway routes/translates and fills
``flow.metadata["tapegate.exchange"]``; the Recorder, after it, stores that exchange. The
Gateway knows its Recorder so that it fills in exchanges only while something records them.
"""

from addons.gateway_hooks import Gateway
from addons.recorder_hooks import Recorder

recorder = Recorder()
addons = [Gateway(recorder), recorder]
