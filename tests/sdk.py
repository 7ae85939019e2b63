"""The official SDKs as judges: feed them bytes our encoders wrote, get back what a client sees.

No network: each helper builds a client whose transport is an in-memory MockTransport answering
every request with the given body. anthropic 2.x uses the ``httpx2`` fork internally (its
``http_client`` must be an ``httpx2.Client``); anthropic < 2 uses ``httpx``.
"""

from __future__ import annotations

import json
import warnings
from typing import Any

try:  # anthropic >= 2
    import httpx2 as _anthropic_httpx
except ImportError:  # pragma: no cover - anthropic < 2 on Python 3.11
    import httpx as _anthropic_httpx  # type: ignore[no-redef]

import anthropic
from anthropic.types import Message

MODEL = "claude-sonnet-5"  # a current name: the SDK warns about deprecated ones


def _anthropic_client(status: int, body: bytes, content_type: str) -> anthropic.Anthropic:
    def handler(request: Any) -> Any:
        return _anthropic_httpx.Response(
            status, content=body, headers={"content-type": content_type}
        )

    http_client = _anthropic_httpx.Client(transport=_anthropic_httpx.MockTransport(handler))
    return anthropic.Anthropic(
        api_key="x", base_url="http://test", http_client=http_client, max_retries=0
    )


def anthropic_final_message(sse_bytes: bytes, **request: Any) -> Message:
    """What ``messages.stream(...).get_final_message()`` makes of an SSE body.

    Raises what the SDK raises (``anthropic.APIStatusError`` for ``event: error``).
    """
    client = _anthropic_client(200, sse_bytes, "text/event-stream")
    kwargs: dict[str, Any] = {
        "model": MODEL,
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": "hi"}],
    }
    kwargs.update(request)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        with client.messages.stream(**kwargs) as stream:
            message: Message = stream.get_final_message()
            return message


def anthropic_parse_message(json_body: dict[str, Any] | bytes, **request: Any) -> Message:
    """What ``messages.create(...)`` (non-streaming) makes of a JSON response body."""
    raw = json_body if isinstance(json_body, bytes) else json.dumps(json_body).encode()
    client = _anthropic_client(200, raw, "application/json")
    kwargs: dict[str, Any] = {
        "model": MODEL,
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": "hi"}],
    }
    kwargs.update(request)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        message: Message = client.messages.create(**kwargs)
        return message


def anthropic_error(status: int, json_body: dict[str, Any]) -> anthropic.APIStatusError:
    """The exception ``messages.create`` raises for an error response."""
    client = _anthropic_client(status, json.dumps(json_body).encode(), "application/json")
    try:
        client.messages.create(
            model=MODEL, max_tokens=16, messages=[{"role": "user", "content": "hi"}]
        )
    except anthropic.APIStatusError as e:
        return e
    raise AssertionError(f"status {status} did not raise")
