"""``recorder translate``: the gateway's translation offline, with one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from cli import app
from tests.sdk import anthropic_final_message
from tests.sdk_openai import responses_final
from tests.translate.streams import OPENAI_STREAMS

runner = CliRunner()
REPO = Path(__file__).resolve().parents[2]

CLAUDE_CODE_REQUEST = {
    "model": "claude-sonnet-5",
    "max_tokens": 32000,
    "stream": True,
    "system": [
        {"type": "text", "text": "You are helpful.", "cache_control": {"type": "ephemeral"}}
    ],
    "messages": [{"role": "user", "content": "hi"}, {"role": "system", "content": "agents: none"}],
    "context_management": {"edits": []},
    "top_k": 5,
}


def test_request_anthropic_to_openai(tmp_path: Path) -> None:
    f = tmp_path / "req.json"
    f.write_text(json.dumps(CLAUDE_CODE_REQUEST))
    res = runner.invoke(
        app, ["translate", "request", str(f), "--from", "anthropic", "--to", "openai"]
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["messages"][0] == {"role": "system", "content": "You are helpful."}
    assert out["messages"][-1]["role"] == "system"
    assert out["stream_options"] == {"include_usage": True}
    assert "context_management" in res.stderr and "top_k" in res.stderr  # dropped, with a note


def test_stream_from_stdin_is_accepted_by_the_anthropic_sdk() -> None:
    res = runner.invoke(
        app,
        ["translate", "stream", "--from", "openai", "--to", "anthropic"],
        input=OPENAI_STREAMS["tool_fragmented"],
    )
    assert res.exit_code == 0, res.output
    msg = anthropic_final_message(res.stdout_bytes)
    assert msg.stop_reason == "tool_use"
    assert msg.content[-1].input == {"city": "Paris"}  # type: ignore[union-attr]


def test_same_output_as_translating_twice() -> None:
    args = ["translate", "stream", "--from", "openai", "--to", "anthropic"]
    a = runner.invoke(app, args, input=OPENAI_STREAMS["parallel_tools"])
    b = runner.invoke(app, args, input=OPENAI_STREAMS["parallel_tools"])
    assert a.stdout_bytes == b.stdout_bytes  # deterministic: ids come from the seed


def test_malformed_json_is_one_line_and_non_zero() -> None:
    res = runner.invoke(
        app, ["translate", "request", "--from", "anthropic", "--to", "openai"], input="{bad"
    )
    assert res.exit_code == 2  # an input error
    assert res.stderr.count("\n") == 1 and "not valid JSON" in res.stderr
    assert "Traceback" not in res.output


def test_wrong_shape_is_one_line_and_non_zero() -> None:
    res = runner.invoke(
        app,
        ["translate", "response", "--from", "openai", "--to", "anthropic"],
        input='{"choices": 3}',
    )
    assert res.exit_code == 2  # an input error
    assert res.stderr.startswith("recorder translate: ") and res.stderr.count("\n") == 1


def test_broken_stream_exits_non_zero_after_emitting_an_error_event() -> None:
    res = runner.invoke(
        app,
        ["translate", "stream", "--from", "openai", "--to", "anthropic"],
        input=b'data: {"choices":[{"index":0,"delta":{"content":"x"}}]}\n\n',
    )
    assert res.exit_code == 2  # an input error
    assert b"event: error" in res.stdout_bytes


def test_missing_file_is_reported() -> None:
    res = runner.invoke(app, ["translate", "request", "/nonexistent/x.json"])
    assert res.exit_code == 2  # an input error
    assert "cannot read input" in res.stderr


def test_stream_to_responses_is_accepted_by_the_openai_sdk() -> None:
    res = runner.invoke(
        app,
        ["translate", "stream", "--from", "openai", "--to", "responses"],
        input=OPENAI_STREAMS["tool_fragmented"],
    )
    assert res.exit_code == 0, res.output
    final = responses_final(res.stdout_bytes)
    assert final.status == "completed"
    assert [o.type for o in final.output] == ["message", "function_call"]


def test_request_from_responses(tmp_path: Path) -> None:
    f = tmp_path / "req.json"
    body = {"model": "gpt-5.5", "input": "hi", "tools": [{"type": "web_search"}]}
    f.write_text(json.dumps(body))
    res = runner.invoke(
        app, ["translate", "request", str(f), "--from", "responses", "--to", "anthropic"]
    )
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["messages"] == [{"role": "user", "content": "hi"}]
    assert "web_search" in res.stderr  # the hosted tool was dropped, with a note


ANTHROPIC_BODY = {
    "model": "claude-sonnet-5", "max_tokens": 100, "system": "be brief",
    "messages": [{"role": "user", "content": "hi"}],
    "tools": [{"name": "get_weather", "description": "w", "input_schema": {"type": "object"}}],
}  # fmt: skip


def test_a_body_plainly_in_another_dialect_is_refused_in_one_line() -> None:
    text = json.dumps(ANTHROPIC_BODY)
    result = runner.invoke(app, ["translate", "request", "--from", "openai", "--to", "anthropic"],
                           input=text)  # fmt: skip
    assert result.exit_code == 2
    assert result.output.strip() == (
        "recorder translate: the body is not a request in the openai dialect: system is a "
        "field of anthropic requests"
    )
    responses = json.dumps({"model": "gpt-5", "input": "hi", "instructions": "x"})
    result = runner.invoke(app, ["translate", "request", "--from", "anthropic", "--to", "openai"],
                           input=responses)  # fmt: skip
    assert result.exit_code == 2 and "input, instructions are fields of responses" in result.output
    ok = runner.invoke(app, ["translate", "request", "--from", "anthropic", "--to", "openai"],
                       input=text)  # fmt: skip
    assert (
        ok.exit_code == 0 and json.loads(ok.stdout)["tools"][0]["function"]["name"] == "get_weather"
    )


def test_a_messages_body_read_as_a_responses_request_is_refused() -> None:
    """Chat Completions and Messages share ``messages``, which the Responses API has not: such
    a body read ``--from responses`` became a request with no input (exit 0, 'dropped
    messages')."""
    messages = [{"role": "user", "content": "hi"}]
    chat = {"model": "gpt-5", "messages": messages}
    for body in (chat, {"model": "claude-sonnet-5", "max_tokens": 5, "messages": messages}):
        result = runner.invoke(
            app, ["translate", "request", "--from", "responses", "--to", "anthropic"],
            input=json.dumps(body),
        )  # fmt: skip
        assert result.exit_code == 2, result.output
        assert result.output.strip() == (
            "recorder translate: the body is not a request in the responses dialect: messages "
            "is a field of anthropic and openai requests, not of responses ones"
        )


def test_an_answer_plainly_in_another_dialect_is_refused_in_one_line(tmp_path: Path) -> None:
    """Responses and streams too: an Anthropic answer read ``--from openai`` was translated
    into an empty answer (exit 0), an Anthropic stream into an error event and a vague line."""
    answer = {
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-5",
        "content": [{"type": "text", "text": "hi"}], "stop_reason": "end_turn",
        "stop_sequence": None, "usage": {"input_tokens": 1, "output_tokens": 1},
    }  # fmt: skip
    result = runner.invoke(app, ["translate", "response", "--from", "openai", "--to", "anthropic"],
                           input=json.dumps(answer))  # fmt: skip
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "recorder translate: the body is not a response in the openai dialect: content, "
        "stop_reason, stop_sequence are fields of anthropic answers"
    )
    stream = (REPO / "cassettes/a2o-stream-text/0000.client.sse").read_bytes()  # Anthropic's
    result = runner.invoke(app, ["translate", "stream", "--from", "responses", "--to", "openai"],
                           input=stream)  # fmt: skip
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "recorder translate: the stream is not in the responses dialect: its first event is "
        "anthropic's"
    )
