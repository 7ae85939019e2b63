"""Text views: a leg as its conversation, and the translation pair side by side."""

from __future__ import annotations

from recorder.observe.reading import read
from recorder.observe.views import conversation, pair
from tests.observe import exchanges
from tests.store import samples


def test_a_stream_of_either_dialect_reads_as_the_same_conversation():
    r = read(samples.streaming())
    assert r.upstream is not None
    for leg, ident in ((r.client, "msg_1"), (r.upstream, "c1")):
        text = conversation(leg, "response")
        assert text.startswith(f"{leg.dialect} stream · model gpt-5.5 · id {ident}\n")
        assert "\nListing.\n" in text
        assert "── tool call Bash (" in text and '{\n  "command": "ls"\n}' in text
        assert "── stop: tool_use · usage: 120 in · 17 out " in text


def test_every_event_with_its_time_and_what_it_meant():
    text = conversation(read(samples.streaming()).client, "response")
    events = text.split("── 10 events ")[1].splitlines()[1:]
    assert len(events) == 10
    assert events[2].split() == ["+17ms", "#2", "content_block_delta", "text", "'Listing.'"]
    assert events[8].endswith("usage 120 in · 17 out; finish tool_use")


def test_a_request_reads_as_its_messages():
    text = conversation(read(samples.streaming()).client, "request")
    assert (
        text.splitlines()[0]
        == "anthropic request · model claude-sonnet-5 · stream · max_tokens 1024"
    )
    assert "tools: Bash" in text and "You are a terse assistant." in text
    assert text.index("── user") < text.index("List the files, then say done.")


def test_errors_and_streams_cut_short_are_said():
    assert "overloaded: Overloaded" in conversation(read(samples.failed()).client, "response")
    hung = conversation(read(exchanges.hung_up()).client, "response")
    assert "! the stream ended early" in hung


def test_the_pair_puts_the_legs_side_by_side_in_the_order_they_passed():
    ex = samples.streaming()
    text = pair(ex, read(ex), "response", width=160)
    lines = text.splitlines()
    assert "client · anthropic" in lines[0] and "upstream · openai" in lines[0]
    bar = lines[2].index("│")
    assert all(line.index("│") == bar for line in lines[2:] if "│" in line)
    stamps = [line[:9].strip() for line in lines[2:] if line[:9].strip().startswith("+")]
    assert stamps[:3] == ["+10ms", "+11ms", "+14ms"]  # upstream chunk first, then its events
    first = lines[2]
    assert first[:bar].strip() == "+10ms" and "chat.completion.chunk" in first[bar:]
    assert "note: context_management: no OpenAI equivalent" in text


def test_the_pair_of_requests_and_of_json_answers():
    ex = exchanges.openai_client()
    req = pair(ex, read(ex), "request")
    assert '"model": "gpt-4o",' in req and '"model": "claude-sonnet-4-5",' in req
    row = next(line for line in req.splitlines() if '"model"' in line)
    left, right = row.split("│")
    assert "gpt-4o" in left and "claude-sonnet-4-5" in right
    resp = pair(ex, read(ex), "response")
    assert '"finish_reason": "stop"' in resp and '"stop_reason": "end_turn"' in resp


def test_an_answer_by_the_gateway_has_no_pair():
    ex = samples.failed()
    ex.upstream_dialect, ex.upstream_request = None, None
    assert "no upstream leg" in pair(ex, read(ex), "response")


def test_a_dialect_added_later_needs_no_code_here():
    """The Responses API came after these views: its codec is all they need."""
    from recorder.observe.reading import read_message
    from tests.translate import streams

    text = conversation(read_message(streams._rs_tool(), "responses", "response"), "response")
    assert text.startswith("responses stream · model gpt-5.5 · id resp_abc")
    assert "── tool call get_weather (call_1) " in text and '"city": "Paris"' in text
    assert "response.function_call_arguments.delta args '{\"ci'" in text
    assert "+0ms" not in text  # a lone body has no times to show
