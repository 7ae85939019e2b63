"""Replay a cassette's upstream leg through today's translator and compare with the client leg.

The recorded client leg is what the gateway sent when the cassette was recorded. Feeding the
recorded upstream bytes (chunk by chunk, with the recorded boundaries) through the current
:mod:`recorder.translate` must give the same client bytes, up to values that are minted per run
(ids, ``created``, ``system_fingerprint``, ``obfuscation``). Any other difference is a translation
change: the result carries a unified diff per interaction, so a regression reads like a review.

Streams are compared as lists of ``{"event", "data"}`` (data parsed as JSON); comment lines
(keep-alives) are left out because they carry no content. The replay builds the same Context
as the gateway (ids seeded by the exchange id) and, like the gateway, passes requests and answers
(errors included) through untouched when client and upstream speak the same dialect.
"""

from __future__ import annotations

import difflib
import json
import os
from dataclasses import dataclass, field
from typing import Any

from recorder import dialects, ir
from recorder.context import Context, IdFactory
from recorder.errors import TranslationError
from recorder.ir import Dialect
from recorder.sse import SseParser
from replay.cassette import Interaction, LegRecord, Stream, load

_ID_KEYS = frozenset({"id", "tool_use_id", "tool_call_id", "call_id", "item_id", "response_id"})
_ZERO_KEYS = frozenset({"created", "created_at"})
_DROP_KEYS = frozenset({"obfuscation", "system_fingerprint"})


@dataclass(slots=True)
class InteractionCheck:
    index: int
    ok: bool
    diff: str = ""
    skipped: str | None = None  # why nothing was compared


@dataclass(slots=True)
class VerifyResult:
    cassette: str
    checks: list[InteractionCheck] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def compared(self) -> int:
        """Interactions actually checked (not skipped)."""
        return sum(1 for c in self.checks if c.skipped is None)

    @property
    def diff(self) -> str:
        return "".join(c.diff for c in self.checks)

    def report(self) -> str:
        lines = []
        for c in self.checks:
            state = "skipped: " + c.skipped if c.skipped else "ok" if c.ok else "DIFFERS"
            lines.append(f"{self.cassette}#{c.index}: {state}")
        return "\n".join(lines) + ("\n" + self.diff if self.diff else "")


def normalize(value: Any, ids: dict[str, str] | None = None) -> Any:
    """Per-run values replaced: ids by ``<id1>``... in order of first appearance, times by 0."""
    ids = {} if ids is None else ids
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if k in _DROP_KEYS:
                continue
            if k in _ZERO_KEYS and isinstance(v, int | float):
                out[k] = 0
            elif k in _ID_KEYS and isinstance(v, str):
                out[k] = ids.setdefault(v, f"<id{len(ids) + 1}>")
            else:
                out[k] = normalize(v, ids)
        return out
    if isinstance(value, list):
        return [normalize(v, ids) for v in value]
    return value


def _sorted_normal(value: Any) -> Any:
    """:func:`normalize` with keys taken in sorted order: a cassette stores bodies with sorted
    keys while a codec builds them in wire order, and ids must be numbered alike on both sides."""
    return normalize(json.loads(json.dumps(value, sort_keys=True)))


def sse_events(data: bytes) -> list[dict[str, Any]]:
    parser = SseParser()
    events = parser.feed(data) + parser.close()
    out: list[dict[str, Any]] = []
    for ev in events:
        if ev.comment is not None:
            continue
        try:
            payload: Any = json.loads(ev.data or "")
        except ValueError:
            payload = ev.data
        out.append({"event": ev.event, "data": payload})
    return out


def _json(body: bytes | None) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace")


def _dialect(name: str | None) -> Dialect | None:
    spec = dialects.named(name or "")
    return spec.name if spec is not None else None


def _unified(expected: Any, actual: Any, label: str) -> str:
    a = json.dumps(expected, indent=2, sort_keys=True, ensure_ascii=False).splitlines(True)
    b = json.dumps(actual, indent=2, sort_keys=True, ensure_ascii=False).splitlines(True)
    diff = difflib.unified_diff(a, b, f"{label} (recorded)", f"{label} (translated now)")
    return "".join(line if line.endswith("\n") else line + "\n" for line in diff)


def gateway_context(it: Interaction, client: Dialect, upstream: Dialect) -> Context:
    """The Context the gateway built for this exchange. The gateway seeds its id factory with the
    flow id, which is the exchange id a cassette keeps, so a replay mints the very ids the
    recording did (a hand-written cassette without an id gets the default seed)."""
    ctx = Context(client=client, upstream=upstream, ids=IdFactory(it.id) if it.id else IdFactory())
    options = it.meta.get("upstream_options")  # what the backend told the codec, recorded
    ctx.upstream_options = options if isinstance(options, dict) else None
    return ctx


def replay_stream(stream: Stream, ctx: Context) -> bytes:
    """The client bytes today's StreamTranslator makes of a recorded upstream stream, fed with
    the recorded chunk boundaries (a split event is part of what is being checked)."""
    from recorder.translate import StreamTranslator

    tr = StreamTranslator(ctx)
    return b"".join(tr.feed(chunk) for _, chunk in stream.chunks()) + tr.feed(b"")


