"""The live gateway end to end: real mitmdump + the addon, the fake upstream, the official SDKs.

Two gateway processes per module: ``gw`` (a gateway key, a routes file selecting routes by an
``x-route`` header, retries and timeouts) and ``gw_open`` (no key, plain pass-through, so the
client's own credentials travel on).
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from fakes.procs import Service
from fakes.upstream import FakeUpstream
from tests.e2e.conftest import http_client, start_gateway
from tests.sdk import anthropic_final_message

pytestmark = pytest.mark.e2e

KEY = "gw-secret"
OPENAI_KEY = "sk-route-openai"
ANTHROPIC_KEY = "sk-route-anthropic"
MSG = [{"role": "user", "content": "hi"}]
TOOLS = [{"name": "get_weather", "description": "w", "input_schema": {"type": "object"}}]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


KEEPALIVE = 1.0  # seconds an idle client's upstream connection is kept


@pytest.fixture(scope="module")
def gw(fake: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    d = tmp_path_factory.mktemp("gw")
    routes = d / "routes.yaml"
    routes.write_text(
        f"""
aliases:
  haiku: local-small
routes:
  - name: to-openai
    match: {{header: {{x-route: to-openai}}}}
    upstream: {fake.url}/v1
    api: openai
    key_env: TAPEGATE_TEST_OPENAI_KEY
  - name: to-anthropic
    match: {{header: {{x-route: to-anthropic}}}}
    upstream: {fake.url}
    api: anthropic
    key_env: TAPEGATE_TEST_ANTHROPIC_KEY
  - name: dead
    match: {{header: {{x-route: dead}}}}
    upstream: http://127.0.0.1:{_closed_port()}
  - name: local-small
    match: {{model: local-small}}
    upstream: {fake.url}/v1
    api: openai
    model: qwen3:8b
