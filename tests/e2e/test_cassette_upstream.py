"""A cassette as the gateway's upstream, end to end: ``mitmdump -s addons/gateway.py --set
gateway_upstream=cassettes/<name>`` (no URL, no gateway_upstream_api: the dialect comes from the
cassette), judged by the official Anthropic SDK. Offline: nothing but the gateway process."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest

from fakes.procs import BIN, REPO, Service
from tests.e2e.conftest import GATEWAY_ADDON, start_gateway

pytestmark = pytest.mark.e2e

CASSETTES = REPO / "cassettes"


def recorded_request(name: str) -> dict[str, Any]:
    """The client leg's request body of the cassette's first interaction: what to send."""
    doc = json.loads((CASSETTES / name / "cassette.json").read_text())
    body: dict[str, Any] = doc["interactions"][0]["client"]["request"]["body"]
    return body


def client(gw: Service) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url, api_key="sk-test", max_retries=0)


def _gateway(
    tmp_path_factory: pytest.TempPathFactory, cassette: str, *sets: str
) -> Iterator[Service]:
    d = tmp_path_factory.mktemp(cassette)
    svc = start_gateway(d, [f"gateway_upstream=cassettes/{cassette}", *sets], name=cassette)
    yield svc
    svc.stop()


@pytest.fixture(scope="module")
def gw_text(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    yield from _gateway(tmp_path_factory, "a2o-text")


@pytest.fixture(scope="module")
def gw_stream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    yield from _gateway(
        tmp_path_factory, "a2o-stream-tools-parallel", "gateway_replay_timing=recorded"
    )


def test_non_streamed_reply_comes_from_the_cassette(gw_text: Service) -> None:
    msg = client(gw_text).messages.create(**recorded_request("a2o-text"))
    assert [b.type for b in msg.content] == ["text"]
    assert msg.content[0].type == "text" and msg.content[0].text == "Hello world!"
    assert msg.stop_reason == "end_turn"
    assert msg.usage.input_tokens == 10 and msg.usage.output_tokens == 3


def test_played_interactions_answer_again_by_default(gw_text: Service) -> None:
    body = recorded_request("a2o-text")
    for _ in range(2):
        assert client(gw_text).messages.create(**body).stop_reason == "end_turn"


def test_streamed_parallel_tool_calls_come_from_the_cassette(gw_stream: Service) -> None:
    body = recorded_request("a2o-stream-tools-parallel")
    assert body.pop("stream") is True
    with client(gw_stream).messages.stream(**body) as s:
        events = [e.type for e in s]
        msg = s.get_final_message()
    assert events[0] == "message_start" and events[-1] == "message_stop"
    tools = [b for b in msg.content if b.type == "tool_use"]
    assert [(t.name, t.input) for t in tools] == [
        ("get_weather", {"city": "Paris"}),
        ("get_time", {"city": "Tokyo"}),
    ]
    assert msg.stop_reason == "tool_use"


def test_a_miss_is_the_replays_closest_miss_error_in_the_clients_dialect(
    gw_text: Service,
) -> None:
    body = recorded_request("a2o-text") | {"messages": [{"role": "user", "content": "Say bye."}]}
    with pytest.raises(anthropic.NotFoundError) as err:
        client(gw_text).messages.create(**body)
    assert err.value.status_code == 404
    # The replay answered the OpenAI-dialect upstream request with an OpenAI-shaped 404; the
    # gateway translated it into the Anthropic error shape.
    error: Any = err.value.body
    assert isinstance(error, dict) and error["type"] == "error"
    assert error["error"]["type"] == "not_found_error"
    message = error["error"]["message"]
    assert "no recorded interaction in cassette 'a2o-text'" in message
    assert "Closest: #0" in message and "messages[0].content" in message
    assert '"Say bye."' in message and '"Say hello."' in message


def test_a_folder_without_a_cassette_is_refused_at_start(tmp_path: Path) -> None:
    argv = [str(BIN / "mitmdump"), "-q", "-s", str(GATEWAY_ADDON), "-p", "0"]
    argv += ["--set", "recorder_db=", "--set", f"gateway_upstream={tmp_path}"]
    proc = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "no cassette.json" in proc.stdout + proc.stderr
