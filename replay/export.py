"""Recorded :class:`recorder.exchange.Exchange` values -> a cassette directory.

The client leg's stream is rebuilt from its recorded events (the gateway wrote them, so their
encoding is the wire); the upstream leg's from the raw chunks when the recorder kept them (true
wire chunking), else from its events. Exchanges are written in start order, so a cassette
re-exported from the same traffic gives the same files.

:class:`CassetteWriter` does the same for a live run (the recorder addon's ``recorder_cassette``):
exchanges are put on a queue and a background thread rewrites the cassette as they come.
"""

from __future__ import annotations

import dataclasses
import os
import queue
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from recorder.exchange import Exchange, HttpRequest, HttpResponse, Leg
from recorder.sse import SseEvent, encode
from recorder.store.sessions import session_id_for
from recorder.summary import settle
from replay.cassette import (
    CASSETTE_FILE,
    Cassette,
    CassetteError,
    Interaction,
    LegRecord,
    Request,
    Response,
    Stream,
    clean_headers,
    save,
)


def _round(t: float | None) -> float | None:
    return None if t is None else round(t, 4)


def _events_stream(ex: Exchange, leg: Leg) -> Stream:
    return Stream.from_chunks(
        (e.t, encode(SseEvent(event=e.event, data=e.data, comment=e.comment)))
        for e in ex.events
        if e.leg == leg
    )


def _leg(
    ex: Exchange, leg: Leg, req: HttpRequest | None, resp: HttpResponse | None
) -> LegRecord | None:
    if req is None:
        return None
    request = Request(req.method, req.url, clean_headers(req.headers), req.body)
    if resp is None:
        return LegRecord(request, None)
    stream = None
    # A stream: the client asked for one, or the upstream streams in its own framing even to
    # a client that asked for one body (Kiro), whose raw chunks are then all there is.
    if resp.body is None and (ex.stream or (leg == "upstream" and ex.chunks)):
        if leg == "upstream" and ex.chunks:
            stream = Stream.from_chunks((c.t, c.data) for c in ex.chunks)
        else:
            stream = _events_stream(ex, leg)
    response = Response(resp.status, clean_headers(resp.headers), resp.body, stream)
    return LegRecord(request, response)


def _meta(ex: Exchange) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "route": ex.route,
        "session_id": ex.session_id,
        "model_sent": ex.model_sent,
        "model_answered": ex.model_answered,
        "stop_reason": ex.stop_reason,
        "error": ex.error,
        "t_upstream_first_byte": _round(ex.t_upstream_first_byte),
        "t_first_token": _round(ex.t_first_token),
        "t_end": _round(ex.t_end),
    }
    if ex.usage is not None:
        usage = dataclasses.asdict(ex.usage)
        meta["usage"] = {k: v for k, v in usage.items() if v not in (None, {})}
    if ex.notes:
        meta["notes"] = [{"path": n.path, "reason": n.reason} for n in ex.notes]
    meta["upstream_options"] = ex.extra.get("upstream_options")
    return {k: v for k, v in meta.items() if v is not None}


def to_interaction(ex: Exchange, index: int) -> Interaction:
    return Interaction(
        index=index,
        client=_leg(ex, "client", ex.client_request, ex.client_response),
        upstream=_leg(ex, "upstream", ex.upstream_request, ex.upstream_response),
        id=ex.id,
        client_dialect=ex.client_dialect,
        upstream_dialect=ex.upstream_dialect,
        model=ex.model_requested,
        stream=ex.stream,
        meta=_meta(ex),
    )


def to_cassette(
    exchanges: Iterable[Exchange], name: str, on_each: Callable[[], None] | None = None
) -> Cassette:
    """``on_each`` is called after each exchange is converted (a progress bar's advance)."""
    ordered: Sequence[Exchange] = sorted(exchanges, key=lambda e: (e.started_at, e.id))
    interactions = []
    for i, ex in enumerate(ordered):
        interactions.append(to_interaction(ex, i))
        if on_each is not None:
            on_each()
    return Cassette(name, interactions)


def export(
    exchanges: Iterable[Exchange],
    directory: str | os.PathLike[str],
    name: str | None = None,
    *,
    world_readable: bool = False,
    on_each: Callable[[], None] | None = None,
) -> Cassette:
    """Write ``exchanges`` as the cassette ``directory`` (its name defaults to the folder's);
    files 0600 unless ``world_readable`` (see :func:`replay.cassette.save`). ``on_each``: see
    :func:`to_cassette`."""
    d = Path(directory)
    cassette = to_cassette(exchanges, name or d.name, on_each)
    save(cassette, d, world_readable=world_readable)
    return cassette


# --------------------------------------------------------------------------- live recording

STAGING_DIR = ".tapegate-writing"  # inside the cassette; holds one rewrite until it is moved in


def refuse_overwrite(directory: str | os.PathLike[str]) -> None:
    """CassetteError when ``directory`` already holds something (a cassette or anything else)."""
    d = Path(directory)
    if d.exists() and not d.is_dir():
        raise CassetteError(f"{d} exists and is not a directory")
    if d.is_dir() and any(p.name != STAGING_DIR for p in d.iterdir()):
        raise CassetteError(f"{d} already exists and is not empty")


