from __future__ import annotations

import json
from pathlib import Path

import pytest

from recorder import ir
from recorder.exchange import Exchange, HttpRequest, HttpResponse, RecordedEvent
from replay.cassette import load
from replay.engine import ReplayEngine
from replay.export import export
from tests.replay.conftest import OPENAI
from tests.replay.recording import record


def _upstream_chunks() -> list[bytes]:
    up = load(OPENAI).interactions[1].upstream
    assert up is not None and up.response is not None and up.response.stream is not None
    return [c for _, c in up.response.stream.chunks()]


REQUEST = {
    "model": "claude-sonnet-5",
    "max_tokens": 100,
    "stream": True,
    "messages": [{"role": "user", "content": "Say hello, streaming."}],
}


def test_export_round_trip_replays_both_roles(tmp_path: Path) -> None:
    ex = record("anthropic", "openai", REQUEST, upstream_chunks=_upstream_chunks())
    ex.usage = ir.Usage(input_tokens=13, output_tokens=4)
    ex.notes = [ir.Note("metadata", "dropped")]
    d = tmp_path / "cas"
    export([ex], d)
    text = (d / "cassette.json").read_text()
    assert "SECRET" not in text
    doc = json.loads(text)
    it = doc["interactions"][0]
    assert it["meta"]["usage"] == {"input_tokens": 13, "output_tokens": 4}
    assert it["meta"]["notes"] == [{"path": "metadata", "reason": "dropped"}]
    assert it["upstream"]["response"]["stream"]["file"] == "0000.upstream.sse"
    # the upstream leg keeps the raw wire chunks, byte for byte, with their offsets
    assert (d / "0000.upstream.sse").read_bytes() == b"".join(_upstream_chunks())
    assert [n for _, n in it["upstream"]["response"]["stream"]["timing"]] == [
        len(c) for c in _upstream_chunks()
    ]
    client_sse = (d / "0000.client.sse").read_text()
    assert client_sse.startswith("event: message_start\n") and "message_stop" in client_sse

    cas = load(d)
    up = ReplayEngine(cas, role="upstream")
    r = up.handle("POST", "/v1/chat/completions", ex.upstream_request.body)  # type: ignore[union-attr]
    assert r.chunks is not None and b"".join(c for _, c in r.chunks) == b"".join(_upstream_chunks())
    gw = ReplayEngine(cas, role="gateway")
    r = gw.handle("POST", "/v1/messages", json.dumps(REQUEST).encode())
    assert r.status == 200 and r.chunks is not None
    assert b"".join(c for _, c in r.chunks).decode() == client_sse
    up.check()
    gw.check()


def test_export_orders_by_start_and_keeps_partial_exchanges(tmp_path: Path) -> None:
    late = Exchange(id="b", started_at=20.0, client_dialect="openai", stream=True)
    late.client_request = HttpRequest("POST", "http://x/v1/chat/completions?key=SECRET", [], b"{}")
    late.client_response = HttpResponse(200, [("Date", "today")], None)
    late.events = [RecordedEvent("client", 0, 0.5, None, "[DONE]")]
    early = Exchange(id="a", started_at=10.0)
    early.client_request = HttpRequest("GET", "http://x/v1/models", [], None)
    converted: list[int] = []
    cas = export([late, early], tmp_path / "c", name="mixed", on_each=lambda: converted.append(1))
    assert [i.id for i in cas.interactions] == ["a", "b"]
    assert len(converted) == 2  # a progress bar's advance, once per exchange
    loaded = load(tmp_path / "c")
    assert loaded.name == "mixed"
    first, second = loaded.interactions
    assert first.client is not None and first.client.response is None and first.upstream is None
    assert second.client is not None and second.client.response is not None
    assert second.client.response.headers == {}
    assert second.client.response.stream is not None
    assert second.client.response.stream.chunks() == [(0.5, b"data: [DONE]\n\n")]
    assert "SECRET" not in second.client.request.url


def test_a_cassette_writer_that_cannot_write_fails_at_start(tmp_path: Path) -> None:
    """The gateway's recorder_cassette=/somewhere/unwritable started, answered the first
    exchange and then refused all traffic ('RECORDING FAILED'): now its start fails."""
    from replay.cassette import CassetteError
    from replay.export import CassetteWriter

    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(CassetteError, match="cannot write a cassette into .*: Not a directory"):
        CassetteWriter(blocker / "cas").start()
    fresh = CassetteWriter(tmp_path / "new").start()
    fresh.close()
    assert sorted(tmp_path.iterdir()) == [blocker]  # nothing recorded: nothing left
