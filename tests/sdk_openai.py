"""The openai SDK as judge: feed it bytes our encoders wrote, get back what a client sees.

No network: the client's transport is an in-memory MockTransport answering every request with
the given body. openai 3.x uses the ``httpx2`` fork internally (its ``http_client`` must be an
``httpx2.Client``); openai 2.x (Python 3.11) uses ``httpx``.
"""

from __future__ import annotations

import json
from typing import Any

try:  # openai >= 3
    import httpx2 as _openai_httpx
except ImportError:  # pragma: no cover - openai 2.x on Python 3.11
    import httpx as _openai_httpx  # type: ignore[no-redef]

import openai
from openai.types.chat import ChatCompletion
from openai.types.responses import Response

MODEL = "gpt-test"


def _client(status: int, body: bytes, content_type: str) -> openai.OpenAI:
    def handler(request: Any) -> Any:
        return _openai_httpx.Response(status, content=body, headers={"content-type": content_type})

    http_client = _openai_httpx.Client(transport=_openai_httpx.MockTransport(handler))
    return openai.OpenAI(
        api_key="x", base_url="http://test/v1", http_client=http_client, max_retries=0
    )


def _request(request: dict[str, Any]) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
    kwargs.update(request)
    return kwargs


def openai_final_completion(sse_bytes: bytes, **request: Any) -> ChatCompletion:
    """What ``chat.completions.stream(...).get_final_completion()`` makes of an SSE body.

    Raises what the SDK raises (``openai.APIError`` for an ``{"error":...}`` chunk). The helper
    refuses to *parse* an answer that ended with ``length`` or ``content_filter``
    (``LengthFinishReasonError`` ...); the completion it accumulated is returned instead, because
    that is what a caller of the raw stream gets.
    """
    client = _client(200, sse_bytes, "text/event-stream")
    try:
        with client.chat.completions.stream(**_request(request)) as stream:
            done: ChatCompletion = stream.get_final_completion()
            return done
    except openai.LengthFinishReasonError as e:
        return e.completion
    except openai.ContentFilterFinishReasonError as e:
        assert e.completion is not None
        return e.completion


def openai_chunks(sse_bytes: bytes, **request: Any) -> list[Any]:
    """The raw ``ChatCompletionChunk`` objects of ``create(stream=True)``."""
    client = _client(200, sse_bytes, "text/event-stream")
    return list(client.chat.completions.create(stream=True, **_request(request)))


def openai_parse_completion(json_body: dict[str, Any] | bytes, **request: Any) -> ChatCompletion:
    """What ``chat.completions.create(...)`` (non-streaming) makes of a JSON response body."""
    raw = json_body if isinstance(json_body, bytes) else json.dumps(json_body).encode()
    client = _client(200, raw, "application/json")
    done: ChatCompletion = client.chat.completions.create(**_request(request))
    return done


def openai_error(status: int, json_body: dict[str, Any]) -> openai.APIStatusError:
    """The exception ``chat.completions.create`` raises for an error response."""
    client = _client(status, json.dumps(json_body).encode(), "application/json")
    try:
        client.chat.completions.create(**_request({}))
    except openai.APIStatusError as e:
        return e
    raise AssertionError(f"status {status} did not raise")


# --------------------------------------------------------------------------- Responses API


def _responses_request(request: dict[str, Any]) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"model": MODEL, "input": "hi"}
    kwargs.update(request)
    return kwargs


def responses_events(sse_bytes: bytes, **request: Any) -> list[Any]:
    """The raw Responses stream events of ``responses.create(stream=True)``."""
    client = _client(200, sse_bytes, "text/event-stream")
    return list(client.responses.create(stream=True, **_responses_request(request)))


def responses_final(sse_bytes: bytes, **request: Any) -> Response:
    """What ``responses.stream(...).get_final_response()`` makes of an SSE body: the SDK's own
    accumulator. Raises ``RuntimeError`` when the stream has no ``response.completed`` (the SDK's
    words for a failed, incomplete or truncated stream)."""
    client = _client(200, sse_bytes, "text/event-stream")
    with client.responses.stream(**_responses_request(request)) as stream:
        final: Response = stream.get_final_response()
        return final


def responses_parse(json_body: dict[str, Any] | bytes, **request: Any) -> Response:
    """What ``responses.create(...)`` (non-streaming) makes of a JSON response body."""
    raw = json_body if isinstance(json_body, bytes) else json.dumps(json_body).encode()
    client = _client(200, raw, "application/json")
    done: Response = client.responses.create(**_responses_request(request))
    return done


def responses_error(status: int, json_body: dict[str, Any]) -> openai.APIStatusError:
    """The exception ``responses.create`` raises for an error response."""
    client = _client(status, json.dumps(json_body).encode(), "application/json")
    try:
        client.responses.create(**_responses_request({}))
    except openai.APIStatusError as e:
        return e
    raise AssertionError(f"status {status} did not raise")


def responses_terminal(sse_bytes: bytes, **request: Any) -> tuple[str, Response]:
    """The last lifecycle event of a Responses stream as the SDK's stream helper sees it (it
    checks item identities as it accumulates): ``("response.completed" | "response.incomplete"
    | "response.failed", response)``. Raises AssertionError when there is none."""
    client = _client(200, sse_bytes, "text/event-stream")
    last: tuple[str, Response] | None = None
    with client.responses.stream(**_responses_request(request)) as stream:
        for event in stream:
            if event.type in ("response.completed", "response.incomplete", "response.failed"):
                last = (event.type, event.response)
    assert last is not None, "no terminal event"
    return last
