"""Deterministic replay of recorded LLM traffic.

``cassette`` (the on-disk format), ``matching`` (LLM-aware request keys and miss explanations),
``engine`` (play counts, strictness, timing), and its front doors: ``server`` (an HTTP server,
``recorder replay``), ``transport`` (httpx/httpx2 transports for in-process tests) and
``pytest_plugin`` (the ``cassette`` fixture). ``export`` writes cassettes from recorded exchanges;
``verify`` replays them through today's translator.
"""
