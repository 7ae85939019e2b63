"""tapegate's mitmproxy adapters. ``mitmdump -s addons/gateway.py`` loads the two addons:

* ``gateway_hooks.py`` — the Gateway: every hook, each delegating in a few lines to a room below
* ``recorder_hooks.py`` — the Recorder: hands each finished exchange to DuckDB / a cassette
* ``request/`` — classify a flow, explicit-proxy admission, forward it (translated) upstream
* ``response/`` — stream or translate the answer, the gateway's own answers, failures
* ``upstream/`` — retries, the connect probe, timeouts, a cassette as the upstream
* ``deferred_listen.py`` — run at interpreter start (a ``.pth`` file): mitmproxy binds nothing
  until the Gateway has checked its options
* ``options.py`` (``gateway_*``), ``flow_state.py`` (per-flow state), ``metadata.py`` (shared
  ``flow.metadata`` keys), ``snapshots.py`` (mitmproxy messages as redacted records),
  ``mitm_io.py`` (the few reaches into mitmproxy's connection handler)

Pure logic lives in the library (``recorder``): routing, auth, header edits, local answers,
translation.
"""