def replay_response(up: LegRecord, ctx: Context) -> Any:
    """The client-leg response today's translator makes of the recorded upstream response."""
    from recorder.translate import translate_error, translate_response

    resp = up.response
    assert resp is not None
    if resp.stream is not None:
        return {"status": resp.status, "events": sse_events(replay_stream(resp.stream, ctx))}
    if ctx.client == ctx.upstream:  # the gateway passes the answer through untouched
        return {"status": resp.status, "body": _json(resp.body)}
    if resp.status >= 400:
        status, body = translate_error(resp.status, _json(resp.body), ctx)
        return {"status": status, "body": body}
    return {"status": resp.status, "body": translate_response(_json(resp.body), ctx)}


def collected_response(stream: Stream, status: int, ctx: Context) -> Any:
    """An upstream stream in its own framing that the gateway read whole for a client that
    asked for one body (Kiro always streams), as the gateway answers it."""
    from recorder.errors import UpstreamFailedError
    from recorder.translate import error_body, translate_response

    raw = b"".join(chunk for _, chunk in stream.chunks())
    try:
        return {"status": status, "body": translate_response(raw, ctx)}
    except UpstreamFailedError as e:
        code, body = error_body(ir.ErrorInfo(e.kind, str(e)), ctx.client)
        return {"status": code, "body": body}


def recorded_response(cl: LegRecord) -> Any:
    resp = cl.response
    assert resp is not None
    if resp.stream is not None:
        return {"status": resp.status, "events": sse_events(resp.stream.data)}
    return {"status": resp.status, "body": _json(resp.body)}


@dataclass(slots=True)
class Replayed:
    """One interaction translated again by today's code: what the gateway would send upstream
    and answer the client, given the recorded client request and upstream response."""

    ctx: Context
    request: Any  # the upstream request body (its model as recorded: routes may rename it)
    response: Any  # {"status", "body"} or {"status", "events"}, as recorded_response() gives
    stream: bytes | None = None  # the client stream's bytes, when the upstream streamed


def skip_reason(it: Interaction) -> str | None:
    """Why an interaction cannot be replayed (None: it can)."""
    if _dialect(it.client_dialect) is None or _dialect(it.upstream_dialect) is None:
        return "dialects not recorded"
    cl, up = it.client, it.upstream
    if cl is None or up is None or cl.response is None or up.response is None:
        return "one leg is missing"
    return None


def replay_interaction(it: Interaction) -> Replayed:
    """Translate ``it`` again (see :func:`skip_reason` first). Raises TranslationError when it no
    longer translates, ImportError when a codec for one of its dialects is not written yet."""
    from recorder.translate import translate_request

    client, upstream = _dialect(it.client_dialect), _dialect(it.upstream_dialect)
    cl, up = it.client, it.upstream
    assert client is not None and upstream is not None and cl is not None and up is not None
    assert up.response is not None
    ctx = gateway_context(it, client, upstream)
    req_body = _json(cl.request.body)
    if client == upstream:  # like the gateway: forwarded as it came (count_tokens, GETs too)
        sent = req_body
    else:
        sent = translate_request(req_body, ctx)  # also fills ctx (tool names, include_usage)
    recorded_sent = _json(up.request.body)
    if isinstance(sent, dict) and isinstance(recorded_sent, dict) and "model" in recorded_sent:
        sent = {**sent, "model": recorded_sent["model"]}  # routes may rename the model
    stream = up.response.stream
    if stream is None:
        return Replayed(ctx, sent, replay_response(up, ctx))
    if cl.response is not None and cl.response.stream is None:  # collected for the client
        return Replayed(ctx, sent, collected_response(stream, up.response.status, ctx))
    out = replay_stream(stream, ctx)
    return Replayed(ctx, sent, {"status": up.response.status, "events": sse_events(out)}, out)


def check_interaction(it: Interaction) -> InteractionCheck:
    why = skip_reason(it)
    if why is not None:
        return InteractionCheck(it.index, True, skipped=why)
    try:
        replayed = replay_interaction(it)
    except ImportError:
        return InteractionCheck(
            it.index, True, skipped=f"no codec for {it.client_dialect}/{it.upstream_dialect}"
        )
    except TranslationError as e:  # the recorded request or answer no longer translates at all
        return InteractionCheck(it.index, False, f"#{it.index}: cannot translate: {e}\n")
    assert it.client is not None and it.upstream is not None
    diff = ""
    recorded_sent = _sorted_normal(_json(it.upstream.request.body))
    sent = _sorted_normal(replayed.request)
    if sent != recorded_sent:
        diff += _unified(recorded_sent, sent, f"#{it.index} upstream request")
    got = _sorted_normal(replayed.response)
    want = _sorted_normal(recorded_response(it.client))
    if got != want:
        diff += _unified(want, got, f"#{it.index} client response")
    return InteractionCheck(it.index, not diff, diff)


def verify_cassette(directory: str | os.PathLike[str]) -> VerifyResult:
    """Check every interaction of the cassette at ``directory`` against today's translator;
    results are labelled with ``directory`` as given (a cassette's recorded name may differ
    from its folder's, once copied or renamed)."""
    cassette = load(directory)
    return VerifyResult(str(directory), [check_interaction(it) for it in cassette.interactions])
