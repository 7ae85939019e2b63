"""Recorder addon: writes every HTTP flow's Exchange to DuckDB without blocking the event loop.

Options:
  ``recorder_db``        DuckDB file, default ``traffic.duckdb`` in the working directory.
                         The empty string disables recording (and the query endpoint).
  ``recorder_flush_ms``  how long the writer process gathers a batch (default 50 ms): the most
                         a ``kill -9`` of that process can lose (killed, the gateway loses only
                         what had not yet crossed the pipe to it).
  ``recorder_cassette``  a cassette directory (``cassettes/new``) that receives every exchange of
                         the run too, in the format of ``recorder export``; empty (default): none.
                         Written by its own thread about once a second while traffic flows and
                         completely in ``done`` (SIGTERM/SIGINT). An existing non-empty directory
                         is a start-up error unless ``recorder_cassette_overwrite=true``. A run
                         that recorded nothing writes nothing.

The two sinks are independent: ``--set recorder_cassette=cassettes/new`` records into the
cassette *and* ``traffic.duckdb``; add ``--set recorder_db=`` to record into the cassette only.

The gateway puts one :class:`~recorder.exchange.Exchange` per flow in
``flow.metadata["tapegate.exchange"]``; without the gateway (pure pass-through recording, or
explicit-proxy traffic the gateway leaves alone) this addon builds one from the flow itself.
``response`` and ``error`` hooks only enqueue (mitmproxy calls ``error``, not ``response``, when a
client disconnects mid-stream; the events taped so far are kept). The database is written by a
child process (:mod:`recorder.store.writer_process`: the proxy's event loop never waits for
DuckDB, not even for the interpreter lock; under mitmdump it starts while the gateway's modules
load, :mod:`addons.prestart`), which also serves ``recorder query`` on a loopback
endpoint while it holds the file (DuckDB lets no other process open it, see
:mod:`recorder.store.query_server`); its sidecar file ``<db>.tapegate.json`` is removed in ``done``.

Recording is all or nothing. No request reaches an upstream unless the recorder can take it
(:meth:`Recorder.refusal`; the gateway asks before it forwards or retries anything). A writer
process that dies is restarted once and sent again whatever it had not stored; an exchange it
cannot store in full is stored as a failed row with the reason (see
:mod:`recorder.store.writer`). If recording fails for good, the addon logs an error on every
request and answers ``503`` in the client's dialect with ``x-should-retry: false``, never
retried by the gateway nor forwarded: like mitmproxy's ``save`` addon, it would rather fail
visibly than let traffic through unrecorded. While the writer is more than 256 MB behind, new
requests get the same 503 (with ``retry-after: 1`` instead) until it catches up.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from mitmproxy import ctx, http
from mitmproxy.addonmanager import Loader

from addons.metadata import DELIVERED, EXCHANGE, HEALTH_CHECK, RECORDED, REJECTED
from addons.startup import on_refusal, refuse
from recorder import dialects, ir, secrets
from recorder.codecs.responses_history import StoredConversations, Turn
from recorder.exchange import (
    Exchange,
    HttpRequest,
    HttpResponse,
    Leg,
    RecordedEvent,
    redact_headers,
    redact_url,
)
from recorder.sse import SseParser
from recorder.store import StoreError
from recorder.store.lookup import find_backend_session, find_turn
from recorder.store.query_server import remote_query
from recorder.store.results import QueryResult
from recorder.store.spawn import discard_prestarted, remove_database
from recorder.store.writer_process import WriterProcess
from replay.cassette import CassetteError

if TYPE_CHECKING:
    from replay.export import CassetteWriter

log = logging.getLogger(__name__)


class Recorder:
    def __init__(self) -> None:
        self.writer: WriterProcess | None = None
        self.db: str | None = None  # the writer's file
        self.cassette: CassetteWriter | None = None

    def load(self, loader: Loader) -> None:
        loader.add_option(
            "recorder_db", str, "traffic.duckdb",
            "DuckDB file recording every exchange and SSE event; empty string disables recording.",
        )  # fmt: skip
        loader.add_option(
            "recorder_flush_ms", int, 50,
            "Recorder batch interval in ms (the most a kill -9 of the writer process can lose).",
        )  # fmt: skip
        loader.add_option(
            "recorder_cassette", str, "",
            "Cassette directory that also receives every recorded exchange (written completely "
            "at shutdown); empty: none. recorder_db= (empty) records into the cassette only.",
        )  # fmt: skip
        loader.add_option(
            "recorder_cassette_overwrite", bool, False,
            "Allow recorder_cassette to name an existing non-empty directory (replaced).",
        )  # fmt: skip
        loader.add_option(
            "recorder_cassette_world_readable", bool, False,
            "Create recorder_cassette's files 0644 (to commit after review); default 0600.",
        )  # fmt: skip
        loader.add_option(
            "recorder_redact", str, "",
            "More header names / query parameters whose values are secrets, comma-separated "
            "patterns (x-tenant-id,*session*), added to the built-in deny-list (*token*, "
            "*secret*, *password*, *signature*, *key*, *auth*, cookie, ...: docs/schema.md).",
        )  # fmt: skip

    def configure(self, updated: set[str]) -> None:
        if "recorder_redact" in updated:
            secrets.extend(secrets.parse_patterns(ctx.options.recorder_redact))
        cassette = {"recorder_cassette", "recorder_cassette_overwrite"}
        if (cassette | {"recorder_cassette_world_readable"}) & updated:
            self._close_cassette()
            if ctx.options.recorder_cassette:
                try:
                    self._open_cassette(ctx.options.recorder_cassette)
                except (CassetteError, OSError) as e:
                    refuse(str(e), e)
        if not {"recorder_db", "recorder_flush_ms", "recorder_redact"} & updated:
            return  # (the writer process reads the deny-list's extension when it starts)
        self._close()
        if not ctx.options.recorder_db:
            discard_prestarted()  # addons.prestart started one for nothing
            return
        try:
            self._open(ctx.options.recorder_db, ctx.options.recorder_flush_ms / 1000)
        except StoreError as e:
            self._close_cassette()  # a start that fails here ends the process
            refuse(str(e), e)

    @property
    def recording(self) -> bool:
        """A sink is open: exchanges handed over are stored."""
        return self.writer is not None or self.cassette is not None

    def refusal(self) -> Refusal | None:
        """Why no request may reach an upstream now (None: every open sink can take it).

        The gateway asks before it forwards anything (retries included); :meth:`request`
        refuses whatever else passes through the proxy."""
        why = "tapegate is not recording, so it refuses traffic"
        if self.writer is not None and (lag := self.writer.refusal()) is not None:
            return Refusal(f"{why}: {lag}", final=self.writer.failed is not None)
        if self.cassette is not None and self.cassette.failed is not None:
            where, failed = self.cassette.directory, self.cassette.failed
            return Refusal(f"{why}: writing {where} failed ({failed})", final=True)
        return None

    def counts(self) -> dict[str, int] | None:
        """The writer's counts since the gateway started (None: no database is written):
        exchanges stored, of those stored only as failed rows, not stored at all, and how
        often the writer process was restarted; once it failed for good, how many handed to it
        were not confirmed stored. Each failed, skipped or unconfirmed one was logged too."""
        w = self.writer
        if w is None:
            return None
        return {
            "stored": w.written, "failed_rows": w.unstorable, "not_recorded": w.skipped,
            "writer_restarts": w.restarts, "unconfirmed": len(w.unconfirmed),
        }  # fmt: skip

    @property
    def can_look_up(self) -> bool:
        """Recorded answers can be found by id (a database is being written)."""
        return self.writer is not None

    async def recorded_turn(
        self, recipe: StoredConversations, dialect: str, response_id: str
    ) -> Turn | None:
        """The recorded exchange whose client got the answer ``response_id`` (its request and
        that answer), asked of the writer process off mitmproxy's loop. An answer just given
        may still be on its way to the writer: a miss waits for what was handed over, once."""
        writer, db = self.writer, self.db
        if writer is None or db is None:
            return None

        def run(sql: str, params: list[Any]) -> QueryResult:
            return remote_query(db, sql, params, timeout=10.0)

        def look() -> Turn | None:
            found = find_turn(run, recipe, dialect, response_id)
            if found is None and writer.flush(timeout=5.0):
                found = find_turn(run, recipe, dialect, response_id)
            return found

        return await asyncio.to_thread(look)

    async def recorded_backend_session(
        self, backend: str, kind: Literal["conversation", "name"], value: str
    ) -> dict[str, Any] | None:
        """Where the recording says ``backend``'s runs left a conversation (by its key, or the
        name its client gave it), asked of the writer process off mitmproxy's loop. A
        recording that cannot answer is logged and taken as "not known": the conversation
        then starts a new backend session, seeded with its history."""
        db = self.db
        if self.writer is None or db is None:
            return None

        def run(sql: str, params: list[Any]) -> QueryResult:
            return remote_query(db, sql, params, timeout=5.0)

        def look() -> dict[str, Any] | None:
            if kind == "name":
                return find_backend_session(run, backend, name=value)
            return find_backend_session(run, backend, conversation=value)

        try:
            return await asyncio.to_thread(look)
        except (StoreError, OSError, ValueError) as e:
            log.warning(f"tapegate: could not look up a {backend} session in {db}: {e}")
            return None

    def request(self, flow: http.HTTPFlow) -> None:
        # The gateway asked already for its own flows (and answers in its own way).
        if flow.response is not None or EXCHANGE in flow.metadata:
            return
        refused = self.refusal()
        if refused is None:
            return
        log.error(refused.message)
        flow.metadata[RECORDED] = True  # nothing to record: the writer is down
        flow.response = refusal(flow, refused)

    def response(self, flow: http.HTTPFlow) -> None:
        self._record(flow)
        scrub(flow)

    def error(self, flow: http.HTTPFlow) -> None:
        self._record(flow)
        scrub(flow)

    def done(self) -> None:
        self._close()
        self._close_cassette()

    # ------------------------------------------------------------------

    def _open(self, path: str, flush_interval: float) -> None:
        on_refusal(self._undo_open)
        writer = WriterProcess(
            path,
            flush_interval=flush_interval,
            on_error=self._writer_failed,
            on_restart=self._writer_restarted,
        )
        self.writer = writer.start()
        self.db = path
        log.debug(f"tapegate: recording to {path} (queries: 127.0.0.1:{writer.query_port})")

    def _undo_open(self) -> None:
        """The start was refused after the database opened (a port in use): one this start
        created, holding nothing, goes with it."""
        writer, db = self.writer, self.db
        if writer is None or db is None or not writer.created or writer.written:
            return
        self._close()
        remove_database(db)

    def _close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            w = self.writer
            if w.skipped or w.unstorable:  # each was logged as it happened; the sum once more
                log.error(
                    f"tapegate: of the exchanges recorded to {self.db}, {w.skipped} could not "
                    f"be stored at all and {w.unstorable} only as failed rows (see the log)"
                )
            self.writer = None
            self.db = None

    def _open_cassette(self, directory: str) -> None:
        # Loaded only when a cassette is recorded: it brings the exporter's summaries along.
        from replay.export import CassetteWriter, refuse_overwrite

        if not ctx.options.recorder_cassette_overwrite:
            try:
                refuse_overwrite(directory)
            except CassetteError as e:
                raise CassetteError(
                    f"recorder_cassette: {e}; choose a new directory or set "
                    "recorder_cassette_overwrite=true to replace it"
                ) from None
        self.cassette = CassetteWriter(
            directory,
            on_error=self._writer_failed,
            world_readable=ctx.options.recorder_cassette_world_readable,
        ).start()
        log.debug(f"tapegate: recording into cassette {directory}")

    def _close_cassette(self) -> None:
        if self.cassette is not None:
            self.cassette.close()  # writes the final cassette
            if self.cassette.failed is None and self.cassette.written:
                n, d = self.cassette.written, self.cassette.directory
                log.info(f"tapegate: cassette {d} written ({n} exchanges)")
            self.cassette = None

    def _writer_failed(self, e: BaseException) -> None:
        # Runs on the writer thread. stderr too: a log handler may itself be what broke.
        msg = f"tapegate: RECORDING FAILED, traffic will be refused: {type(e).__name__}: {e}"
        lost = self.writer.unconfirmed if self.writer is not None else []
        if lost:  # answered already, handed over, and not known to be stored
            msg += (
                f"; {len(lost)} exchange(s) handed to it were not confirmed stored (those "
                f"{self.db} does not hold are NOT recorded): {', '.join(lost)}"
            )
        log.error(msg)
        print(msg, file=sys.stderr, flush=True)

    def _writer_restarted(self, why: str) -> None:
        # Runs on the writer's reader thread. The new writer is sent what the old one had not
        # stored; a second death stops recording (and so the traffic).
        msg = f"tapegate: the recorder's writer process {why.removeprefix('writer process ')}; "
        msg += "restarted it once (nothing handed over is lost)"
        log.error(msg)
        print(msg, file=sys.stderr, flush=True)

    def _record(self, flow: http.HTTPFlow) -> None:
        if (self.writer is None and self.cassette is None) or flow.metadata.get(RECORDED):
            return
        if flow.metadata.get(HEALTH_CHECK):
            return  # answered by the gateway; counted there, not recorded
        if flow.metadata.get(REJECTED):
            return  # refused by mitmproxy; recorded by the gateway (addons.request.rejections)
        flow.metadata[RECORDED] = True
        ex = flow.metadata.get(EXCHANGE)
        if isinstance(ex, Exchange):
            finish(ex, flow)
        else:
            ex = exchange_from_flow(flow)
        self.record(ex)

    def record(self, ex: Exchange) -> None:
        """Store ``ex`` (an exchange that no flow hook brings: a request mitmproxy refused)."""
        for sink in (self.writer, self.cassette):
            try:
                if sink is not None:
                    sink.put(ex)
            except (StoreError, CassetteError) as e:
                log.error(f"tapegate: exchange {ex.id} NOT recorded: {e}")


def scrub(flow: http.HTTPFlow) -> None:
    """Redact the secrets of a finished flow's request in place (it was sent already), so that
    whatever shows flows after the recorder (mitmdump's flow lines, mitmweb) shows none. The
    record was taken already, redacted on its own. (The response is left alone: mitmproxy
    sends it to the client after this hook.)"""
    fields = flow.request.headers.fields
    if any(secrets.is_secret(k.decode("latin-1")) for k, _ in fields):
        flow.request.headers.fields = tuple(
            (k, b"[redacted]" if secrets.is_secret(k.decode("latin-1")) else v) for k, v in fields
        )
    if "=" in flow.request.path:
        path = secrets.redact_url(flow.request.path)
        if path != flow.request.path:
            flow.request.data.path = path.encode()


def finish(ex: Exchange, flow: http.HTTPFlow) -> None:
    """Complete what a gateway exchange may lack when the flow ended in an error."""
    if flow.error is not None and ex.error is None and not flow.metadata.get(DELIVERED):
        ex.error = flow.error.msg
    if ex.t_end is None:
        ex.t_end = time.time() - ex.started_at


@dataclass(frozen=True, slots=True)
class Refusal:
    message: str
    final: bool  # recording failed for good (not merely behind): clients should not retry

    @property
    def headers(self) -> dict[str, str]:
        # The official SDKs retry a 503 unless told not to; a writer that is behind catches up.
        return {"x-should-retry": "false"} if self.final else {"retry-after": "1"}


def refusal(flow: http.HTTPFlow, refused: Refusal) -> http.Response:
    """A 503 in the client's dialect."""
    req = flow.request
    client = dialects.guess_client(req.path.split("?", 1)[0], req.headers)
    err = ir.ErrorInfo("api_error", refused.message, code="recorder_failed")
    _, body = dialects.codec(client).error_from_ir(err)
    headers = {"content-type": "application/json"} | refused.headers
    return http.Response.make(503, json.dumps(body), headers)


def exchange_from_flow(flow: http.HTTPFlow) -> Exchange:
    """A pass-through Exchange from the flow alone: both legs equal, events parsed from the body
    (its answer is read by the sinks, :func:`recorder.summary.settle`)."""
    req, resp = flow.request, flow.response
    started = req.timestamp_start
    body = req.get_content(strict=False)
    req_json = _json(body)
    spec = dialects.recorded(req.host, req.path.split("?", 1)[0])
    dialect = spec.name if spec is not None else None
    leg = HttpRequest(
        req.method, redact_url(req.url), redact_headers(_header_pairs(req.headers)), body
    )
    ex = Exchange(
        id=flow.id,
        started_at=started,
        client_dialect=dialect,
        upstream_dialect=dialect,
        client_request=leg,
        upstream_request=HttpRequest(leg.method, leg.url, list(leg.headers), leg.body),
        extra={"recorded_by": "pass-through"},
    )
    if isinstance(req_json, dict):
        ex.model_requested = ex.model_sent = req_json.get("model")
        ex.stream = req_json.get("stream") is True
    if resp is not None:
        resp_body = resp.get_content(strict=False) if resp.raw_content is not None else None
        headers = redact_headers(_header_pairs(resp.headers))
        ex.upstream_response = HttpResponse(resp.status_code, headers, resp_body)
        ex.client_response = HttpResponse(resp.status_code, list(headers), resp_body)
        ex.t_upstream_first_byte = resp.timestamp_start - started
        if resp.timestamp_end is not None:
            ex.t_end = resp.timestamp_end - started
        is_sse = "text/event-stream" in resp.headers.get("content-type", "")
        ex.stream = ex.stream or is_sse
        if is_sse and resp_body:
            ex.events = _events(resp_body, ex.t_end or ex.t_upstream_first_byte)
    if flow.error is not None and req.timestamp_end is None:
        # The client's request never arrived whole (a malformed chunked body, a hang-up
        # mid-body): the client's error, and nothing was answered (mitmproxy sends even a
        # response an addon set early only once the request is read).
        ex.error = f"client request incomplete: {flow.error.msg}"
        ex.extra["client_error"] = True
        ex.upstream_response = ex.client_response = None
    elif flow.error is not None:
        ex.error = flow.error.msg
    if ex.t_end is None:
        ex.t_end = time.time() - started
    return ex


def _json(raw: bytes | None) -> Any:
    try:
        return json.loads(raw) if raw else None
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None


def _header_pairs(headers: http.Headers) -> list[tuple[str, str]]:
    return [(k, v) for k, v in headers.items(multi=True)]  # type: ignore[no-untyped-call]


def _events(body: bytes, t: float) -> list[RecordedEvent]:
    """A buffered SSE body as events on both legs (same bytes); its timing is not known."""
    parser = SseParser()
    parsed = parser.feed(body) + parser.close()
    out: list[RecordedEvent] = []
    legs: tuple[Leg, Leg] = ("upstream", "client")
    for leg in legs:
        out += [RecordedEvent(leg, i, t, e.event, e.data, e.comment) for i, e in enumerate(parsed)]
    return out


# ``mitmdump -s addons/recorder_hooks.py`` records plain pass-through traffic without the gateway.
addons = [Recorder()]
