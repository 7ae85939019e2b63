"""One client turn answered by the CLI, end to end: pick the session, take a pool slot, start the
CLI, write the conversation, answer its control requests, decode its output into IR events, and
end the process for sure (answer complete, client gone, timeout, crash).

Usage (the gateway; ``aclosing`` so that a client that goes away ends the CLI at once)::

    turn = backend.turn(request, ctx, policy)          # UnsupportedContentError -> 400
    async with contextlib.aclosing(turn.events()) as events:   # PoolBusyError -> 429
        async for ev in events: ...                    # ir.StreamEvent, ending in Finish or
                                                       # StreamError (status in its ErrorInfo)
    turn.transcripts                                   # for the recording
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import AsyncGenerator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from recorder import ir
from recorder.claude_cli import control
from recorder.claude_cli.invocation import CliPolicy, Invocation, SessionRef, build_argv, cli_env
from recorder.claude_cli.models import cli_model
from recorder.claude_cli.pool import CliPool
from recorder.claude_cli.probe import CliUnavailableError
from recorder.claude_cli.process import CliExitedError, CliProcess, Transcript
from recorder.claude_cli.sessions import CliSession, Recorded, SessionStore, conversation_key
from recorder.codecs import anthropic as anthropic_codec
from recorder.codecs.claude_cli_input import TurnInput, turn_input
from recorder.codecs.claude_cli_stream import CliStreamDecoder
from recorder.codecs.collect import Collector
from recorder.context import Context
from recorder.errors import UnsupportedContentError

__all__ = ["ClaudeCliBackend", "CliSettings", "CliTurn", "CliUnavailableError", "Listener"]

JsonObject = dict[str, Any]

# Hears the run as it happens: ("invocation" | "stdin" | "stdout" | "exit", JSON text).
Listener = Callable[[str, str], None]

INIT_REQUEST_ID: Final = "tapegate-init"
DEFAULT_TIMEOUT: Final = 600.0


@dataclass(frozen=True, slots=True)
class CliSettings:
    executable: str
    workdir: Path  # per-session working directories go under it (never the gateway's cwd)
    timeout: float = DEFAULT_TIMEOUT  # a whole turn, in seconds (claude_cli_timeout)
    kill_grace: float = 3.0  # SIGTERM -> SIGKILL


class ClaudeCliBackend:
    """The CLI as a backend: settings, the gateway's environment, the pool and the sessions."""

    def __init__(
        self,
        settings: CliSettings,
        env: Mapping[str, str],
        pool: CliPool | None = None,
        sessions: SessionStore | None = None,
        new_session_id: Callable[[], str] = lambda: str(uuid.uuid4()),
        recorded: Recorded | None = None,
    ) -> None:
        self.settings = settings
        self.env = dict(env)
        self.pool = pool or CliPool()
        self.sessions = sessions or SessionStore()
        self.new_session_id = new_session_id
        # Asked when memory does not know a conversation (the recording's session map).
        self.recorded = recorded

    def turn(
        self,
        turn: TurnInput,
        model: str,
        ctx: Context,
        policy: CliPolicy | None = None,
        *,
        namespace: str = "",
        name: str | None = None,
        listener: Listener | None = None,
    ) -> CliTurn:
        """Prepare a turn; UnsupportedContentError / WireFormatError for what cannot be sent."""
        return CliTurn(self, turn, model, ctx, policy or CliPolicy(), namespace, name, listener)

    def turn_for(
        self, req: ir.Request, ctx: Context, policy: CliPolicy | None = None, **kw: Any
    ) -> CliTurn:
        """A turn for an IR request (translated here rather than by the gateway's codec)."""
        return self.turn(turn_input(req, ctx), req.model, ctx, policy, **kw)

    async def shutdown(self) -> None:
        await self.pool.shutdown(self.settings.kill_grace)


