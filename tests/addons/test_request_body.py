"""Request bodies within the gateway's limits (issue 11): size, encoding, UTF-8, JSON, depth;
each refusal an error in the client's dialect that names the limit."""

from __future__ import annotations

import asyncio
import gzip
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mitmproxy.test import taddons

from addons.gateway_hooks import Gateway
from addons.metadata import EXCHANGE
from recorder.request_body import Refused, read_json
from recorder.safejson import deeper_than, nests_deeper
from tests.addons.test_gateway import ANT, gateway_flow, run

DEEP = b'{"model":"m","metadata":{"x":' + b"[" * 10_000 + b"]" * 10_000 + b"}}"


def nested(depth: int) -> bytes:
    """An object whose deepest value is ``depth`` arrays/objects down (the body itself: 1)."""
    return b'{"a":' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"


def read(raw: bytes, max_body: int = 100_000, max_depth: int = 8) -> object:
    return read_json(raw, lambda: raw, max_body, max_depth)


@pytest.mark.parametrize(
    "raw, kind, says",
    [
        (b'{"a":"' + b"x" * 100_000 + b'"}', "request_too_large", "gateway_max_body"),
        (DEEP, "invalid_request", "deeper than 8 levels (gateway_max_json_depth)"),
        (nested(9), "invalid_request", "deeper than 8 levels"),
        (b'{"a":"\xff"}', "invalid_request", "not valid UTF-8"),
        (b'{"a":"\xed\xbf\xbf"}', "invalid_request", "not valid UTF-8"),  # a surrogate's bytes
        (b"\xff\xfe{\x00}\x00", "invalid_request", "not valid UTF-8"),  # UTF-16
        (b"{", "invalid_request", "not valid JSON"),
        (b"[]", "invalid_request", "must be a JSON object"),
    ],
)
def test_refused_with_the_limit_named(raw: bytes, kind: str, says: str) -> None:
    got = read(raw)
    assert isinstance(got, Refused) and got.kind == kind and says in got.message


def test_within_the_limits() -> None:
    assert read(nested(8)) == json.loads(nested(8))
    assert read(b'{"model":"\\udfff"}') == {"model": "\udfff"}  # stored escaped later
    in_a_string = "[" * 18 + '"' + "[" * 5  # brackets in strings do not nest
    assert read(json.dumps({"a": in_a_string}).encode()) == {"a": in_a_string}


def test_decoded_size_and_undecodable_bodies() -> None:
    bomb = gzip.compress(b'{"a":"' + b"x" * 5000 + b'"}')
    got = read_json(bomb, lambda: gzip.decompress(bomb), 1000, 8)
    assert isinstance(got, Refused) and got.kind == "request_too_large"
    assert "decoded request body" in got.message

    def broken() -> bytes:
        raise ValueError("Invalid Content-Encoding 'gzip'")

    got = read_json(b"junk", broken, 1000, 8)
    assert isinstance(got, Refused) and "cannot be decoded" in got.message


json_values = st.recursive(
    st.none() | st.integers() | st.text(alphabet='[]{}"\\ab'),
    lambda kids: (
        st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=3), kids, max_size=3)
    ),
    max_leaves=40,
)


@given(json_values, st.integers(min_value=1, max_value=12))
def test_the_bytes_check_agrees_with_walking_the_value(value: object, limit: int) -> None:
    raw = json.dumps({"v": value}).encode()
    assert nests_deeper(raw, limit) == deeper_than({"v": value}, limit)


@pytest.mark.parametrize(
    "path, headers, error",
    [
        ("/v1/messages", ANT, lambda b: b["type"] == "error" and b["error"]["type"]),
        ("/v1/chat/completions", {"authorization": "Bearer k"}, lambda b: b["error"]["type"]),
    ],
    ids=["anthropic", "openai"],
)
def test_the_gateway_answers_in_the_clients_dialect(path, headers, error) -> None:
    gw = Gateway()
    with taddons.context(gw) as tctx:
        tctx.configure(gw, gateway_upstream="http://127.0.0.1:9000/v1", gateway_max_body="1k")
        deep = gateway_flow("POST", path, nested(65), headers)
        run(gw, deep)
        assert deep.response is not None and deep.response.status_code == 400
        body = json.loads(deep.response.content or b"")
        assert error(body) == "invalid_request_error"
        assert "gateway_max_json_depth" in json.dumps(body)

        big = gateway_flow("POST", path, b"{}", headers)
        big.request.headers["content-length"] = "5000"
        gw.requestheaders(big)  # refused on its announced length, before the body is read
        assert big.response is not None and big.response.status_code == 413
        assert "gateway_max_body" in (big.response.content or b"").decode()
        asyncio.run(gw.request(big))
        ex = big.metadata[EXCHANGE]
        assert ex.client_request is not None and ex.client_request.body is None
        assert ex.extra["request_body_bytes"] == 5000

        chunked = gateway_flow("POST", path, b'{"a":"' + b"x" * 2000 + b'"}', headers)
        del chunked.request.headers["content-length"]
        run(gw, chunked)
        assert chunked.response is not None and chunked.response.status_code == 413
        ex = chunked.metadata[EXCHANGE]
        assert ex.client_request is not None and ex.client_request.body is None
