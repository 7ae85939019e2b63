"""The Responses API through the real gateway (mitmdump) to the fake upstream in each dialect,
judged by the openai SDK (and the anthropic SDK for an Anthropic client): answers, streams,
errors, and conversations continued by ``previous_response_id`` and fetched by id from the
gateway's own recording."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest

from fakes.procs import BIN, Service, free_port, start_service
from fakes.upstream import FakeUpstream
from recorder.sse import SseParser
from tests.e2e.conftest import GATEWAY_ADDON, start_gateway
from tests.grammar import check_responses_stream

KEY = "sk-fake-e2e"


@pytest.fixture(scope="module")
def gw(fake: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One recording gateway per upstream dialect (a route each), all on one listener."""
    log_dir = tmp_path_factory.mktemp("gw-responses")
    routes = log_dir / "routes.yaml"
    routes.write_text(
        "routes:\n"
        f"  - {{match: {{model: 'to-openai*'}}, upstream: '{fake.url}/v1', api: openai}}\n"
        f"  - {{match: {{model: 'to-anthropic*'}}, upstream: '{fake.url}', api: anthropic}}\n"
        f"  - {{match: {{model: 'to-responses*'}}, upstream: '{fake.url}/v1', api: responses}}\n"
    )
    db = log_dir / "traffic.duckdb"
    port = free_port()
    argv = [
        str(BIN / "mitmdump"), "-q", "-s", str(GATEWAY_ADDON), "-p", str(port),
        "--listen-host", "127.0.0.1",
        "--set", f"gateway_config={routes}",
        "--set", f"gateway_upstream={fake.url}/v1",  # the default route: Chat Completions
        "--set", "gateway_upstream_api=openai",
        "--set", "gateway_retries=0",
        "--set", f"recorder_db={db}",
    ]  # fmt: skip
    svc = start_service("gateway-responses", argv, port=port, log_dir=log_dir)
    off = start_gateway(log_dir, [f"gateway_config={routes}"], name="gateway-no-recording")
    for service in (svc, off):
        _wait_for_the_addon(service)
    yield {"url": svc.url, "off": off.url, "svc": svc}
    svc.stop()
    off.stop()


