"""Seeing the traffic from the gateway: the live console, the OpenTelemetry export, the message
log (each an addon with its own options, all fed by one observer process, :mod:`.hub`) and the
content views of mitmweb (:mod:`.web_views`)."""
