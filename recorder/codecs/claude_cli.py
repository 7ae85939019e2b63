"""The ``claude_cli`` dialect: what the gateway and its claude-cli backend say to each other.

The backend (:mod:`addons.upstream.claude_cli`) is a loopback HTTP server inside the gateway that
answers by running the Claude Code CLI. So that the recording's upstream leg *is* the CLI run,
its wire format is the run itself:

**Request** (JSON, ``POST`` :data:`CHAT_PATH`): what the CLI will read, already translated from
the client's request by :func:`request_from_ir` (:mod:`.claude_cli_input`; notes and refusals
happen here, in the gateway's translation)::

    {"model": "sonnet", "stream": true, "system": ["..."], "history": [<Anthropic messages>],
     "turn": [<the new user messages>], "tools": [<MCP tool definitions>], "effort": "high",
     "json_schema": {...}, "user": "..."}

**Response**, streamed as SSE, one event per line of the run, in order, as it happens:

=============  ========================================================================
``invocation``  ``{"argv", "env" (names only), "cwd", "session", "client_tools",
                "structured"}`` (again if the backend starts a second process)
``stdin``       a stream-json line the backend wrote to the CLI
``stdout``      a line the CLI wrote (:mod:`.claude_cli_stream` decodes them)
``exit``        ``{"exit_code", "killed", "stderr", "error", "session", "conversation"}``
=============  ========================================================================

Not streamed (``"stream": false``): the same events as JSON, ``{"events": [{"event", "data"}]}``.
An error before the answer began: the status (429 with ``retry-after``, 401, 503, ...) and an
Anthropic-shaped error body with the events so far under ``"claude_cli"``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final, get_args

from recorder import ir
from recorder.codecs import anthropic as anthropic_codec
from recorder.codecs.anthropic_errors import error_from_ir, error_to_ir
from recorder.codecs.base import Codec, FunctionCodec
from recorder.codecs.claude_cli_input import TurnInput, turn_input
from recorder.codecs.claude_cli_stream import CliStreamDecoder
from recorder.codecs.collect import Collector
from recorder.context import Context
from recorder.errors import StreamProtocolError, UnsupportedContentError, WireFormatError
from recorder.sse import SseEvent, SseParser

__all__ = [
    "CHAT_PATH",
    "CODEC",
    "CliRequest",
    "StreamDecoder",
    "error_from_ir",
    "error_to_ir",
    "parse_request",
    "request_from_ir",
    "request_to_ir",
    "response_to_ir",
    "run_events",
    "run_facts",
]

JsonObject = dict[str, Any]

CHAT_PATH: Final = "/v1/claude-cli/turn"
INVOCATION, STDIN, STDOUT, EXIT = "invocation", "stdin", "stdout", "exit"
_UPSTREAM_ONLY = "claude_cli is the gateway's backend dialect: no client is answered in it"
_ERROR_KINDS: Final = frozenset(get_args(ir.ErrorKind))


# --------------------------------------------------------------------------- requests


@dataclass(slots=True)
class CliRequest:
    model: str
    stream: bool
    input: TurnInput
    user: str | None = None


def request_from_ir(req: ir.Request, ctx: Context) -> JsonObject:
    t = turn_input(req, ctx)
    out: JsonObject = {
        "model": req.model,
        "stream": req.stream,
        "system": t.system,
        "history": t.history,
        "turn": t.turn,
    }
    if t.tools:
        out["tools"] = t.tools
    if t.effort is not None:
        out["effort"] = t.effort
    if t.json_schema is not None:
        out["json_schema"] = t.json_schema
    if req.user is not None:
        out["user"] = req.user
    return out


def parse_request(body: Any) -> CliRequest:
    """A request body as the backend reads it; WireFormatError when it is not one."""
    if not isinstance(body, dict):
        raise WireFormatError("claude-cli request must be a JSON object")
    model, system, history, turn = (body.get(k) for k in ("model", "system", "history", "turn"))
    if not isinstance(model, str) or not model:
        raise WireFormatError("claude-cli request: model must be a string")
    if not (isinstance(system, list) and all(isinstance(s, str) for s in system)):
        raise WireFormatError("claude-cli request: system must be a list of strings")
    for name, value in (("history", history), ("turn", turn)):
        if not (isinstance(value, list) and all(_is_message(m) for m in value)):
            raise WireFormatError(f"claude-cli request: {name} must be a list of messages")
    if not turn or any(m["role"] != "user" for m in turn):
        raise WireFormatError("claude-cli request: turn must hold user messages")
    tools = body.get("tools", [])
    if not (isinstance(tools, list) and all(_is_tool(t) for t in tools)):
        raise WireFormatError("claude-cli request: tools must be MCP tool definitions")
    effort, schema, user = body.get("effort"), body.get("json_schema"), body.get("user")
    if effort is not None and effort not in ("low", "medium", "high", "xhigh", "max"):
        raise WireFormatError(f"claude-cli request: effort {effort!r} is not a level")
    if schema is not None and not isinstance(schema, dict):
        raise WireFormatError("claude-cli request: json_schema must be an object")
    if user is not None and not isinstance(user, str):
        raise WireFormatError("claude-cli request: user must be a string")
    t = TurnInput(system, history, turn, tools, effort, schema)  # type: ignore[arg-type]
    return CliRequest(model, bool(body.get("stream")), t, user)


def request_to_ir(body: Any) -> ir.Request:
    """The request as IR again (for reading a recording): the Anthropic view of its parts."""
    cr = parse_request(body)
    t = cr.input
    anthropic: JsonObject = {
        "model": cr.model,
        "max_tokens": 1,
        "messages": t.history + t.turn,
    }
    if t.system:
        anthropic["system"] = [{"type": "text", "text": s} for s in t.system]
    if t.tools:
        anthropic["tools"] = [
            {"name": x["name"], "description": x.get("description", ""),
             "input_schema": x.get("inputSchema") or {"type": "object"}}
            for x in t.tools
        ]  # fmt: skip
    req = anthropic_codec.request_to_ir(anthropic)
    req.max_tokens, req.stream, req.user = None, cr.stream, cr.user
    if t.effort is not None:
        req.thinking = ir.ThinkingConfig("adaptive", effort=t.effort)
    if t.json_schema is not None:
        req.output_format = ir.OutputFormat("json_schema", t.json_schema)
    return req


def _is_message(m: Any) -> bool:
    return (
        isinstance(m, dict)
        and m.get("role") in ("user", "assistant")
        and isinstance(m.get("content"), str | list)
    )


def _is_tool(t: Any) -> bool:
    return isinstance(t, dict) and isinstance(t.get("name"), str)


# --------------------------------------------------------------------------- responses


class StreamDecoder:
    """The backend's SSE (one event per line of the run) -> IR stream events.

    A conversation the CLI did not know is seeded first: each history ``user`` line written
    with ``"shouldQuery": false`` is answered by a ``result`` line of its own (no model call).
    Those results are not the answer: as the backend does (recorder/claude_cli/turn.py), the
    lines up to each of them are passed over, unless that result is an error (then it is the
    answer's error)."""

    __slots__ = ("_ctx", "_inner", "_seeding")

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._inner = CliStreamDecoder(ctx)
        self._seeding = 0  # history lines written whose result line has not come yet

    def push(self, ev: SseEvent) -> list[ir.StreamEvent]:
        if ev.comment is not None:
            return [ir.KeepAlive()]
        data = ev.data or ""
        match ev.event:
            case "stdin":
                if '"shouldQuery"' in data and _loads(data).get("shouldQuery") is False:
                    self._seeding += 1
            case "stdout" if self._seeding:
                line = _loads(data) if '"result"' in data else {}
                if line.get("type") != "result":
                    return []  # the CLI's lines while it takes in the history
                self._seeding -= 1
                if line.get("is_error"):
                    self._seeding = 0  # the backend writes nothing more
                    return self._inner.push(data)
            case "stdout":
                events = self._inner.push(data)
                if self._inner.resume_missing and not self._inner.started:
                    return []  # the backend starts a new session: another invocation follows
                return events
            case "invocation":
                self._start(_object(data, "invocation"))
            case "exit":
                return self._inner.finish(_exit_error(_object(data, "exit")))
        return []

    def text_delta(self, ev: SseEvent) -> tuple[int, str] | None:
        return None  # no fast path: a CLI answers a few events per second, not thousands

    @property
    def ended(self) -> bool:
        # The backend is the gateway's own server, which ends its body right after the run's
        # exit; an "exit" is not final anyway while a failed resume makes way for a new run.
        return False

    def finish(self) -> list[ir.StreamEvent]:
        why = "the claude-cli backend's stream ended before the run's exit"
        return self._inner.finish(ir.ErrorInfo("bad_gateway", why))

    def _start(self, d: JsonObject) -> None:
        self._seeding = 0
        if self._inner.started:
            raise StreamProtocolError("a second CLI run after the answer began")
        tools = d.get("client_tools") or []
        self._inner = CliStreamDecoder(
            self._ctx,
            frozenset(t for t in tools if isinstance(t, str)),
            structured=bool(d.get("structured")),
        )


def response_to_ir(body: Any, ctx: Context) -> ir.Response:
    """A run that was not streamed (``{"events": [...]}``) as one response."""
    events = body.get("events") if isinstance(body, dict) else None
    if not isinstance(events, list):
        raise WireFormatError("claude-cli response must hold the run's events")
    dec = StreamDecoder(ctx)
    out = Collector()
    for e in events:
        if not isinstance(e, dict) or not isinstance(e.get("event"), str):
            raise WireFormatError("claude-cli response: an event must be {event, data}")
        for iev in dec.push(SseEvent(e["event"], str(e.get("data", "")))):
            out.push(iev)
    for iev in dec.finish():
        out.push(iev)
    if out.error is not None:
        raise WireFormatError(f"the Claude Code CLI run failed: {out.error.message}")
    if not out.finished:
        raise WireFormatError("the Claude Code CLI run ended without an answer")
    return out.response()


def response_body(events: list[tuple[str, str]]) -> JsonObject:
    """What the backend answers a request that did not ask to stream."""
    return {"events": [{"event": name, "data": data} for name, data in events]}


def run_events(body: Any) -> list[tuple[str, str]] | None:
    """The run's events in a body the backend answered in one piece: a run not streamed
    (``{"events": [...]}``) or an error before the answer began (under ``"claude_cli"``);
    None for any other body."""
    if isinstance(body, dict) and isinstance(body.get("claude_cli"), dict):
        body = body["claude_cli"]
    events = body.get("events") if isinstance(body, dict) else None
    if not isinstance(events, list):
        return None
    return [
        (e["event"], e["data"] if isinstance(e.get("data"), str) else json.dumps(e.get("data")))
        for e in events
        if isinstance(e, dict) and isinstance(e.get("event"), str)
    ]


def run_facts(events: list[tuple[str | None, str | None]]) -> JsonObject:
    """What the recording keeps of a run beyond its answer, for ``exchanges.extra``:
    ``cost_usd`` (the CLI's ``total_cost_usd``, summed over its processes: a resume that found
    no session is a second one) and ``backend_session`` (where the run left the conversation:
    ``{"id", "cwd", "leaf", "conversation", "name"}``, what a later turn resumes; absent when
    the turn failed). Lenient: a line it cannot read is skipped."""
    cost: float | None = None
    session: JsonObject | None = None
    for event, data in events:
        if not data:
            continue
        if event == STDOUT and '"result"' in data:
            line = _loads(data)
            value = line.get("total_cost_usd")
            if line.get("type") == "result" and isinstance(value, int | float):
                cost = (cost or 0.0) + float(value)
        elif event == EXIT:
            d = _loads(data)
            found = d.get("session")
            session = None
            if isinstance(found, dict) and isinstance(found.get("id"), str):
                session = {k: found.get(k) for k in ("id", "cwd", "leaf")}
                session["conversation"] = d.get("conversation")
                session["name"] = d.get("name")
    out: JsonObject = {}
    if cost is not None:
        out["cost_usd"] = round(cost, 10)
    if session is not None:
        out["backend_session"] = session
    return out


def _loads(data: str) -> JsonObject:
    try:
        d = json.loads(data)
    except (ValueError, RecursionError):
        return {}
    return d if isinstance(d, dict) else {}


def error_body(err: ir.ErrorInfo, events: list[tuple[str, str]]) -> tuple[int, JsonObject]:
    """An error before the answer began: Anthropic's shape, with the run so far."""
    status, body = error_from_ir(err)
    return status, {**body, "claude_cli": response_body(events)}


def _object(data: str, what: str) -> JsonObject:
    try:
        d = json.loads(data)
    except ValueError as e:
        raise StreamProtocolError(f"claude-cli {what} event is not JSON: {data[:200]!r}") from e
    if not isinstance(d, dict):
        raise StreamProtocolError(f"claude-cli {what} event is not an object")
    return d


def _exit_error(d: JsonObject) -> ir.ErrorInfo:
    err = d.get("error")
    if isinstance(err, dict) and isinstance(err.get("message"), str):
        kind = err.get("kind") if err.get("kind") in _ERROR_KINDS else "api_error"
        status = err.get("status") if isinstance(err.get("status"), int) else None
        return ir.ErrorInfo(kind, err["message"], status=status)  # type: ignore[arg-type]
    code = d.get("exit_code")
    why = f"the Claude Code CLI exited with code {code} before its answer"
    stderr = d.get("stderr")
    if isinstance(stderr, str) and stderr.strip():
        why += f": {stderr.strip()[-500:]}"
    return ir.ErrorInfo("bad_gateway", why)


# The codec's remaining halves: no client is ever answered in this dialect.


def response_from_ir(resp: ir.Response, ctx: Context) -> JsonObject:
    raise UnsupportedContentError(_UPSTREAM_ONLY)


def _no_client(*args: object) -> Any:
    raise UnsupportedContentError(_UPSTREAM_ONLY)


def _never(ev: SseEvent) -> bool:
    return False


CODEC: Codec[SseEvent] = FunctionCodec(
    request_to_ir=request_to_ir,
    request_from_ir=request_from_ir,
    response_to_ir=response_to_ir,
    response_from_ir=response_from_ir,
    error_to_ir=error_to_ir,
    error_from_ir=error_from_ir,
    error_event=_no_client,
    is_terminal=_never,
    is_token=_never,
    frames=SseParser,
    stream_decoder=StreamDecoder,
    stream_encoder=_no_client,
    models_body=_no_client,
)