"""
    )
    svc = start_gateway(
        d,
        [
            f"gateway_upstream={fake.url}",
            f"gateway_key={KEY}",
            f"gateway_config={routes}",
            "gateway_retries=2",
            "gateway_retry_backoff=0.01",
            "gateway_connect_timeout=1",
            "gateway_first_token_timeout=1",
            f"gateway_upstream_keepalive={KEEPALIVE}",
            "gateway_http2=true",  # the HTTP/2 cases below: clients that negotiate it get it
        ],
        env={"TAPEGATE_TEST_OPENAI_KEY": OPENAI_KEY, "TAPEGATE_TEST_ANTHROPIC_KEY": ANTHROPIC_KEY},
    )
    yield svc
    svc.stop()


@pytest.fixture(scope="module")
def gw_open(fake: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    d = tmp_path_factory.mktemp("gw_open")
    svc = start_gateway(d, [f"gateway_upstream={fake.url}", "gateway_retries=0"], name="open")
    yield svc
    svc.stop()


def ant(gw: Service, route: str | None = None, **kw: Any) -> anthropic.Anthropic:
    headers = {"x-route": route} if route else {}
    return anthropic.Anthropic(
        base_url=gw.url, api_key=KEY, max_retries=0, default_headers=headers, **kw
    )


def oai(gw: Service, route: str | None = None) -> openai.OpenAI:
    headers = {"x-route": route} if route else {}
    return openai.OpenAI(
        base_url=f"{gw.url}/v1", api_key=KEY, max_retries=0, default_headers=headers
    )


# ------------------------------------------------------------------ local endpoints


def test_head_preconnect_is_answered_locally(gw: Service, clean: FakeUpstream) -> None:
    r = httpx.head(gw.url + "/")
    assert r.status_code == 200
    assert clean.requests == []


def test_models_lists_what_routes_offer(gw: Service) -> None:
    ids = [m.id for m in oai(gw).models.list()]
    assert ids == ["haiku", "local-small", "qwen3:8b"]
    anthropic_ids = [m.id for m in ant(gw).models.list()]
    assert anthropic_ids == ids


def test_count_tokens_forwarded_to_anthropic_and_estimated_otherwise(
    gw: Service, clean: FakeUpstream
) -> None:
    forwarded = ant(gw).messages.count_tokens(model="m", messages=MSG)
    assert forwarded.input_tokens == 42  # the fake's answer
    r = httpx.post(
        gw.url + "/v1/messages/count_tokens?beta=true",
        headers={"x-api-key": KEY, "x-route": "to-openai", "anthropic-version": "2023-06-01"},
        json={"model": "m", "messages": MSG},
    )
    assert r.headers["x-tapegate-estimate"] == "true"
    assert r.json()["input_tokens"] == len(json.dumps({"messages": MSG}).replace(" ", "")) // 4 + 1
    assert len(clean.requests) == 1


# ------------------------------------------------------------------ auth


@dataclass(frozen=True)
class AuthCase:
    name: str
    headers: dict[str, str]
    status: int


AUTH_CASES = [
    AuthCase("x-api-key, 2023-06-01", {"x-api-key": KEY, "anthropic-version": "2023-06-01"}, 200),
    AuthCase(
        "bearer, newer", {"authorization": f"Bearer {KEY}", "anthropic-version": "2026-10-21"}, 200
    ),
    AuthCase("wrong key", {"x-api-key": "nope", "anthropic-version": "2023-06-01"}, 401),
    AuthCase("no key", {"anthropic-version": "2023-06-01"}, 401),
]


@pytest.mark.parametrize("case", AUTH_CASES, ids=lambda c: c.name)
def test_gateway_key_both_styles(gw: Service, clean: FakeUpstream, case: AuthCase) -> None:
    body = {"model": "m", "max_tokens": 5, "messages": MSG}
    r = httpx.post(gw.url + "/v1/messages", headers=case.headers, json=body)
    assert r.status_code == case.status
    if case.status == 401:
        assert r.json()["error"]["type"] == "authentication_error"
        assert clean.requests == []
    else:
        seen = clean.requests[-1].headers
        assert "x-api-key" not in seen and "authorization" not in seen  # the key stays here


def test_missing_key_is_401_in_each_dialect(gw: Service) -> None:
    with pytest.raises(anthropic.AuthenticationError):
        anthropic.Anthropic(base_url=gw.url, api_key="bad", max_retries=0).messages.create(
            model="m", max_tokens=5, messages=MSG
        )
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(
            base_url=gw.url + "/v1", api_key="bad", max_retries=0
        ).chat.completions.create(model="m", messages=MSG)


def test_client_key_forwarded_without_gateway_key(gw_open: Service, clean: FakeUpstream) -> None:
    c = anthropic.Anthropic(base_url=gw_open.url, api_key="sk-client", max_retries=0)
    c.messages.create(model="m", max_tokens=5, messages=MSG)
    assert clean.requests[-1].headers["authorization"] == "Bearer sk-client"


# ------------------------------------------------------------------ pass-through


def test_passthrough_stream_is_byte_for_byte(gw: Service, clean: FakeUpstream) -> None:
    body = {"model": "m", "max_tokens": 5, "stream": True, "messages": MSG}
    headers = {"x-api-key": KEY, "anthropic-version": "2023-06-01", "x-fake-mode": "tool"}
    with httpx.stream("POST", gw.url + "/v1/messages?beta=true", headers=headers, json=body) as r:
        got = b"".join(r.iter_raw())
    assert got == clean.sent[-1]
    assert clean.requests[-1].path == "/v1/messages?beta=true"
    assert clean.requests[-1].headers["accept-encoding"] == "identity"


def test_passthrough_json_is_byte_for_byte(gw: Service, clean: FakeUpstream) -> None:
    body = {"model": "m", "messages": MSG}
    r = httpx.post(
        gw.url + "/v1/chat/completions", headers={"authorization": f"Bearer {KEY}"}, json=body
    )
    assert r.content == clean.sent[-1]
    assert json.loads(clean.requests[-1].body) == body


def test_anthropic_sdk_stream_passthrough(gw: Service) -> None:
    client = ant(gw)
    with client.messages.stream(
        model="m", max_tokens=5, messages=MSG, tools=TOOLS, extra_headers={"x-fake-mode": "tool"}
    ) as s:
        msg = s.get_final_message()
    assert msg.stop_reason == "tool_use"
    assert [b.type for b in msg.content] == ["text", "tool_use"]


def test_openai_sdk_stream_passthrough(gw: Service) -> None:
    chunks = list(
        oai(gw).chat.completions.create(
            model="m", messages=MSG, stream=True, stream_options={"include_usage": True}
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello world!"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage is not None


def test_unknown_path_passes_through_same_dialect(gw: Service, clean: FakeUpstream) -> None:
    r = httpx.get(gw.url + "/v1/files?x=1", headers={"x-api-key": KEY, "anthropic-version": "1"})
    assert r.json() == {"fake": "echo", "path": "/v1/files?x=1"}


# ------------------------------------------------------------------ failures


def test_malformed_json_is_400_in_dialect(gw: Service, clean: FakeUpstream) -> None:
    r = httpx.post(
        gw.url + "/v1/chat/completions", headers={"authorization": f"Bearer {KEY}"}, content=b"{bad"
    )
    assert r.status_code == 400
    assert r.json()["error"]["type"] == "invalid_request_error"
    assert clean.requests == []


def test_upstream_4xx_reaches_client(gw: Service) -> None:
    with pytest.raises(anthropic.BadRequestError):
        ant(gw).messages.create(
            model="m", max_tokens=5, messages=MSG, extra_headers={"x-fake-mode": "error:400"}
        )


def test_retry_on_5xx_then_success(gw: Service, clean: FakeUpstream) -> None:
    clean.script("error:503", "error:429+retry-after:0")
    msg = ant(gw).messages.create(model="m", max_tokens=5, messages=MSG)
    assert msg.content[0].type == "text" and msg.stop_reason == "end_turn"
    assert len(clean.requests) == 3


@pytest.mark.parametrize("route", [None, "to-openai"], ids=["same dialect", "translated"])
def test_retry_of_a_stream_streams_as_it_arrives(
    gw: Service, clean: FakeUpstream, route: str | None
) -> None:
    clean.script("error:529", "events:20+gap:40")  # the retry's stream takes ~0.8 s
    t0 = time.monotonic()
    first: float | None = None
    with ant(gw, route).messages.stream(model="m", max_tokens=5, messages=MSG) as s:
        for ev in s:
            if ev.type == "content_block_delta" and first is None:
                first = time.monotonic() - t0
        msg = s.get_final_message()
    total = time.monotonic() - t0
    assert msg.stop_reason == "end_turn" and len(clean.requests) == 2
    assert first is not None and total - first > 0.4, (first, total)  # not delivered whole
    text = "".join(b.text for b in msg.content if b.type == "text")
    assert text == "".join(f"t{i} " for i in range(20))


@pytest.mark.parametrize("http2", [False, True], ids=["HTTP/1.1", "HTTP/2"])
@pytest.mark.parametrize("route", [None, "to-openai"], ids=["same dialect", "translated"])
def test_a_stream_that_succeeds_on_a_retry_ends_at_its_terminal_event(
    gw: Service, clean: FakeUpstream, route: str | None, http2: bool
) -> None:
    """The retry path (written by the gateway itself to HTTP/1 clients, whole to HTTP/2 ones)
    does not wait for an upstream that lingers after its stream's end either."""
    clean.script("error:529", "linger:30000")  # released below
    body = {"model": "m", "max_tokens": 5, "messages": MSG, "stream": True}
    headers = {"x-api-key": KEY} | ({"x-route": route} if route else {})
    base = gw.url.replace("http://", "https://") if http2 else gw.url
    with http_client(http2=http2) as http:
        r = http.post(base + "/v1/messages", json=body, headers=headers)
    ended = clean.requests[-1].body_ended
    clean.release()
    assert not ended, "the client's response ended only when the upstream ended its body"
    assert r.status_code == 200 and r.http_version == ("HTTP/2" if http2 else "HTTP/1.1")
    assert len(clean.requests) == 2
    assert anthropic_final_message(r.content).stop_reason == "end_turn"


