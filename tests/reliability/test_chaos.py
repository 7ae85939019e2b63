"""Upstream chaos through the gateway: ``gateway_fault`` against a cassette upstream of another
dialect, for each fault and each client dialect (and with the Responses API as the upstream too),
judged by the client's official SDK.

What the client must get is decided by an oracle that needs no table of dialects: the same
fault applied offline to the recorded upstream stream (recorder.faults.apply), run through the
gateway's own translator, either fails (the client must get its dialect's error: the SDK raises)
or completes (a harmless fault such as rechunking: the SDK reads the same answer as without it).
A status or a reset is always an error. Every exchange is recorded with its fault, and the
gateway keeps serving. CI runs a few faults; TAPEGATE_LONG=1 runs them all."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from recorder import ir
from recorder.context import Context
from recorder.dialects import codec
from recorder.faults.inject import apply
from recorder.faults.spec import Reset, parse
from recorder.sse import SseParser
from recorder.translate import StreamTranslator
from replay.cassette import load
from tests.reliability import gateway
from tests.reliability.conftest import REPORT
from tests.reliability.fuzzing import LONG

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2] / "cassettes"
CI_FAULTS = ["error@2:overloaded", "status:529:retry-after=1", "reset@2", "rechunk:split"]
ALL_FAULTS = [
    *CI_FAULTS, "truncate@3", "truncate@-1", "error@-1:rate_limit", "status:400", "status:503",
    "stall@1:300", "rechunk:bytes", "rechunk:coalesce", "drop-done", "garbage@2", "reset@0",
    "stall@2:100,error@4:api_error",
]  # fmt: skip
FAULTS = ALL_FAULTS if LONG else CI_FAULTS


Run = Callable[[str, dict[str, Any], dict[str, str]], str]  # (url, body, headers) -> text


@dataclass(frozen=True)
class Client:
    cassette: str  # recorded with this client against an upstream of another dialect
    run: Run

    @property
    def dialect(self) -> ir.Dialect:
        d = load(ROOT / self.cassette).interactions[0].client_dialect
        assert d is not None
        return d  # type: ignore[return-value]


def _claude(url: str, body: dict[str, Any], headers: dict[str, str]) -> str:
    c = anthropic.Anthropic(base_url=url, api_key="x", max_retries=0, default_headers=headers)
    kw = {k: v for k, v in body.items() if k != "stream"}
    with c.messages.stream(**kw) as s:
        msg = s.get_final_message()
    assert msg.stop_reason is not None, "the stream ended without its stop reason"
    return "".join(b.text for b in msg.content if b.type == "text")


def _gpt(url: str, body: dict[str, Any], headers: dict[str, str]) -> str:
    c = openai.OpenAI(base_url=url + "/v1", api_key="x", max_retries=0, default_headers=headers)
    kw = {k: v for k, v in body.items() if k != "stream"}
    text, finish = "", None
    for chunk in c.chat.completions.create(**kw, stream=True):
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
            finish = chunk.choices[0].finish_reason or finish
    assert finish is not None, "the stream ended without its finish_reason"
    return text


def _codex(url: str, body: dict[str, Any], headers: dict[str, str]) -> str:
    """A Responses client reads a stream to its one terminal event: response.completed is the
    answer, response.failed (or incomplete) the dialect's error."""
    c = openai.OpenAI(base_url=url + "/v1", api_key="x", max_retries=0, default_headers=headers)
    kw = {k: v for k, v in body.items() if k != "stream"}
    events = list(c.responses.create(**kw, stream=True))
    ends = [e for e in events if e.type in _RESPONSES_TERMINAL]
    assert len(ends) == 1 and ends[0] is events[-1], f"{len(ends)} terminal events, not 1, last"
    final = ends[0].response
    assert final.status == "completed", f"{ends[0].type}: {final.error}"
    text: str = final.output_text
    return text


_RESPONSES_TERMINAL = {"response.completed", "response.failed", "response.incomplete"}

# Keyed by the cassette's direction: the client of each dialect against an upstream of another,
# and the Responses API as the upstream (its error event and end marker are faulted then).
CLIENTS = {
    "a2o": Client("a2o-stream-text", _claude),
    "o2a": Client("o2a-stream-text", _gpt),
    "r2a": Client("r2a-stream-text", _codex),
    "a2r": Client("a2r-stream-text", _claude),
}


def _recorded_text(client: ir.Dialect, cassette: str) -> str:
    """The answer's text as the client leg of the recording has it."""
    rec = load(ROOT / cassette).interactions[0].client
    assert rec is not None and rec.response is not None and rec.response.stream is not None
    p = SseParser()
    events = p.feed(rec.response.stream.data) + p.close()
    dec = codec(client).stream_decoder(Context(client, client))
    return "".join(m.text for ev in events for m in dec.push(ev) if isinstance(m, ir.TextDelta))


