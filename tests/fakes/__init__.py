"""Local fakes shared by tests and benchmarks (no network beyond 127.0.0.1)."""