def test_no_upstream_connection_is_left_open_after_retries(
    gw: Service, clean: FakeUpstream
) -> None:
    clean.script("error:529", "error:429+retry-after:0")
    before = clean.open_connections  # other tests' clients keep theirs (and so mitmproxy)
    with httpx.Client() as c:  # its own connection to the gateway, closed at the end
        r = c.post(
            gw.url + "/v1/messages",
            headers={"x-api-key": KEY, "anthropic-version": "2023-06-01"},
            json={"model": "m", "max_tokens": 5, "messages": MSG},
        )
    assert r.status_code == 200 and len(clean.requests) == 3
    deadline = time.monotonic() + 5
    while clean.open_connections > before and time.monotonic() < deadline:
        time.sleep(0.05)
    # neither mitmproxy's nor the retries' own (others' may close meanwhile: at most before)
    assert clean.open_connections <= before


def test_an_idle_clients_upstream_connection_is_closed_after_the_keepalive(
    gw: Service, clean: FakeUpstream
) -> None:
    """Issue 11: after 429/529 retries, an idle client's upstream connection stayed open for as
    long as the client kept its own (over nine minutes seen)."""
    clean.script("error:529", "error:429+retry-after:0")
    _wait_until_no_upstream_connection(clean)  # earlier tests' idle ones close too (counted here)
    headers = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}
    body = {"model": "m", "max_tokens": 5, "messages": MSG}
    with httpx.Client() as c:  # keeps its connection to the gateway, idle
        assert c.post(gw.url + "/v1/messages", headers=headers, json=body).status_code == 200
        assert clean.open_connections > 0  # mitmproxy's, kept for the client's next request
        _wait_until_no_upstream_connection(clean)
        opened = clean.connections
        again = c.post(gw.url + "/v1/messages", headers=headers, json=body)
        assert again.status_code == 200 and clean.connections > opened  # a new one (probed)