def _wait_for_the_addon(svc: Service) -> None:
    """mitmdump listens before its scripts are loaded; until then it answers 502 itself."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if httpx.head(svc.url, timeout=30.0).status_code == 200:
            return
        time.sleep(0.1)
    raise AssertionError("the gateway addon did not load:\n" + svc.log_tail())


def oai(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key=KEY, max_retries=0)


def sse_of(url: str, body: dict[str, Any]) -> bytes:
    r = httpx.post(url + "/v1/responses", json=body, timeout=30)
    assert r.status_code == 200, r.text
    return r.content


@pytest.mark.parametrize("model", ["to-openai", "to-anthropic"])
def test_answer_json_and_stream(gw: dict[str, Any], clean: FakeUpstream, model: str) -> None:
    c = oai(gw["url"])
    r = c.responses.create(model=model, input="hi")
    assert r.status == "completed" and r.output_text == "Hello world!"
    with c.responses.stream(model=model, input="hi") as s:
        final = s.get_final_response()
    assert final.status == "completed" and final.output_text == "Hello world!"
    paths = [q.path for q in clean.requests]
    want = "/v1/chat/completions" if model == "to-openai" else "/v1/messages"
    assert paths == [want, want]
    raw = sse_of(gw["url"], {"model": model, "input": "hi", "stream": True})
    p = SseParser()
    check_responses_stream(p.feed(raw) + p.close())


@pytest.mark.parametrize("model", ["to-openai", "to-anthropic"])
def test_tool_call_stream(gw: dict[str, Any], clean: FakeUpstream, model: str) -> None:
    clean.script("tool")
    tools = [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}]
    with oai(gw["url"]).responses.stream(model=model, input="weather?", tools=tools) as s:
        final = s.get_final_response()
    calls = [o for o in final.output if o.type == "function_call"]
    assert [(c.name, json.loads(c.arguments)) for c in calls] == [
        ("get_weather", {"city": "Paris"})
    ]


@pytest.mark.parametrize(
    ("mode", "exc"),
    [("error:429", openai.RateLimitError), ("error:500", openai.InternalServerError)],
)
@pytest.mark.parametrize("model", ["to-openai", "to-anthropic"])
def test_upstream_errors(
    gw: dict[str, Any], clean: FakeUpstream, model: str, mode: str, exc: type[Exception]
) -> None:
    clean.script(mode)
    with pytest.raises(exc):
        oai(gw["url"]).responses.create(model=model, input="hi")
    assert len(clean.requests) == 1


@pytest.mark.parametrize("model", ["to-openai", "to-anthropic"])
def test_midstream_error_ends_as_response_failed(
    gw: dict[str, Any], clean: FakeUpstream, model: str
) -> None:
    clean.script("midstream-error")
    raw = sse_of(gw["url"], {"model": model, "input": "hi", "stream": True})
    p = SseParser()
    resp = check_responses_stream(p.feed(raw) + p.close())
    assert resp["status"] == "failed" and resp["error"]["message"]


# ---------------------------------------------------------------------------- stored answers


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("model", ["to-openai", "to-anthropic"])
def test_previous_response_id_is_rebuilt_from_the_recording(
    gw: dict[str, Any], clean: FakeUpstream, model: str, stream: bool
) -> None:
    c = oai(gw["url"])
    if stream:
        with c.responses.stream(model=model, input="first question") as s:
            first = s.get_final_response()
    else:
        first = c.responses.create(model=model, input="first question")
    clean.clear()
    second = c.responses.create(
        model=model, input="second question", previous_response_id=first.id, instructions="be brief"
    )
    assert second.output_text == "Hello world!"
    (sent,) = clean.requests
    body = sent.json()
    texts = [
        (m["role"], m["content"] if isinstance(m["content"], str) else m["content"][0]["text"])
        for m in body["messages"]
        if m["role"] != "system"
    ]
    assert texts == [
        ("user", "first question"),
        ("assistant", "Hello world!"),
        ("user", "second question"),
    ]
    # a chain: the third turn continues the second, which continued the first
    clean.clear()
    c.responses.create(model=model, input="third", previous_response_id=second.id)
    turns = [m for m in clean.requests[0].json()["messages"] if m["role"] != "system"]
    assert len(turns) == 5
    # and the answer itself can be fetched by id
    got = c.responses.retrieve(second.id)
    assert got.id == second.id and got.output_text == "Hello world!"


def test_an_unknown_previous_response_is_a_clear_400(
    gw: dict[str, Any], clean: FakeUpstream
) -> None:
    with pytest.raises(openai.BadRequestError, match="resp_nope"):
        oai(gw["url"]).responses.create(
            model="to-openai", input="x", previous_response_id="resp_nope"
        )
    assert clean.requests == []
    with pytest.raises(openai.NotFoundError):
        oai(gw["url"]).responses.retrieve("resp_nope")


def test_without_recording_previous_response_id_is_a_clear_400(
    gw: dict[str, Any], clean: FakeUpstream
) -> None:
    with pytest.raises(openai.BadRequestError, match="recording is off"):
        oai(gw["off"]).responses.create(model="to-openai", input="x", previous_response_id="resp_1")
    assert clean.requests == []


# ---------------------------------------------------------------------------- other clients


def test_anthropic_client_to_a_responses_upstream(gw: dict[str, Any], clean: FakeUpstream) -> None:
    c = anthropic.Anthropic(base_url=gw["url"], api_key=KEY, max_retries=0)
    clean.script("thinking")
    with c.messages.stream(
        model="to-responses",
        max_tokens=2000,
        thinking={"type": "enabled", "budget_tokens": 1024},
        messages=[{"role": "user", "content": "hi"}],
    ) as s:
        msg = s.get_final_message()
    assert [b.type for b in msg.content] == ["thinking", "text"]
    assert msg.content[0].signature == "tapegate:responses:rs_fake01:sig-fake"  # type: ignore[union-attr]
    assert msg.stop_reason == "end_turn"
    (sent,) = clean.requests
    assert sent.path == "/v1/responses" and sent.json()["reasoning"]["summary"] == "auto"


def test_chat_client_to_a_responses_upstream(gw: dict[str, Any], clean: FakeUpstream) -> None:
    clean.script("tool")
    done = oai(gw["url"]).chat.completions.create(
        model="to-responses",
        messages=[{"role": "user", "content": "weather?"}],
        tools=[{"type": "function", "function": {"name": "get_weather", "parameters": {}}}],
    )
    call = done.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert done.choices[0].finish_reason == "tool_calls"
    assert (call.function.name, json.loads(call.function.arguments)) == (
        "get_weather",
        {"city": "Paris"},
    )  # type: ignore[union-attr]
    assert [q.path for q in clean.requests] == ["/v1/responses"]


@pytest.mark.parametrize("mode", ["truncated", "no-terminal", "bad-json"])
@pytest.mark.parametrize("model", ["to-openai", "to-anthropic"])
def test_a_broken_upstream_stream_ends_with_one_response_failed(
    gw: dict[str, Any], clean: FakeUpstream, model: str, mode: str
) -> None:
    """The connection cut mid-stream, a stream without its end, a broken event: Codex takes
    anything but one terminal event as a broken stream, so there is always exactly one."""
    clean.script(mode)
    raw = sse_of(gw["url"], {"model": model, "input": "hi", "stream": True})
    p = SseParser()
    resp = check_responses_stream(p.feed(raw) + p.close())  # exactly one terminal, last
    assert resp["status"] == "failed", resp
