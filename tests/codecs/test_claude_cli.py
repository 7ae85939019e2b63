"""The claude_cli dialect: the gateway's requests to its claude-cli backend, and the run it gets
back (invocation, stdin, stdout and exit events)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from recorder import ir
from recorder.codecs import claude_cli as wire
from recorder.codecs import openai as openai_codec
from recorder.context import Context
from recorder.errors import StreamProtocolError, WireFormatError
from recorder.sse import SseEvent

RECORDED = Path(__file__).parents[1] / "claude_cli" / "recorded"
WEATHER = {
    "type": "function",
    "function": {"name": "get_weather", "parameters": {"type": "object"}},
}


def ctx() -> Context:
    return Context(client="openai", upstream="anthropic")


def request(**body: Any) -> dict[str, Any]:
    messages = [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "q1"},
        {"role": "assistant", "content": "a1"},
        {"role": "user", "content": "q2"},
    ]
    ir_req = openai_codec.request_to_ir({"model": "sonnet", "messages": messages, **body})
    return wire.request_from_ir(ir_req, ctx())


def test_request_carries_what_the_cli_reads() -> None:
    body = request(tools=[WEATHER], reasoning_effort="low", user="alice", stream=True)
    assert body["system"] == ["Be terse."] and body["stream"] is True
    assert [m["role"] for m in body["history"]] == ["user", "assistant"]
    assert body["turn"] == [{"role": "user", "content": "q2"}]
    assert body["tools"][0]["name"] == "get_weather" and body["effort"] == "low"
    assert body["user"] == "alice"
    parsed = wire.parse_request(json.loads(json.dumps(body)))
    assert parsed.model == "sonnet" and parsed.user == "alice" and parsed.input.effort == "low"


def test_request_reads_back_as_ir() -> None:
    req = wire.request_to_ir(request(tools=[WEATHER], user="alice"))
    assert [p.text for p in req.system] == ["Be terse."]  # type: ignore[union-attr]
    assert [m.role for m in req.messages] == ["user", "assistant", "user"]
    assert req.tools[0].name == "get_weather" and req.user == "alice"
    assert req.max_tokens is None


@pytest.mark.parametrize(
    "broken",
    [
        [],
        {"model": "", "system": [], "history": [], "turn": [{"role": "user", "content": "q"}]},
        {"model": "m", "system": "s", "history": [], "turn": [{"role": "user", "content": "q"}]},
        {"model": "m", "system": [], "history": [], "turn": []},
        {
            "model": "m",
            "system": [],
            "history": [],
            "turn": [{"role": "assistant", "content": "a"}],
        },
        {"model": "m", "system": [], "history": [{"role": "x"}], "turn": []},
        {
            "model": "m",
            "system": [],
            "history": [],
            "turn": [{"role": "user", "content": "q"}],
            "effort": "ludicrous",
        },
    ],
)
def test_malformed_requests_are_refused(broken: Any) -> None:
    with pytest.raises(WireFormatError):
        wire.parse_request(broken)


def run_events(name: str, *, tools: list[str] | None = None) -> list[tuple[str, str]]:
    invocation = {"argv": ["claude"], "client_tools": tools or [], "structured": False}
    events = [("invocation", json.dumps(invocation)), ("stdin", '{"type":"user"}')]
    events += [("stdout", line) for line in (RECORDED / f"{name}.jsonl").read_text().splitlines()]
    return events + [("exit", json.dumps({"exit_code": 0, "error": None}))]


def decode(events: list[tuple[str, str]]) -> list[ir.StreamEvent]:
    dec = wire.StreamDecoder(ctx())
    out: list[ir.StreamEvent] = []
    for name, data in events:
        out += dec.push(SseEvent(name, data))
    return out + dec.finish()


def test_a_streamed_run_decodes() -> None:
    events = decode(run_events("text"))
    assert isinstance(events[0], ir.MessageStart)
    assert "".join(e.text for e in events if isinstance(e, ir.TextDelta)) == "Hello world!"
    assert isinstance(events[-1], ir.Finish)


def test_the_invocation_says_which_tools_are_the_clients() -> None:
    events = decode(run_events("client_tool", tools=["get_weather"]))
    assert isinstance(events[-1], ir.Finish) and events[-1].stop_reason == "tool_use"


def test_an_exit_without_an_answer_is_the_error_it_carries() -> None:
    error = {"kind": "timeout", "message": "did not answer within 1 s", "status": None}
    events = [
        ("invocation", "{}"),
        ("stdout", '{"type":"system","subtype":"init","session_id":"s"}'),
        ("exit", json.dumps({"exit_code": -15, "killed": "claude_cli_timeout", "error": error})),
    ]
    [err] = decode(events)
    assert isinstance(err, ir.StreamError) and err.error.kind == "timeout"
    crashed = [("invocation", "{}"), ("exit", json.dumps({"exit_code": 3, "stderr": "boom\n"}))]
    [err] = decode(crashed)
    assert isinstance(err, ir.StreamError) and "code 3 before its answer: boom" in err.error.message
    [err] = decode([("invocation", "{}")])  # the stream ended before the run's exit
    assert isinstance(err, ir.StreamError) and err.error.kind == "bad_gateway"


def test_a_lost_session_and_its_second_run() -> None:
    missing = json.dumps(
        {
            "type": "result",
            "subtype": "error_during_execution",
            "is_error": True,
            "errors": ["No conversation found with session ID: x"],
        }
    )
    first = [("invocation", "{}"), ("stdout", missing), ("exit", '{"exit_code": 1}')]
    events = decode(first + run_events("text"))
    assert not any(isinstance(e, ir.StreamError) for e in events)
    assert isinstance(events[-1], ir.Finish)


def test_a_second_run_after_the_answer_began_is_a_protocol_error() -> None:
    dec = wire.StreamDecoder(ctx())
    for name, data in run_events("text")[:-1]:
        dec.push(SseEvent(name, data))
    with pytest.raises(StreamProtocolError):
        dec.push(SseEvent("invocation", "{}"))


def test_a_run_that_was_not_streamed() -> None:
    resp = wire.response_to_ir(wire.response_body(run_events("thinking")), ctx())
    assert [type(p) for p in resp.content] == [ir.ThinkingPart, ir.TextPart]
    assert resp.stop_reason == "end_turn"
    with pytest.raises(WireFormatError, match="failed"):
        wire.response_to_ir(wire.response_body(run_events("error_529")), ctx())


def test_errors_keep_the_run() -> None:
    err = ir.ErrorInfo("rate_limit", "all 8 slots are busy")
    status, body = wire.error_body(err, [("invocation", "{}")])
    assert status == 429 and body["error"]["type"] == "rate_limit_error"
    assert body["claude_cli"]["events"] == [{"event": "invocation", "data": "{}"}]
    assert wire.error_to_ir(status, body).kind == "rate_limit"
