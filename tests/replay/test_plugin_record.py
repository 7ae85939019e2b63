"""The pytest plugin's ``record="once"``: the first run records through a real gateway (mitmdump)
in front of the fake upstream, the next runs replay the cassette with no upstream at all."""

from __future__ import annotations

from pathlib import Path

# Imported here so that the in-process inner runs find them loaded (pytester drops the modules
# a run imports, and importing the SDK again costs seconds per run).
import anthropic  # noqa: F401
import httpx2  # noqa: F401
import pytest

import fakes.upstream  # noqa: F401

pytestmark = pytest.mark.e2e
pytest_plugins = ["pytester"]

SECRET = "sk-ant-api03-INNERSECRET42"

# The inner conftest starts the fake upstream only when a recording asks for it, and counts that.
CONFTEST = """
import pytest
from fakes.upstream import FakeUpstream

@pytest.fixture
def cassette_record_upstream():
    with open("fake_starts.txt", "a") as f:
        f.write("x")
    fake = FakeUpstream().start()
    fake.script("text", "tool")
    yield fake.url + "/v1"
    fake.stop()
"""

TEST = """
import anthropic, httpx2, pytest

TOOLS = [{{"name": "get_weather", "description": "w", "input_schema": {{"type": "object"}}}}]
ASK = [{{"role": "user", "content": "Weather in Paris?"}}]

@pytest.mark.cassette("cassettes/weather", record="once", upstream_api="openai")
def test_weather(cassette):
    client = anthropic.Anthropic(base_url=cassette.url, api_key={secret!r}, max_retries=0)
    msg = client.messages.create(model="claude-sonnet-5", max_tokens=50, messages=ASK)
    assert msg.stop_reason == "end_turn" and msg.content[0].text
    if {both}:  # the in-process front door: forwarded to the gateway while recording
        http = httpx2.Client(transport=cassette.transport)
        via = anthropic.Anthropic(base_url="http://replay.invalid", api_key={secret!r},
                                  max_retries=0, http_client=http)
        with via.messages.stream(model="claude-sonnet-5", max_tokens=50, messages=ASK,
                                 tools=TOOLS) as s:
            assert s.get_final_message().stop_reason == "tool_use"
"""

FAILING = """
import httpx, pytest

@pytest.mark.cassette("cassettes/broken", record="once", upstream_api="openai")
def test_broken(cassette):
    body = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    assert httpx.post(cassette.url + "/v1/messages", json=body).status_code == 200
    assert False, "the test itself fails"
"""


def _bytes_in(d: Path) -> bytes:
    return b"".join(p.read_bytes() for p in d.rglob("*") if p.is_file())


def test_once_records_then_replays_without_the_upstream(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_weather=TEST.format(secret=SECRET, both=True), test_fails=FAILING)
    weather, starts = pytester.path / "cassettes" / "weather", pytester.path / "fake_starts.txt"

    # 1. missing cassettes: recorded through the gateway; a failing test keeps none
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1, failed=1)
    assert (weather / "cassette.json").is_file() and (weather / "0001.client.sse").is_file()
    assert not (pytester.path / "cassettes" / "broken").exists()
    assert starts.read_text() == "xx"
    assert SECRET.encode() not in _bytes_in(weather)
    (pytester.path / "test_fails.py").unlink()

    # 2. the cassette exists: replayed (strict), the upstream fixture is never asked for
    recorded = _bytes_in(weather)
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)
    assert starts.read_text() == "xx" and _bytes_in(weather) == recorded

    # 3. the same cassette, one request fewer: strict replay still fails the test
    pytester.makepyfile(test_weather=TEST.format(secret=SECRET, both=False))
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*NotFullyPlayedError*", "*#1 (POST /v1/messages*never played*"])


def test_once_without_an_upstream_fails_clearly(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
import pytest

@pytest.mark.cassette("cassettes/x", record="once")
def test_x(cassette):
    pass
"""
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*record='once' needs an upstream*cassette_record_upstream*"])
    assert not (pytester.path / "cassettes").exists()


def test_once_gateway_that_cannot_start_fails_with_its_log(pytester: pytest.Pytester) -> None:
    """A directory that holds something else is not a missing cassette to record over."""
    (pytester.path / "cassettes" / "x").mkdir(parents=True)
    (pytester.path / "cassettes" / "x" / "notes.txt").write_text("mine")
    pytester.makepyfile(
        """
import pytest

@pytest.mark.cassette("cassettes/x", record="once", upstream="http://127.0.0.1:9/v1")
def test_x(cassette):
    pass
"""
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*recording gateway did not start*", "*cassettes/x already exists and is not empty*"]
    )
    assert [p.name for p in (pytester.path / "cassettes" / "x").iterdir()] == ["notes.txt"]
