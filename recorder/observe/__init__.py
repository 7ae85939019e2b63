"""Looking at recorded traffic: one reading of an exchange (both legs through the codecs, as IR)
shared by the live console, the OpenTelemetry export, the message log, the mitmweb views and
``recorder report``. None of them parses a wire format itself; they read :class:`Reading` and
:class:`Facts`.

Pure, except :mod:`recorder.observe.process` (the child process the gateway hands finished
exchanges to) and the sinks it runs.
"""
