"""The live gateway under bad client input: invalid JSON, every field of a real request given the
wrong type, deep nesting, a body over the limit, invalid UTF-8, wrong methods and paths, unknown
block types. Zero crashes inside the gateway (its log holds no traceback), every refusal a 4xx
in the client's own dialect, and every attempt recorded."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from fakes.upstream import FakeUpstream
from tests.reliability import gateway
from tests.reliability.conftest import REPORT
from tests.reliability.fuzzing import LONG

pytestmark = pytest.mark.e2e

MAX_BODY = 1 << 20


@dataclass(frozen=True)
class Endpoint:
    path: str
    body: dict[str, Any]  # a valid request
    content: tuple[str | int, ...]  # where the first message's content is
    must_refuse: tuple[str, ...]  # wrong types in the fields the gateway reads: a 400


MSG = [{"role": "user", "content": "Say hello."}]
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}}
ENDPOINTS = {
    "anthropic": Endpoint(
        "/v1/messages",
        {"model": "claude-sonnet-5", "max_tokens": 16, "messages": MSG, "stream": False,
         "system": [{"type": "text", "text": "Be brief."}], "temperature": 0.5,
         "tools": [{"name": "get_weather", "description": "d", "input_schema": SCHEMA}],
         "tool_choice": {"type": "auto"}, "metadata": {"user_id": "u"}},
        ("messages", 0, "content"),
        ("messages=7", 'messages="text"', "messages.0=7"),
    ),
    "openai": Endpoint(
        "/v1/chat/completions",
        {"model": "gpt-5-mini", "max_tokens": 16, "messages": MSG, "stream": False,
         "temperature": 0.5, "n": 1, "stop": ["x"],
         "tools": [{"type": "function",
                    "function": {"name": "get_weather", "parameters": SCHEMA}}],
         "tool_choice": "auto", "stream_options": {"include_usage": True}},
        ("messages", 0, "content"),
        ("messages=7", 'messages="text"', "messages.0=7"),
    ),
    "responses": Endpoint(
        "/v1/responses",
        {"model": "gpt-5-mini", "max_output_tokens": 16, "input": MSG, "stream": False,
         "instructions": "Be brief.", "temperature": 0.5, "store": False,
         "tools": [{"type": "function", "name": "get_weather", "parameters": SCHEMA}],
         "tool_choice": "auto", "reasoning": {"effort": "low"}, "metadata": {"user_id": "u"}},
        ("input", 0, "content"),
        ("input=7", "input.0=7", "tools=7"),
    ),
}  # fmt: skip


def error_shape_ok(dialect: str, body: Any) -> bool:
    """The error body a client of ``dialect`` expects (what its SDK reads)."""
    if dialect == "anthropic":
        err = body.get("error") if isinstance(body, dict) else None
        return body.get("type") == "error" and isinstance(err, dict) and isinstance(
            err.get("type"), str
        ) and isinstance(err.get("message"), str)  # fmt: skip
    err = body.get("error") if isinstance(body, dict) else None
    return isinstance(err, dict) and isinstance(err.get("message"), str)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeUpstream]:
    server = FakeUpstream(log=False).start()
    yield server
    server.stop()


@pytest.fixture(scope="module", params=list(ENDPOINTS))
def gw(
    request: pytest.FixtureRequest, fake: FakeUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, gateway.Gateway]]:
    """A gateway that translates every request of this client dialect (so it parses them all)
    to another dialect; pass-through would hand the bytes to the upstream untouched."""
    client: str = request.param
    other = next(d for d in ENDPOINTS if d != client)
    d = tmp_path_factory.mktemp(f"bad-input-{client}")
    g = gateway.start(
        d,
        [
            f"gateway_upstream={fake.url}",
            f"gateway_upstream_api={other}",
            "gateway_retries=0",
            f"gateway_max_body={MAX_BODY}",
        ],  # fmt: skip
    )
    yield client, g
    g.stop()


@dataclass
class Sent:
    dialect: str
    what: str
    status: int
    body: Any


# What the client SDKs send that tells their dialect apart on paths outside the chat endpoints.
CLIENT_HEADERS: dict[str, dict[str, str]] = {"anthropic": {"anthropic-version": "2023-06-01"}}


def _send(c: httpx.Client, dialect: str, what: str, method: str, path: str, content: bytes) -> Sent:
    headers = {"content-type": "application/json", **CLIENT_HEADERS.get(dialect, {})}
    r = c.request(method, path, content=content, headers=headers)
    try:
        body = r.json()
    except ValueError:
        body = r.content[:200]
    return Sent(dialect, what, r.status_code, body)


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if prefix:
        yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _paths(v, (*prefix, i))


# Values of the wrong type put in every field of a real request (all of them in the long run).
_WRONG: list[Any] = [None, 7, "text", [], {}]
if LONG:
    _WRONG += [-1.5, True, [1, "x"], {"type": "x_unknown"}, "\x00", 2**70]


def _with(doc: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    target: Any = out
    for p in path[:-1]:
        target = target[p]
    target[path[-1]] = value
    return out


def _cases(ep: Endpoint) -> Iterator[tuple[str, str, str, bytes]]:
    """(what, method, path, body) of every bad request for one client dialect."""
    translated = ep.body
    yield "invalid JSON", "POST", ep.path, b'{"model": "x", "messages": [}'
    yield "empty body", "POST", ep.path, b""
    for text in (b"[]", b'"x"', b"null", b"42"):
        yield f"JSON {text.decode()}", "POST", ep.path, text
    yield "invalid UTF-8", "POST", ep.path, b'{"model": "' + b"\xff\xfe\xc3" + b'", "messages": []}'
    deep = b"[" * 20_000 + b"]" * 20_000
    yield "deep nesting", "POST", ep.path, b'{"model": "x", "messages": ' + deep + b"}"
    yield (
        "huge body",
        "POST",
        ep.path,
        json.dumps({**translated, "pad": "x" * (MAX_BODY + 10)}).encode(),
    )
    lone = json.dumps(translated).replace("Say hello.", "\\ud800 lone").encode()
    yield "lone surrogate", "POST", ep.path, lone
    unknown = _with(translated, ep.content, [{"type": "x_unknown_block", "x": 1}])
    yield "unknown block type", "POST", ep.path, json.dumps(unknown).encode()
    for path in _paths(translated):
        current: Any = translated
        for p in path:
            current = current[p]
        for value in _WRONG:
            if type(value) is type(current) and value == current:
                continue
            body = json.dumps(_with(translated, path, value)).encode()
            yield f"{'.'.join(map(str, path))}={json.dumps(value)}", "POST", ep.path, body
    for method in ("GET", "PUT", "DELETE", "PATCH"):
        yield f"{method} {ep.path}", method, ep.path, b""
    for bad in ("/v1/nope", "/v2/messages", "/v1/messages/../../etc/passwd", "/%ff%fe",
                "/v1/" + "x" * 8000):  # fmt: skip
        yield f"POST {bad[:40]}", "POST", bad, json.dumps(translated).encode()


def test_bad_client_input_is_answered_in_dialect_and_recorded(
    gw: tuple[str, gateway.Gateway],
) -> None:
    dialect, g = gw
    ep = ENDPOINTS[dialect]
    before = gateway.wait_count(g.db, "select count(*) from exchanges", 0, timeout=0)
    sent: list[Sent] = []
    with httpx.Client(base_url=g.url, timeout=60) as c:
        for what, method, path, body in _cases(ep):
            sent.append(_send(c, dialect, what, method, path, body))
        assert c.head("/").status_code == 200  # still serving
    server_errors = [s for s in sent if s.status >= 500]
    assert not server_errors, server_errors[:5]
    refused = [s for s in sent if 400 <= s.status < 500]
    wrong_shape = [s for s in refused if not error_shape_ok(dialect, s.body)]
    assert not wrong_shape, wrong_shape[:5]
    # what the gateway has to parse and refuses gets a fitting status
    status = {s.what: s.status for s in sent}
    for what in ("invalid JSON", "empty body", "JSON []", "invalid UTF-8", "deep nesting",
                 *ep.must_refuse):  # fmt: skip
        assert status[what] == 400, (what, status[what])
    assert status["huge body"] == 413
    for what in ("GET", "PUT", "DELETE", "PATCH"):
        assert status[f"{what} {ep.path}"] in (404, 405)
    for what in ("POST /v1/nope", "POST /v2/messages", "POST /%ff%fe"):
        assert status[what] == 404, (what, status[what])
    assert not g.crashes(), g.crashes()[0]
    assert g.svc.alive()
    n = len(sent)  # the HEAD is a health check: answered, never recorded
    recorded = gateway.wait_count(g.db, "select count(*) from exchanges", before + n)
    assert recorded == before + n, f"{recorded - before} of {n} attempts recorded"
    REPORT.setdefault("bad_input", {})[dialect] = {
        "requests": n,
        "refused_4xx": len(refused),
        "answered_5xx": len(server_errors),
        "recorded": recorded - before,
        "crashes": len(g.crashes()),
    }
