"""The gateway's own responses: rewriting an upstream response in place gives what
``http.Response.make`` gives."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from mitmproxy import http

from addons.response.replies import make_response


@dataclass(frozen=True)
class Case:
    name: str
    status: int
    headers: dict[str, str]


CASES = [
    Case("translated json", 200, {"content-type": "application/json"}),
    Case("error with extra header", 429, {"content-type": "application/json", "x-a": "1"}),
    Case("no headers", 204, {}),
]


def _state(r: http.Response) -> tuple[object, ...]:
    return (r.http_version, r.status_code, r.reason, r.headers.fields, r.raw_content, r.trailers)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_rewritten_upstream_response_equals_a_new_one(case: Case) -> None:
    upstream = http.Response.make(
        200, b'{"x":1}', {"content-type": "application/json", "request-id": "r"}
    )
    body = b'{"translated":true}'
    made = http.Response.make(case.status, body, case.headers)
    rewritten = make_response(upstream, case.status, body, case.headers)
    assert rewritten is upstream and _state(rewritten) == _state(made)
    assert rewritten.timestamp_start and rewritten.timestamp_end


def test_streamed_upstream_response_is_replaced() -> None:
    upstream = http.Response.make(200, b"", {"content-type": "text/event-stream"})
    upstream.stream = True
    made = make_response(upstream, 500, b"{}", {"content-type": "application/json"})
    assert made is not upstream and made.status_code == 500


def test_headers_response_make_handles_itself_are_left_to_it() -> None:
    upstream = http.Response.make(200, b"{}", {"content-type": "application/json"})
    made = make_response(upstream, 200, b"abc", {"content-length": "3"})
    assert made is not upstream and made.headers.get_all("content-length") == ["3"]
