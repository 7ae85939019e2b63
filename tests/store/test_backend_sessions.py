"""Where the Claude Code CLI left each conversation, stored with its exchange
(``backend_sessions``), found again by a restarted gateway; the run's cost in the sessions view."""

from __future__ import annotations

import json

from recorder.exchange import Exchange, HttpRequest, HttpResponse, RecordedEvent
from recorder.store import StoreWriter
from recorder.store.lookup import find_backend_session

OPENAI_ANSWER = {
    "id": "c1", "object": "chat.completion", "model": "sonnet",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"},
                 "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 2},
}  # fmt: skip


def _cli_exchange(ex_id: str, t: float, sid: str, conversation: str, name: str | None) -> Exchange:
    result = {"type": "result", "subtype": "success", "is_error": False,
              "usage": {"input_tokens": 3, "output_tokens": 2}, "total_cost_usd": 0.5}  # fmt: skip
    session = {"id": sid, "cwd": f"/w/{sid}", "leaf": f"leaf-{ex_id}"}
    exit_ = {"exit_code": 0, "session": session, "conversation": conversation, "name": name}
    run = [("stdout", json.dumps(result, separators=(",", ":"))), ("exit", json.dumps(exit_))]
    ex = Exchange(id=ex_id, started_at=t, client_dialect="openai", upstream_dialect="claude_cli")
    ex.session_id = "chat"
    ex.client_request = HttpRequest("POST", "http://gw/v1/chat/completions", [], b"{}")
    ex.upstream_request = HttpRequest("POST", "http://127.0.0.1:1/v1/claude-cli/turn", [], b"{}")
    ex.client_response = HttpResponse(200, [], json.dumps(OPENAI_ANSWER).encode())
    ex.stream = True
    ex.events = [RecordedEvent("upstream", i, 0.1, n, d) for i, (n, d) in enumerate(run)]
    return ex


def test_the_newest_point_of_a_conversation_is_found_and_costs_add_up(tmp_path) -> None:
    w = StoreWriter(tmp_path / "t.duckdb").start()
    try:
        w.put(_cli_exchange("e1", 1000.0, "s-old", "k1", None))
        w.put(_cli_exchange("e2", 2000.0, "s-new", "k1", "chat-1"))
        w.put(_cli_exchange("e3", 3000.0, "s-other", "k2", None))
        assert w.flush()
        found = find_backend_session(w.query, "claude_cli", conversation="k1")
        assert found == {"id": "s-new", "cwd": "/w/s-new", "leaf": "leaf-e2"}
        assert find_backend_session(w.query, "claude_cli", name="chat-1") == found
        assert find_backend_session(w.query, "claude_cli", conversation="nope") is None
        assert find_backend_session(w.query, "kiro", conversation="k1") is None
        row = w.query("SELECT cost_usd, backend_sessions FROM sessions WHERE id = 'chat'").rows
        assert row == [[1.5, ["s-new", "s-old", "s-other"]]]
        extra = w.query("SELECT extra FROM exchanges WHERE id = 'e1'").rows[0][0]
        assert json.loads(extra)["cost_usd"] == 0.5
    finally:
        w.close()