def _expect_error(client: ir.Dialect, cassette: str, spec: str) -> bool:
    """Does the gateway's translator fail on this fault (so must the client)?"""
    fault = parse(spec)
    if fault.status is not None or any(isinstance(f, Reset) for f in fault.faults):
        return True
    it = load(ROOT / cassette).interactions[0]
    up = it.upstream
    assert up is not None and up.response is not None and up.response.stream is not None
    assert it.upstream_dialect is not None
    faulted = apply(up.response.stream.chunks(), fault, it.upstream_dialect)  # type: ignore[arg-type]
    t = StreamTranslator(Context(client, it.upstream_dialect))  # type: ignore[arg-type]
    for _, chunk in faulted.chunks:
        t.feed(chunk)
    t.close()
    return t.failed


def _body(cassette: str) -> dict[str, Any]:
    doc = json.loads((ROOT / cassette / "cassette.json").read_text())
    body: dict[str, Any] = doc["interactions"][0]["client"]["request"]["body"]
    return body


@pytest.fixture(scope="module", params=list(CLIENTS))
def chaos(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, gateway.Gateway]]:
    """One gateway per direction, its upstream a cassette of another dialect; each request picks
    its fault (gateway_fault_header), so one gateway serves every fault."""
    direction: str = request.param
    g = gateway.start(
        tmp_path_factory.mktemp(f"chaos-{direction}"),
        [
            f"gateway_upstream={ROOT / CLIENTS[direction].cassette}",
            "gateway_fault_header=true",
            "gateway_retries=1",
            "gateway_retry_max_wait=0.2",
            "gateway_retry_backoff=0.05",
        ],  # fmt: skip
    )
    yield direction, g
    assert not g.crashes(), g.crashes()[0]
    g.stop()


def _outcome(c: Client, url: str, body: dict[str, Any], spec: str | None) -> tuple[str, Any]:
    """("complete", text) or ("error", the exception the client's SDK raised)."""
    headers = {} if spec is None else {"x-tapegate-fault": spec}
    try:
        return "complete", c.run(url, body, headers)
    except (anthropic.APIError, openai.APIError, httpx.HTTPError, AssertionError) as e:
        return "error", e


@pytest.mark.parametrize("spec", FAULTS)
def test_upstream_fault_through_the_gateway(chaos: tuple[str, gateway.Gateway], spec: str) -> None:
    direction, g = chaos
    c = CLIENTS[direction]
    client = c.dialect
    body = _body(c.cassette)
    assert not _expect_error(client, c.cassette, "stall@0:0")  # the oracle sees a clean run
    got, detail = _outcome(c, g.url, body, spec)
    if _expect_error(client, c.cassette, spec):
        assert got == "error", f"{spec}: the client read a complete answer: {detail!r}"
    else:
        assert got == "complete", f"{spec}: a harmless fault failed the client: {detail!r}"
        assert detail == _recorded_text(client, c.cassette)
    assert _outcome(c, g.url, body, None) == ("complete", _recorded_text(client, c.cassette))


def test_every_fault_is_recorded_on_its_exchange(chaos: tuple[str, gateway.Gateway]) -> None:
    _, g = chaos
    assert not g.crashes(), g.crashes()[0]
    sql = (
        "select distinct extra->>'fault' as fault from exchanges where extra->>'fault' is not null"
    )
    gateway.wait_count(g.db, f"select count(*) from ({sql})", len(FAULTS))
    assert {r["fault"] for r in gateway.query(g.db, sql)} == {str(parse(f)) for f in FAULTS}
    direction, _ = chaos
    REPORT.setdefault("chaos", {})[direction] = {"faults": len(FAULTS), "crashes": 0}


def test_gateway_fault_for_one_model_only(tmp_path: Path) -> None:
    """``--set gateway_fault=SPEC`` with ``gateway_fault_only``: the fixed interface."""
    c = CLIENTS["a2o"]
    routes = tmp_path / "routes.yaml"
    routes.write_text('aliases:\n  "broken-*": claude-sonnet-5\n')  # same upstream request
    g = gateway.start(
        tmp_path,
        [
            f"gateway_upstream={ROOT / c.cassette}",
            "gateway_fault=error@2:overloaded",
            "gateway_fault_only=broken-*",
            f"gateway_config={routes}",
        ],  # fmt: skip
    )
    try:
        body = _body(c.cassette)
        assert _outcome(c, g.url, body, None) == (
            "complete",
            _recorded_text(c.dialect, c.cassette),
        )
        got, err = _outcome(c, g.url, {**body, "model": "broken-1"}, None)
        assert got == "error" and "overloaded_error" in str(err)
        rows = gateway.query(
            g.db, "select model_requested, extra->>'fault' as fault from exchanges"
        )
        assert {(r["model_requested"], r["fault"]) for r in rows} >= {
            ("claude-sonnet-5", None),
            ("broken-1", "error@2:overloaded"),
        }
        assert not g.crashes(), g.crashes()[0]
    finally:
        g.stop()
