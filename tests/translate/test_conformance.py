"""Conformance over real recorded traffic (``../shared/corpus``): every request, response, stream
and error of both dialects is translated into the other dialect, and the official SDK of the
target side must accept the result. Skips when the corpus is absent (it is not part of the repo).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from recorder.codecs import codec
from recorder.context import Context, IdFactory
from recorder.errors import UnsupportedContentError
from recorder.ir import Dialect
from recorder.sse import SseEvent, encode
from recorder.translate import (
    StreamTranslator,
    translate_error,
    translate_request,
    translate_response,
)
from tests.sdk import anthropic_final_message, anthropic_parse_message
from tests.sdk_openai import openai_final_completion, openai_parse_completion

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus"
_API_DIALECT: dict[str, Dialect] = {"anthropic.messages": "anthropic", "openai.chat": "openai"}


def _records() -> list[Any]:
    if not CORPUS.is_dir():
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"no corpus at {CORPUS}"))]
    out = []
    files = sorted(CORPUS.glob("anthropic_messages*.jsonl")) + sorted(
        CORPUS.glob("openai_c*.jsonl")
    )
    for f in files:
        for line in f.read_text().splitlines():
            rec = json.loads(line)
            if rec.get("api") in _API_DIALECT:
                out.append(pytest.param(rec, id=f"{f.stem}:{rec['id']}"))
    return out


RECORDS = _records()


def _other(d: Dialect) -> Dialect:
    return "openai" if d == "anthropic" else "anthropic"


def _sse_bytes(resp: dict[str, Any]) -> bytes:
    if resp.get("sse_raw"):
        return str(resp["sse_raw"]).encode()
    evs = [
        SseEvent(event=e.get("event"), data=e.get("data"), comment=e.get("comment"))
        for e in resp["sse"]
    ]
    return b"".join(encode(e) for e in evs)


def _stream_has_error(dialect: Dialect, raw: bytes) -> bool:
    return b'"error"' in raw and (dialect == "openai" or b"event: error" in raw)


@pytest.mark.parametrize("rec", RECORDS)
def test_request_translates_to_a_valid_request_of_the_other_dialect(rec: dict[str, Any]) -> None:
    src: Dialect = _API_DIALECT[rec["api"]]
    dst = _other(src)
    ctx = Context(client=src, upstream=dst, ids=IdFactory(rec["id"]))
    try:
        out = translate_request(rec["request"]["body"], ctx)
    except UnsupportedContentError as e:
        pytest.skip(f"refused explicitly (never dropped): {e}")
    codec(dst).request_to_ir(out)  # the target dialect's own wire models accept it


@pytest.mark.parametrize("rec", RECORDS)
def test_response_is_accepted_by_the_other_dialects_sdk(rec: dict[str, Any]) -> None:
    upstream: Dialect = _API_DIALECT[rec["api"]]
    client = _other(upstream)
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
    if resp.get("sse"):
        raw = _sse_bytes(resp)
        st = StreamTranslator(ctx)
        out = st.feed(raw) + st.close()
        if _stream_has_error(upstream, raw):
            with pytest.raises((anthropic.APIError, openai.APIError)):
                _final(client, out)
            return
        final = _final(client, out)
        if client == "anthropic":
            assert final.stop_reason is not None
        else:
            assert final.choices[0].finish_reason is not None
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
    else:
        done = openai_parse_completion(body)
        assert done.choices and done.choices[0].finish_reason is not None


def _final(client: Dialect, out: bytes) -> Any:
    return anthropic_final_message(out) if client == "anthropic" else openai_final_completion(out)
