"""The console's line and details."""

from __future__ import annotations

from rich.console import Console

from recorder.observe.console import details, line, seconds, short_session
from recorder.observe.console_options import Detail
from recorder.observe.facts import facts_of
from recorder.observe.reading import read
from tests.observe import exchanges
from tests.store import samples

ALL = [samples.streaming(), samples.plain(), samples.failed(), exchanges.stalled(),
       exchanges.hung_up(), exchanges.openai_client()]  # fmt: skip


def _plain(text) -> str:
    c = Console(width=1000, no_color=True, highlight=False)
    with c.capture() as cap:
        c.print(text, no_wrap=True)
    return cap.get().rstrip("\n")


def _line(ex) -> str:
    return _plain(line(facts_of(ex, read(ex))))


def test_the_line_names_model_status_timings_tokens_and_tools():
    text = _line(samples.streaming())
    for part in ("anthropic→openai", "gpt-5.5", "200", "sse", "ttft", "17ms", "60ms",
                 "120 in", "17 out", "▸ Bash", "5f0c7a"):  # fmt: skip
        assert part in text, part
    assert "\n" not in text
    assert "@default" not in text  # the route gateway_upstream makes goes without saying
    ex = samples.streaming()
    ex.route = "local"
    assert "  @local  " in _line(ex)


def test_lines_align_up_to_the_durations():
    texts = [_line(ex) for ex in ALL]
    status_columns = {t.index(" 200 ") if " 200 " in t else t.index(" 529 ") for t in texts}
    assert len(status_columns) == 1, texts
    end = texts[0].index("60ms") + len("60ms")  # durations are right-aligned, ending here
    for ex, text in zip(ALL, texts, strict=True):
        assert text[:end].endswith(seconds(ex.t_end)), text


def test_what_went_wrong_ends_the_line():
    assert "✗ overloaded" in _line(samples.failed())
    assert _line(exchanges.hung_up()).endswith("✗ client_disconnected: Client disconnected.")
    assert "↻2" in _line(exchanges.stalled())


def test_details_show_new_messages_and_tool_arguments_shortened():
    ex = samples.streaming()
    r = read(ex)
    assert details(r, Detail.none) == []
    tools = [_plain(t) for t in details(r, Detail.tools)]
    assert tools == ['    ▸ Bash {"command":"ls"}']
    msgs = [_plain(t) for t in details(r, Detail.messages, width=60)]
    assert msgs[0] == "    system: You are a terse assistant."
    assert "    user: List the files, then say done." in msgs
    assert msgs[-1] == "    stop: tool_use"
    # skip: the messages a previous turn already showed (and the system prompt with them)
    later = [_plain(t) for t in details(r, Detail.messages, skip=1)]
    assert not any("system:" in t or "user:" in t for t in later)


def test_long_texts_are_cut_unless_full():
    ex = exchanges.turn(1)
    ex.client_request.body = ex.client_request.body.replace(b"main question 1", b"x" * 500)
    r = read(ex)
    cut = [_plain(t) for t in details(r, Detail.messages, width=80)]
    assert max(len(t) for t in cut) <= 80 and any(t.endswith("…") for t in cut)
    full = [_plain(t) for t in details(r, Detail.full, width=80)]
    assert any("x" * 500 in t for t in full)


def test_small_formats():
    assert [seconds(s) for s in (None, 0.0123, 1.5, 42.0, 420.0)] == [
        "-", "12ms", "1.50s", "42.0s", "420s"]  # fmt: skip
    assert short_session("h:abcdef123") == "abcdef" and short_session(None) == "-"


def test_a_call_that_is_no_model_call_says_what_it_was():
    ex = samples.failed()
    ex.model_requested = ex.model_sent = ex.model_answered = None
    ex.client_request.method, ex.client_request.url = "HEAD", "http://127.0.0.1:8080/"
    assert " HEAD /              " in _line(ex)


def test_what_the_gateway_answered_itself_reads_local_whatever_the_client():
    """The dialect column read "anthropic (loca…" on every line the gateway answered (a
    refused key, the model list): one character short. The fixed part still fits 80 columns."""
    for client in ("anthropic", "openai", "responses"):
        ex = samples.failed()
        ex.client_dialect, ex.upstream_dialect = client, None
        text = _line(ex)
        assert f" {client} (local) " in text, text
        assert len(text[: text.index(seconds(ex.t_end)) + len(seconds(ex.t_end))]) <= 80
