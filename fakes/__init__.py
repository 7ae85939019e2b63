"""Local fakes and helpers shared by tests, benchmarks and scripts (no network beyond 127.0.0.1):
a fake upstream (:mod:`fakes.upstream`) and its replies, starting local processes
(:mod:`fakes.procs`), and running the pinned Claude Code quietly (:mod:`fakes.claude_code`)."""