def check_writable(directory: str | os.PathLike[str]) -> None:
    """CassetteError now when a cassette cannot be written into ``directory`` (a folder that
    cannot be created, one without write permission): the gateway found out only after the
    first exchange (and then refused all traffic), ``recorder export`` in a traceback. Leaves
    nothing behind: folders it created for the check are removed."""
    d = Path(directory).absolute()
    created: list[Path] = []
    try:
        missing = [p for p in (d, *d.parents) if not p.exists()]
        for p in reversed(missing):
            p.mkdir()
            created.append(p)
        probe = d / f"{STAGING_DIR}.probe"
        probe.touch()
        probe.unlink()
    except OSError as e:
        raise CassetteError(f"cannot write a cassette into {directory}: {e.strerror or e}") from e
    finally:
        for p in reversed(created):
            p.rmdir()


def write_cassette(
    exchanges: Sequence[Exchange], directory: str | os.PathLike[str], world_readable: bool = False
) -> Cassette:
    """:func:`export`, but into a staging folder inside ``directory`` first, then moved in, so a
    reader never sees a half-written ``cassette.json`` (the ``.sse`` files go in before it)."""
    d = Path(directory)
    staging = d / STAGING_DIR
    if staging.exists():
        shutil.rmtree(staging)
    cassette = export(exchanges, staging, name=d.name, world_readable=world_readable)
    fresh = {p.name for p in staging.glob("*.sse")}
    for p in staging.glob("*.sse"):
        os.replace(p, d / p.name)
    for old in d.glob("*.sse"):
        if old.name not in fresh:
            old.unlink()
    os.replace(staging / CASSETTE_FILE, d / CASSETTE_FILE)
    staging.rmdir()
    cassette.path = d
    return cassette


class _Flush:
    def __init__(self) -> None:
        self.done = threading.Event()


class _Stop:
    pass


class CassetteWriter:
    """Exchanges of a live run -> one cassette directory, written by a background thread.

    ``put`` only enqueues (the proxy's event loop must never wait on a disk). The thread keeps
    every exchange of the run in memory and rewrites the whole cassette at most once per
    ``interval`` seconds while traffic arrives, so a ``kill -9`` loses at most that interval;
    ``close`` writes the final cassette. Whole rewrites because a cassette is ordered by start
    time and exchanges finish out of order. A run that recorded nothing writes nothing, so the
    directory can be used again. If a write fails the thread keeps the error in ``failed``,
    calls ``on_error`` and every later ``put`` raises :class:`CassetteError`.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        interval: float = 1.0,
        on_error: Callable[[BaseException], None] | None = None,
        world_readable: bool = False,
    ) -> None:
        self.directory = Path(directory)
        self.world_readable = world_readable
        self.interval = interval
        self.on_error = on_error
        self.failed: BaseException | None = None
        self.written = 0  # exchanges in the cassette on disk
        self._exchanges: list[Exchange] = []
        self._q: queue.SimpleQueue[Exchange | _Flush | _Stop] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def start(self) -> CassetteWriter:
        check_writable(self.directory)
        self._thread = threading.Thread(target=self._loop, name="tapegate-cassette", daemon=True)
        self._thread.start()
        return self

    def put(self, ex: Exchange) -> None:
        if self.failed is not None:
            raise CassetteError(f"writing cassette {self.directory} failed: {self.failed}")
        self._q.put(ex)

    def flush(self, timeout: float = 30.0) -> bool:
        """Write now and wait until everything put so far is on disk (False: failed/timed out)."""
        if self._thread is None or not self._thread.is_alive():
            return self.failed is None
        f = _Flush()
        self._q.put(f)
        return f.done.wait(timeout) and self.failed is None

    def close(self, timeout: float = 30.0) -> None:
        if self._thread is not None and self._thread.is_alive():
            self._q.put(_Stop())
            self._thread.join(timeout)

    def _loop(self) -> None:
        last_write = time.monotonic()
        while True:
            dirty = len(self._exchanges) > self.written
            wait = max(last_write + self.interval - time.monotonic(), 0.0) if dirty else None
            try:
                item = self._q.get(timeout=wait)
            except queue.Empty:
                item = None  # the interval is over: write what came
            match item:
                case Exchange():
                    settle(item)  # here, off the proxy's thread
                    item.session_id = session_id_for(item)
                    self._exchanges.append(item)
                    if time.monotonic() < last_write + self.interval:
                        continue
                case _Flush() | _Stop() | None:
                    pass
            self._write()
            last_write = time.monotonic()
            if isinstance(item, _Flush):
                item.done.set()
            if isinstance(item, _Stop):
                return

    def _write(self) -> None:
        if self.failed is not None or len(self._exchanges) == self.written:
            return
        try:
            write_cassette(self._exchanges, self.directory, self.world_readable)
            self.written = len(self._exchanges)
        except Exception as e:  # the thread must report, not die silently
            self.failed = e
            if self.on_error is not None:
                self.on_error(e)
