"""Real third-party clients (Claude Code, the official SDKs) driven through the gateway.

Opt-in: ``uv run pytest -m clients``. See docs/clients.md.
"""