class CliTurn:
    def __init__(
        self,
        backend: ClaudeCliBackend,
        turn: TurnInput,
        model: str,
        ctx: Context,
        policy: CliPolicy,
        namespace: str,
        name: str | None,
        listener: Listener | None = None,
    ) -> None:
        self._b = backend
        self._ctx = ctx
        self.policy = policy
        self.model = cli_model(model)  # a bad name fails now, before any process
        self.input = turn
        for tool in turn.tools:
            if tool["name"] in policy.tools:
                raise UnsupportedContentError(
                    f"tool {tool['name']!r} is also a built-in tool this route lets the CLI run"
                )
        self.namespace = namespace if name is None else f"name:{name}"
        self.name = name
        self.transcripts: list[Transcript] = []
        self.session: CliSession | None = None  # where the answer left the conversation
        self.resumed_from: CliSession | None = None  # where it continued from (None: new)
        self.conversation_key: str | None = None  # what the next turn will look the session up by
        self._client_tools = frozenset(t["name"] for t in turn.tools)
        self.decoder = self._decoder()
        self.collector = Collector()
        self._listener = listener
        self._named: CliSession | None = None
        self._key: str | None = None
        self._init_error: ir.ErrorInfo | None = None
        self._pending: list[ir.StreamEvent] = []
        self._exited = 0  # processes whose exit the listener heard

    def _decoder(self) -> CliStreamDecoder:
        structured = self.input.json_schema is not None
        return CliStreamDecoder(self._ctx, self._client_tools, structured=structured)

    # ----------------------------------------------------------------- the turn

    async def events(self) -> AsyncGenerator[ir.StreamEvent]:
        start = await self._plan()
        try:
            async with self._b.pool.slot():
                async with contextlib.aclosing(self._attempt(start)) as attempt:
                    async for ev in attempt:
                        yield ev
                if start is not None and self.decoder.resume_missing and not self.decoder.started:
                    # the CLI no longer has that session (its files were removed): seed anew
                    self._ctx.note("session", f"CLI session {start.id} is gone; seeded a new one")
                    if self._key is not None:
                        self._b.sessions.forget(self._key)
                    self.resumed_from = None
                    self._tell_exit(None)
                    self.decoder = self._decoder()
                    self.collector = Collector()
                    async with contextlib.aclosing(self._attempt(None)) as attempt:
                        async for ev in attempt:
                            yield ev
        finally:
            self._commit(start)
            self._tell_exit(self.collector.error)

    async def _plan(self) -> CliSession | None:
        """The point to resume from (None: a new session): memory first, then the recording."""
        store, recorded = self._b.sessions, self._b.recorded
        if self.name is not None:
            if recorded is not None and not store.knows_name(self.name):
                found = await recorded("name", self.name)
                if found is not None:
                    store.adopt_named(self.name, found)
            self._named = store.begin_named(self.name)
            if self._named is not None and not self.input.history:
                self.resumed_from = self._named  # the client sends only the new turn
                return self._named
        if not self.input.history:
            return None
        self._key = conversation_key(self.namespace, self.input.system, self.input.history)
        if recorded is not None and not store.knows(self._key):
            found = await recorded("conversation", self._key)
            if found is not None:
                store.adopt(self._key, found)
        self.resumed_from = store.checkout(self._key)
        return self.resumed_from

    async def _attempt(self, start: CliSession | None) -> AsyncGenerator[ir.StreamEvent]:
        settings = self._b.settings
        if start is None:
            sid = self._b.new_session_id()
            ref = SessionRef(sid, resume=False)
            cwd = settings.workdir / sid
        else:
            ref = SessionRef(start.id, resume=True, leaf=start.leaf)
            cwd = start.cwd
        schema = self.input.json_schema
        argv = build_argv(
            settings.executable,
            self.model,
            self.policy,
            ref,
            client_tools=bool(self.input.tools),
            effort=self.input.effort,
            json_schema=None if schema is None else json.dumps(schema),
        )
        inv = Invocation(argv, cli_env(self._b.env, self.policy), cwd)
        try:
            proc = await CliProcess.spawn(inv, on_line=self._tell_line)
        except OSError as e:
            raise CliUnavailableError(
                f"cannot run the Claude Code CLI {settings.executable!r}: {e.strerror or e}; "
                "install it or set claude_cli_path"
            ) from e
        self.transcripts.append(proc.transcript)
        self._b.pool.track(proc)
        self._tell(
            "invocation",
            {
                "argv": list(argv),
                "env": inv.env_names,
                "cwd": str(cwd),
                "session": {"id": ref.id, "resume": ref.resume, "leaf": ref.leaf},
                "client_tools": sorted(self._client_tools),
                "structured": self.input.json_schema is not None,
            },
        )
        try:
            async with contextlib.aclosing(self._drive(proc, resumed=start is not None)) as evs:
                async for ev in evs:
                    yield ev
        finally:
            await self._end(proc)
            self._b.pool.untrack(proc)
            if self.decoder.result is not None and not self.decoder.client_tool_call:
                if not self.decoder.result.get("is_error") and self.decoder.leaf is not None:
                    self.session = CliSession(ref.id, cwd, self.decoder.leaf)

    async def _drive(self, proc: CliProcess, *, resumed: bool) -> AsyncGenerator[ir.StreamEvent]:
        deadline = _Deadline(self._b.settings.timeout)
        system = self.input.system
        init = control.initialize(
            INIT_REQUEST_ID,
            system if system or self.policy.system_prompt == "replace" else None,
            append=self.policy.system_prompt == "append",
            mcp=bool(self.input.tools),
        )
        lines = self.input.lines(resumed=resumed)
        try:
            await proc.send(init)
            for line in lines[:-1]:  # the history, without model calls
                await proc.send(line.data)
                if line.wait and not await self._seeded(proc, deadline):
                    break
            else:
                await proc.send(lines[-1].data)
        except CliExitedError:
            pass  # what it wrote before it went is read below
        if resumed and self.decoder.resume_missing:
            return
        for ev in self._pending:
            self.collector.push(ev)
            yield ev
        while not self.decoder.done:
            try:
                text = await proc.readline(deadline.left())
            except TimeoutError:
                await proc.stop("claude_cli_timeout", self._b.settings.kill_grace)
                why = f"the Claude Code CLI did not answer within {self._b.settings.timeout:g} s"
                err = ir.ErrorInfo("timeout", why + " (claude_cli_timeout)")
                for ev in self.decoder.finish(err):
                    self.collector.push(ev)
                    yield ev
                return
            except CliExitedError as e:
                events = self.decoder.finish(ir.ErrorInfo("bad_gateway", str(e)))
            else:
                if text is None:
                    events = self.decoder.finish(await self._exit_error(proc))
                elif not await self._control(proc, text):
                    events = self.decoder.push(text)
                elif self._init_error is not None:
                    events = self.decoder.finish(self._init_error)
                else:
                    continue
            if resumed and self.decoder.resume_missing:
                return
            for ev in events:
                self.collector.push(ev)
                yield ev

    async def _seeded(self, proc: CliProcess, deadline: _Deadline) -> bool:
        """Read up to the ``result`` of a history line; False if the CLI failed instead."""
        while True:
            try:
                text = await proc.readline(deadline.left())
            except (TimeoutError, CliExitedError):
                return False
            if text is None:
                return False
            if await self._control(proc, text):
                continue
            line = _json(text)
            if line.get("type") == "result":
                if line.get("is_error"):
                    self._pending = self.decoder.push(text)  # its error is the answer's error
                    return False
                return True

    async def _control(self, proc: CliProcess, text: str) -> bool:
        """Answer a control request; True if ``text`` was one (or a reply to ours)."""
        if '"control_' not in text:  # cheap test before parsing every stream event
            return False
        line = _json(text)
        kind = line.get("type")
        if kind == "control_response":
            response = line.get("response") or {}
            if response.get("request_id") == INIT_REQUEST_ID and response.get("subtype") == "error":
                why = f"the Claude Code CLI refused its initialize request: {response.get('error')}"
                self._init_error = ir.ErrorInfo("bad_gateway", why)
            return True
        if kind != "control_request":
            return False
        reply = control.answer(line, self.input.tools)
        if isinstance(reply, dict):
            with contextlib.suppress(CliExitedError):
                await proc.send(reply)
        return True

    async def _exit_error(self, proc: CliProcess) -> ir.ErrorInfo:
        grace = self._b.settings.kill_grace
        code = await proc.wait(grace)
        if code is None:
            code = await proc.stop("its output ended but it did not exit", grace)
        stderr = proc.transcript.stderr.strip()
        tail = f": {stderr[-500:]}" if stderr else ""
        return ir.ErrorInfo(
            "bad_gateway", f"the Claude Code CLI exited with code {code} before its answer{tail}"
        )

    async def _end(self, proc: CliProcess) -> None:
        grace = self._b.settings.kill_grace
        if not proc.running:
            await proc.wait(grace)
            return
        if not self.decoder.done:
            await proc.stop("the client went away", grace)
        elif self.decoder.client_tool_call:
            await proc.stop("the answer ended in the client's tool call", grace)
        else:
            proc.close_stdin()  # the CLI exits after its turn; read what it still writes
            with contextlib.suppress(TimeoutError, CliExitedError):
                while await proc.readline(grace) is not None:
                    pass
            if await proc.wait(grace) is None:
                await proc.stop("it did not exit after its answer", grace)

    def _commit(self, start: CliSession | None) -> None:
        store = self._b.sessions
        after = self.session
        if after is not None and not (self.name is not None and not self.input.history):
            # (a client that sends only new turns has no history to look up next time)
            conversation = [
                *self.input.history,
                *self.input.turn,
                _answer_message(self.collector.response(), self._ctx),
            ]
            self.conversation_key = conversation_key(
                self.namespace, self.input.system, conversation
            )
            store.remember(self.conversation_key, after)
        if start is not None and start is not self._named:
            store.release(start)
        if self.name is not None:
            store.end_named(self.name, self._named, after)

    # ----------------------------------------------------------------- the listener

    def _tell(self, event: str, data: JsonObject) -> None:
        if self._listener is not None:
            self._listener(event, json.dumps(data, ensure_ascii=False))

    def _tell_line(self, stream: str, text: str) -> None:
        if self._listener is not None:
            self._listener(stream, text)

    def _tell_exit(self, error: ir.ErrorInfo | None) -> None:
        """The last spawned process ended: its exit code, stderr, and where it left things."""
        if self._exited >= len(self.transcripts):
            return
        self._exited = len(self.transcripts)
        last = self.transcripts[-1]
        session = self.session
        self._tell(
            "exit",
            {
                "exit_code": last.exit_code,
                "killed": last.killed,
                "stderr": last.stderr,
                "error": None
                if error is None
                else {"kind": error.kind, "message": error.message, "status": error.status},
                "session": None
                if session is None
                else {"id": session.id, "cwd": str(session.cwd), "leaf": session.leaf},
                "conversation": self.conversation_key,
                "name": self.name,  # the client's x-tapegate-session, if it named one
                # when each stdin/stdout line happened, in seconds from the start: the events
                # before the answer began reach the gateway together
                "times": [round(t, 4) for t, _, _ in last.lines],
            },
        )


def _answer_message(resp: ir.Response, ctx: Context) -> JsonObject:
    """The answer as the Anthropic assistant message a client will send back next turn."""
    sub = Context(client="anthropic", upstream="anthropic", ids=ctx.ids)
    body = anthropic_codec.response_from_ir(resp, sub)
    return {"role": "assistant", "content": body["content"]}


def _json(text: str) -> JsonObject:
    try:
        d = json.loads(text)
    except ValueError:
        return {}
    return d if isinstance(d, dict) else {}


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self._end = time.monotonic() + seconds

    def left(self) -> float:
        return max(0.0, self._end - time.monotonic())