def _wait_until_no_upstream_connection(fake: FakeUpstream) -> None:
    deadline = time.monotonic() + KEEPALIVE + 5
    while fake.open_connections and time.monotonic() < deadline:
        time.sleep(0.05)
    assert fake.open_connections == 0


def test_retries_exhausted_gives_last_status(gw: Service, clean: FakeUpstream) -> None:
    with pytest.raises(anthropic.RateLimitError):
        ant(gw).messages.create(
            model="m", max_tokens=5, messages=MSG, extra_headers={"x-fake-mode": "error:429"}
        )
    assert len(clean.requests) == 3


def test_unreachable_upstream_is_502_in_dialect(gw: Service) -> None:
    with pytest.raises(openai.APIStatusError) as e:
        oai(gw, "dead").chat.completions.create(model="m", messages=MSG)
    assert e.value.status_code == 502
    assert "unreachable" in e.value.message


def test_first_token_timeout_is_504_in_dialect(gw: Service) -> None:
    with pytest.raises(anthropic.APIStatusError) as e:
        ant(gw).messages.create(
            model="m", max_tokens=5, messages=MSG, extra_headers={"x-fake-mode": "slow:1500"}
        )
    assert e.value.status_code == 504
    assert e.value.body["error"]["type"] == "timeout_error"  # type: ignore[index]


def test_upstream_reset_mid_stream_ends_with_error_event(gw: Service) -> None:
    body = {"model": "m", "max_tokens": 5, "stream": True, "messages": MSG}
    headers = {"x-api-key": KEY, "anthropic-version": "2023-06-01", "x-fake-mode": "truncated"}
    with httpx.stream("POST", gw.url + "/v1/messages", headers=headers, json=body) as r:
        text = b"".join(r.iter_bytes()).decode()  # no RemoteProtocolError: the body is complete
    assert text.rstrip().split("\n\n")[-1].startswith("event: error")


# ------------------------------------------------------------------ translation


