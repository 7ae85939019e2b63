"""A miniature gateway for tests: runs the real translator over a request and upstream bytes and
records the :class:`Exchange` the way the gateway addon does (both legs, events, chunks)."""

from __future__ import annotations

import json
from typing import Any

from recorder.context import Context
from recorder.dialects import codec
from recorder.exchange import EventTape, Exchange, HttpRequest, HttpResponse, untape
from recorder.ir import Dialect
from recorder.translate import StreamTranslator, translate_request, translate_response

PATHS: dict[str, str] = {"anthropic": "/v1/messages", "openai": "/v1/chat/completions"}
JSON = [("content-type", "application/json")]
SSE = [("content-type", "text/event-stream")]


def record(
    client: Dialect,
    upstream: Dialect,
    body: dict[str, Any],
    upstream_body: bytes | None = None,
    upstream_chunks: list[bytes] | None = None,
    started_at: float = 1_800_000_000.0,
    id: str = "ex-1",
) -> Exchange:
    ctx = Context(client=client, upstream=upstream)
    sent = translate_request(body, ctx)
    ex = Exchange(
        id=id,
        started_at=started_at,
        client_dialect=client,
        upstream_dialect=upstream,
        model_requested=body.get("model"),
        model_sent=sent.get("model"),
        stream=upstream_chunks is not None,
    )
    ex.client_request = HttpRequest(
        "POST",
        f"http://127.0.0.1:8080{PATHS[client]}",
        [("x-api-key", "sk-ant-SECRET"), *JSON],
        json.dumps(body).encode(),
    )
    ex.upstream_request = HttpRequest(
        "POST",
        f"https://upstream.test{PATHS[upstream]}",
        [("authorization", "Bearer sk-SECRET"), *JSON],
        json.dumps(sent).encode(),
    )
    if upstream_chunks is None:
        assert upstream_body is not None
        out = translate_response(json.loads(upstream_body), ctx)
        ex.upstream_response = HttpResponse(200, JSON, upstream_body)
        ex.client_response = HttpResponse(200, JSON, json.dumps(out).encode())
        return ex
    clock = [0.0]
    tape = EventTape(ex, lambda: clock[0], 0.0, codec(ctx.client).is_token)
    tr = StreamTranslator(ctx, observer=tape)
    for chunk in upstream_chunks:
        clock[0] += 0.05
        tr.feed(chunk)
    tr.feed(b"")
    ex.upstream_response = HttpResponse(200, SSE, None)
    ex.client_response = HttpResponse(200, SSE, None)
    ex.t_end = clock[0]
    untape(ex)  # what the recorder's writer does with a taped stream
    return ex
