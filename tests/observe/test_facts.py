"""The flat facts of an exchange."""

from __future__ import annotations

from dataclasses import replace

import pytest

from recorder.observe.facts import facts_of
from recorder.observe.reading import read
from tests.observe import exchanges
from tests.store import samples


def _facts(ex):
    return facts_of(ex, read(ex))


def test_the_facts_of_a_translated_stream():
    f = _facts(samples.streaming())
    assert (f.client_dialect, f.upstream_dialect, f.translated) == ("anthropic", "openai", True)
    assert (f.model, f.model_requested, f.status, f.stream) == (
        "gpt-5.5", "claude-sonnet-5", 200, True)  # fmt: skip
    assert (f.ttfb, f.ttft, f.duration) == (0.010, 0.017, 0.06)
    assert f.tool_calls == ("Bash",) and f.response_id == "msg_1"
    assert f.session == samples.SESSION and f.path == "/v1/messages"
    assert f.upstream_url == "http://127.0.0.1:9000/v1/chat/completions"
    assert (f.error, f.error_kind, f.failed, f.attempts, f.notes) == (None, None, False, 1, 1)


def test_retries_and_errors():
    assert _facts(exchanges.stalled()).attempts == 3
    f = _facts(samples.failed())
    assert (f.status, f.error_kind, f.failed) == (529, "overloaded", True)
    assert _facts(exchanges.hung_up()).error_kind == "client_disconnected"


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        ("no first byte from upstream within 5s", "timeout"),
        ("upstream connection lost mid-stream: reset", "upstream_failed"),
        ("something else", "error"),
    ],
)
def test_what_the_gateway_saw_go_wrong_gets_a_short_kind(error, kind):
    ex = replace(samples.plain(), error=error)
    assert _facts(ex).error_kind == kind