def test_anthropic_client_to_openai_upstream_stream_with_tools(
    gw: Service, clean: FakeUpstream
) -> None:
    client = ant(gw, "to-openai")
    with client.messages.stream(
        model="m", max_tokens=5, messages=MSG, tools=TOOLS, extra_headers={"x-fake-mode": "tool"}
    ) as s:
        msg = s.get_final_message()
    assert msg.stop_reason == "tool_use"
    tool = msg.content[-1]
    assert tool.type == "tool_use" and tool.input == {"city": "Paris"}
    seen = clean.requests[-1]
    assert seen.path == "/v1/chat/completions"
    assert seen.headers["authorization"] == f"Bearer {OPENAI_KEY}"
    assert "anthropic-version" not in seen.headers
    assert seen.json()["stream"] is True


def test_anthropic_client_to_openai_upstream_thinking_and_json(gw: Service) -> None:
    client = ant(gw, "to-openai")
    msg = client.messages.create(
        model="m", max_tokens=5, messages=MSG, extra_headers={"x-fake-mode": "thinking"}
    )
    assert [b.type for b in msg.content] == ["thinking", "text"]
    assert msg.stop_reason == "end_turn" and msg.usage.output_tokens == 3
    with client.messages.stream(
        model="m", max_tokens=5, messages=MSG, extra_headers={"x-fake-mode": "thinking"}
    ) as s:
        streamed = s.get_final_message()
    assert [b.type for b in streamed.content] == ["thinking", "text"]


def test_translated_error_and_midstream_error(gw: Service) -> None:
    client = ant(gw, "to-openai")
    with pytest.raises(anthropic.RateLimitError) as e:
        client.messages.create(
            model="m",
            max_tokens=5,
            messages=MSG,
            extra_headers={"x-fake-mode": "error:429+retry-after:0"},
        )
    assert e.value.response.headers["retry-after"] == "0"  # kept across dialects
    with pytest.raises(anthropic.APIStatusError):
        with client.messages.stream(
            model="m", max_tokens=5, messages=MSG, extra_headers={"x-fake-mode": "midstream-error"}
        ) as s:
            s.get_final_message()


def test_openai_client_to_anthropic_upstream(gw: Service, clean: FakeUpstream) -> None:
    client = oai(gw, "to-anthropic")
    resp = client.chat.completions.create(model="m", messages=MSG)
    assert resp.choices[0].message.content == "Hello world!"
    assert resp.choices[0].finish_reason == "stop"
    seen = clean.requests[-1]
    assert seen.path == "/v1/messages"
    assert seen.headers["x-api-key"] == ANTHROPIC_KEY
    assert seen.headers["anthropic-version"] == "2023-06-01"
    chunks = list(client.chat.completions.create(model="m", messages=MSG, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello world!"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"


def test_alias_and_rename_reach_upstream(gw: Service, clean: FakeUpstream) -> None:
    msg = ant(gw).messages.create(model="haiku", max_tokens=5, messages=MSG)
    seen = clean.requests[-1]
    assert seen.path == "/v1/chat/completions"  # the local-small route
    assert seen.json()["model"] == "qwen3:8b"
    assert msg.model in ("haiku", "qwen3:8b")


def test_gateway_survives_garbage(gw: Service) -> None:
    r = httpx.post(gw.url + "/v1/messages", headers={"x-api-key": KEY}, content=b"[1, 2]")
    assert r.status_code == 400
    assert httpx.head(gw.url + "/").status_code == 200


def _log(svc: Service) -> str:
    return Path(svc.log).read_text(errors="replace")


def test_no_tracebacks_in_gateway_log(gw: Service) -> None:
    assert "Traceback" not in _log(gw)


def test_listener_also_works_as_an_explicit_proxy(gw_open: Service, clean: FakeUpstream) -> None:
    # A client that cannot change its base URL sets HTTP(S)_PROXY instead; the absolute-form
    # request goes through the same listener untouched.
    with httpx.Client(proxy=gw_open.url) as c:
        r = c.post(
            f"{clean.url}/v1/chat/completions",
            json={"model": "m", "messages": [{"role": "user", "content": "hi"}]},
            headers={"authorization": "Bearer sk-client"},
        )
    assert r.status_code == 200
    assert r.json()["choices"][0]["message"]["content"]
    assert clean.requests[-1].headers.get("authorization") == "Bearer sk-client"
