"""The local Claude Code CLI (``claude -p``) as a backend: what answers an IR request by running
the CLI instead of calling an HTTP upstream. The facts these modules depend on (line types, flags,
exit codes, what the pinned version does with each input) are in docs/claude-cli.md.

The translation lives with the other codecs (pure, no I/O): :mod:`recorder.codecs.claude_cli`
(IR request -> what the CLI reads: system prompt, tools, stream-json stdin lines) and
:mod:`recorder.codecs.claude_cli_stream` (the CLI's stream-json output -> IR stream events).

Pure pieces here:

- :mod:`.models`       model names the CLI accepts, and the list ``GET /v1/models`` shows;
- :mod:`.invocation`   route policy -> argv and environment (never a shell);
- :mod:`.sessions`     which CLI session a conversation continues (prefix hashes);
- :mod:`.control`      answers to the CLI's control requests (the client's tools as an MCP
  server, tool permissions);

I/O: :mod:`.process` (one CLI process in its own process group) and :mod:`.pool` (bounded
concurrency, queue timeout, shutdown) and :mod:`.turn` (one client turn end to end).
"""
