"""Conformance over real recorded traffic (``../shared/corpus``, or ``$TAPEGATE_CORPUS``): every
request, response, stream and error of each dialect (Anthropic Messages, Chat Completions, the
Responses API) is translated into each other dialect, and the official SDK of the target side
must accept the result. Skips when the corpus is absent (it is not part of the repo).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from recorder.context import Context, IdFactory
from recorder.dialects import codec
from recorder.errors import UnsupportedContentError
from recorder.ir import Dialect
from recorder.sse import SseEvent, SseParser, encode
from recorder.translate import (
    StreamTranslator,
    translate_error,
    translate_request,
    translate_response,
)
from tests.grammar import check_responses_stream
from tests.sdk import anthropic_final_message, anthropic_parse_message
from tests.sdk_openai import (
    openai_final_completion,
    openai_parse_completion,
    responses_parse,
    responses_terminal,
)

CORPUS = Path(
    os.environ.get("TAPEGATE_CORPUS") or Path(__file__).resolve().parents[3] / "shared" / "corpus"
)
_API_DIALECT: dict[str, Dialect] = {
    "anthropic.messages": "anthropic",
    "openai.chat": "openai",
    "openai.responses": "responses",
}
_DIALECTS: tuple[Dialect, ...] = ("anthropic", "openai", "responses")


def _records() -> list[Any]:
    if not CORPUS.is_dir():
        return [pytest.param(None, None, marks=pytest.mark.skip(reason=f"no corpus at {CORPUS}"))]
    out = []
    files = (
        sorted(CORPUS.glob("anthropic_messages*.jsonl"))
        + sorted(CORPUS.glob("openai_c*.jsonl"))
        + sorted(CORPUS.glob("openai_responses*.jsonl"))
    )
    for f in files:
        for line in f.read_text().splitlines():
            rec = json.loads(line)
            src = _API_DIALECT.get(rec.get("api", ""))
            if src is None:
                continue
            for dst in _DIALECTS:
                if dst != src:
                    out.append(pytest.param(rec, dst, id=f"{f.stem}:{rec['id']}->{dst}"))
    return out


RECORDS = _records()


def _sse_bytes(resp: dict[str, Any]) -> bytes:
    if resp.get("sse_raw"):
        return str(resp["sse_raw"]).encode()
    evs = [
        SseEvent(event=e.get("event"), data=e.get("data"), comment=e.get("comment"))
        for e in resp["sse"]
    ]
    return b"".join(encode(e) for e in evs)


def _stream_has_error(dialect: Dialect, raw: bytes) -> bool:
    if dialect == "responses":
        return b"response.failed" in raw or b"event: error" in raw
    return b'"error"' in raw and (dialect == "openai" or b"event: error" in raw)


@pytest.mark.parametrize(("rec", "dst"), RECORDS)
def test_request_translates_to_a_valid_request_of_the_other_dialect(
    rec: dict[str, Any], dst: Dialect
) -> None:
    src: Dialect = _API_DIALECT[rec["api"]]
    ctx = Context(client=src, upstream=dst, ids=IdFactory(rec["id"]))
    try:
        out = translate_request(rec["request"]["body"], ctx)
    except UnsupportedContentError as e:
        pytest.skip(f"refused explicitly (never dropped): {e}")
    codec(dst).request_to_ir(out)  # the target dialect's own wire models accept it


@pytest.mark.parametrize(("rec", "client"), RECORDS)
def test_response_is_accepted_by_the_other_dialects_sdk(
    rec: dict[str, Any], client: Dialect
) -> None:
    upstream: Dialect = _API_DIALECT[rec["api"]]
    ctx = Context(client=client, upstream=upstream, ids=IdFactory(rec["id"]), created=1)
    ctx.include_usage = True
    resp = rec["response"]
    status = resp.get("status") or 200
    if status >= 400:
        out_status, body = translate_error(status, resp.get("body"), ctx)
        assert out_status >= 400
        if client == "anthropic":
            assert body["type"] == "error" and body["error"]["type"] and body["error"]["message"]
        else:
            assert body["error"]["message"]
        return
    if resp.get("sse") and upstream == "responses" and not _responses_terminal(resp["sse"]):
        pytest.skip("recorded stream has no terminal event (a background or cut recording)")
    if resp.get("sse"):
        raw = _sse_bytes(resp)
        st = StreamTranslator(ctx)
        out = st.feed(raw) + st.close()
        if _stream_has_error(upstream, raw):
            if client == "responses":
                kind, _ = responses_terminal(out)
                assert kind == "response.failed"
                return
            with pytest.raises((anthropic.APIError, openai.APIError)):
                _final(client, out)
            return
        final = _final(client, out)
        if client == "anthropic":
            assert final.stop_reason is not None
        elif client == "openai":
            assert final.choices[0].finish_reason is not None
        else:
            kind, final_resp = final
            assert kind in ("response.completed", "response.incomplete")
            parser = SseParser()
            check_responses_stream(parser.feed(out) + parser.close())
        return
    if resp.get("body") is None:
        pytest.skip("no response body recorded")
    try:
        body = translate_response(resp["body"], ctx)
    except UnsupportedContentError as e:
        pytest.skip(f"refused explicitly (never dropped): {e}")
    if client == "anthropic":
        msg = anthropic_parse_message(body)
        assert msg.stop_reason is not None
    elif client == "openai":
        done = openai_parse_completion(body)
        assert done.choices and done.choices[0].finish_reason is not None
    else:
        parsed = responses_parse(body)
        assert parsed.status in ("completed", "incomplete")


def _final(client: Dialect, out: bytes) -> Any:
    if client == "anthropic":
        return anthropic_final_message(out)
    if client == "openai":
        return openai_final_completion(out)
    return responses_terminal(out)


def _responses_terminal(sse: list[dict[str, Any]]) -> bool:
    terminals = ("response.completed", "response.incomplete", "response.failed", "error")
    return any(e.get("event") in terminals for e in sse)
