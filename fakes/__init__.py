"""Local fakes shared by tests, benchmarks and scripts (no network beyond 127.0.0.1): a fake
upstream (:mod:`fakes.upstream`) and its replies, and starting local processes
(:mod:`fakes.procs`)."""
