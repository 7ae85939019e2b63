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
