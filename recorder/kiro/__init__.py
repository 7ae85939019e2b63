"""Kiro (Amazon Q Developer) as an upstream: credentials, token refresh, endpoints, the model
list. The wire format is the ``kiro`` codec's (``recorder.codecs.kiro``); this package does the
parts that need I/O, each through an injected ``httpx.AsyncClient``.

UNOFFICIAL: there is no public documentation of this service; research/kiro.md collects what
reverse-engineered clients found, and each fact is a setting or a table row here.
"""
