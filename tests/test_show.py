"""``recorder show`` renders an upstream leg whose events say more than the answer."""

from __future__ import annotations

import json

from rich.console import Console

from recorder.exchange import Exchange, HttpRequest, RecordedEvent
from recorder.show import render_exchange


def _event(seq: int, t: float, name: str, data: object) -> RecordedEvent:
    return RecordedEvent("upstream", seq, t, name, json.dumps(data))


def test_show_renders_the_claude_cli_run() -> None:
    ex = Exchange(id="x", started_at=0.0, client_dialect="openai", upstream_dialect="claude_cli")
    ex.client_request = HttpRequest(
        "POST",
        "http://gw/v1/chat/completions",
        [],
        b'{"model":"sonnet","messages":[{"role":"user","content":"hi"}]}',
    )
    ex.events = [
        _event(0, 0.5, "invocation", {"argv": ["claude", "--print", "--model", "sonnet"]}),
        _event(1, 0.5, "stdin", {"type": "user"}),
        _event(2, 0.9, "stdout", {"type": "result", "subtype": "success"}),
        _event(3, 1.0, "exit", {"exit_code": 1, "stderr": "boom: the CLI said why"}),
    ]
    console = Console(width=200, record=True)
    console.print(render_exchange(ex))
    text = console.export_text()
    assert "claude_cli events (4)" in text
    assert 'invocation  {"argv": ["claude", "--print", "--model", "sonnet"]}' in text
    assert '"stderr": "boom: the CLI said why"' in text


def test_an_sse_upstream_leg_of_the_answer_only_is_not_repeated() -> None:
    ex = Exchange(id="y", started_at=0.0, client_dialect="openai", upstream_dialect="anthropic")
    ex.events = [_event(0, 0.1, "message_start", {"type": "message_start"})]
    console = Console(width=200, record=True)
    console.print(render_exchange(ex))
    assert "events (" not in console.export_text()


def _run_body(events: list[tuple[str, object]]) -> bytes:
    return json.dumps({"events": [{"event": n, "data": json.dumps(d)} for n, d in events]}).encode()


def test_show_renders_a_claude_cli_run_that_was_not_streamed_and_its_session_and_cost() -> None:
    from recorder.exchange import HttpResponse
    from recorder.summary import read_answer

    ex = Exchange(id="x", started_at=0.0, client_dialect="openai", upstream_dialect="claude_cli")
    ex.client_request = HttpRequest(
        "POST", "http://gw/v1/chat/completions", [],
        b'{"model":"sonnet","messages":[{"role":"user","content":"hi"}]}',
    )  # fmt: skip
    ex.upstream_request = HttpRequest("POST", "http://127.0.0.1:1/v1/claude-cli/turn", [], b"{}")
    session = {"id": "3f2a9c1d-0000-4000-8000-000000000001", "cwd": "/w/s1", "leaf": "l1"}
    ex.upstream_response = HttpResponse(200, [], _run_body([
        ("invocation", {"argv": ["claude", "--print", "--model", "sonnet"]}),
        ("stdout", {"type": "result", "subtype": "success", "total_cost_usd": 0.0125}),
        ("exit", {"exit_code": 0, "stderr": "a warning", "session": session}),
    ]))  # fmt: skip
    read_answer(ex)  # as the recorder does before storing it
    console = Console(width=200, record=True)
    console.print(render_exchange(ex))
    text = console.export_text()
    assert "claude_cli events (3)" in text
    assert '—  invocation  {"argv": ["claude", "--print", "--model", "sonnet"]}' in text
    assert '"exit_code": 0, "stderr": "a warning"' in text
    assert f"claude_cli  session {session['id']} · in /w/s1 · cost $0.0125" in text


def test_show_renders_the_run_of_a_claude_cli_error_answer() -> None:
    from recorder.exchange import HttpResponse

    ex = Exchange(id="x", started_at=0.0, client_dialect="openai", upstream_dialect="claude_cli")
    run = json.loads(_run_body([("exit", {"exit_code": 1, "stderr": "not logged in"})]))
    body = {"type": "error", "error": {"type": "authentication_error", "message": "log in"},
            "claude_cli": run}  # fmt: skip
    ex.upstream_response = HttpResponse(401, [], json.dumps(body).encode())
    console = Console(width=300, record=True)
    console.print(render_exchange(ex))
    text = console.export_text()
    assert "claude_cli answered 401" in text and "claude_cli events (1)" in text


def test_the_summary_line_breaks_between_fields_only() -> None:
    """At 80 columns a long model name broke '53 ms' across two lines."""
    ex = Exchange(id="z", started_at=0.0, client_dialect="anthropic", upstream_dialect="openai")
    ex.model_requested = "accounts/fireworks/models/qwen3-coder-480b-a35b-instruct-long"
    ex.t_end = 0.053
    for width in (80, 120):
        console = Console(width=width, record=True)
        console.print(render_exchange(ex))
        lines = console.export_text().splitlines()
        assert max(len(line.rstrip()) for line in lines) <= width
        summary = [line for line in lines[1:] if "1970-01-01" in line or "ms" in line]
        assert any(line.rstrip().endswith("53 ms") for line in summary), lines
        assert lines[1].startswith("1970-01-01 00:00:00 UTC  anthropic → openai")
