"""What recording costs: writer throughput into DuckDB, and the cost on the proxy's thread.

Run: ``uv run python -m bench.recorder``. Prints a markdown table; saves
``bench/results/recorder.json``.

1. **Writer throughput** — streamed exchanges of ``EVENTS`` SSE events per leg, taped as the
   gateway tapes them (raw bytes of both legs), are put into the gateway's writer process
   (:class:`~recorder.store.writer_process.WriterProcess`) as fast as one thread can, then
   ``flush()``; events/s = events committed (both legs, parsed by the writer) / wall time.
   Target: >= 50,000 events/s.
2. **Cost on the caller** — 16 concurrent streams on one asyncio loop (the shape of mitmdump),
   each parsing SSE bytes chunk by chunk. Run once without recording and once with
   ``EventTape`` on every chunk and ``WriterProcess.put`` at the end, while the writer process
   is working. Reported as microseconds per event on the loop.

For the lead's end-to-end comparison over mitmdump: ``--set recorder_db=`` (empty) disables the
Recorder, ``--set recorder_db=x.duckdb`` enables it; :func:`row_counts` checks what was stored.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from recorder.codecs import anthropic
from recorder.exchange import EventTape, Exchange, HttpRequest, HttpResponse
from recorder.sse import SseParser
from recorder.store import query
from recorder.store.writer_process import WriterProcess

EVENTS = 200  # per leg per exchange: a medium answer
STREAMS = 16
EXCHANGES = 500


def _event_bytes(i: int) -> bytes:
    choice = {"index": 0, "delta": {"content": f"word{i} "}, "finish_reason": None}
    body = {
        "id": "chatcmpl-b",
        "object": "chat.completion.chunk",
        "model": "m",
        "choices": [choice],
    }
    return b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"


STREAM_CHUNKS = [_event_bytes(i) for i in range(EVENTS)]


def _exchange(n: int, record: bool = True) -> tuple[Exchange, EventTape]:
    ex = Exchange(
        id=f"bench-{n}", started_at=time.time(), client_dialect="openai", upstream_dialect="openai",
        model_requested="m", stream=True,
        client_request=HttpRequest("POST", "http://127.0.0.1/v1/chat/completions", [],
                                   b'{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}'),
        client_response=HttpResponse(200, [("content-type", "text/event-stream")]),
    )  # fmt: skip
    return ex, EventTape(ex, time.monotonic, time.monotonic(), anthropic.is_token)


def _taped(n: int) -> Exchange:
    ex, tape = _exchange(n)
    parser = SseParser()
    for chunk in STREAM_CHUNKS:
        events = parser.feed(chunk)
        tape.upstream(chunk, events)
        tape.client(events, chunk)
    return ex


def writer_throughput(db: Path) -> dict[str, Any]:
    prepared = [_taped(n) for n in range(EXCHANGES)]  # built beforehand: measure the writer only
    writer = WriterProcess(db).start()
    t0 = time.perf_counter()
    for ex in prepared:
        writer.put(ex)
    assert writer.flush(timeout=600), writer.failed
    wall = time.perf_counter() - t0
    writer.close()
    events = EXCHANGES * EVENTS * 2
    return {
        "exchanges": EXCHANGES,
        "events": events,
        "chunks": EXCHANGES * EVENTS,
        "seconds": round(wall, 3),
        "events_per_s": round(events / wall),
        "stored": row_counts(db),
    }


Sink = Callable[[Exchange], None] | None


async def _stream(n: int, sink: Sink) -> None:
    ex, tape = _exchange(n)
    parser = SseParser()
    for chunk in STREAM_CHUNKS:
        events = parser.feed(chunk)
        if sink is not None:
            tape.upstream(chunk, events)
            tape.client(events, chunk)
        await asyncio.sleep(0)  # let the other streams run, as the proxy's loop would
    if sink is not None:
        sink(ex)


async def _streams(rounds: int, sink: Sink) -> float:
    t0 = time.perf_counter()
    for r in range(rounds):
        await asyncio.gather(*(_stream(r * STREAMS + i, sink) for i in range(STREAMS)))
    return time.perf_counter() - t0


def caller_cost(db: Path, rounds: int = 20) -> dict[str, Any]:
    """µs per event on the loop: no recording / tape only / tape + the live writer process."""
    events = rounds * STREAMS * EVENTS
    base = min(asyncio.run(_streams(rounds, None)) for _ in range(3))
    kept: list[Exchange] = []
    tape_only = min(asyncio.run(_streams(rounds, kept.append)) for _ in range(3))
    writer = WriterProcess(db).start()
    live = min(asyncio.run(_streams(rounds, writer.put)) for _ in range(3))
    assert writer.flush(timeout=600), writer.failed
    writer.close()

    def per_event(seconds: float) -> float:
        return round(seconds / events * 1e6, 3)

    return {
        "streams": STREAMS,
        "events": events,
        "us_per_event_without": per_event(base),
        "us_per_event_tape_enqueue": per_event(tape_only),
        "us_per_event_with_writer": per_event(live),
        "enqueue_cost_us_per_event": per_event(tape_only - base),
        "writer_contention_us_per_event": per_event(live - tape_only),
    }


def row_counts(db: Path | str) -> dict[str, int]:
    """Rows per table, for checking what a benchmark run actually stored."""
    sql = (
        "SELECT (SELECT count(*) FROM exchanges), (SELECT count(*) FROM events), "
        "(SELECT count(*) FROM chunks)"
    )
    ex, ev, ch = query(db, sql).rows[0]
    return {"exchanges": ex, "events": ev, "chunks": ch}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        w = writer_throughput(Path(tmp) / "w.duckdb")
        c = caller_cost(Path(tmp) / "c.duckdb")
    print("| measure | value |\n|---|---|")
    print(f"| writer: events/s into DuckDB (both legs + chunks) | {w['events_per_s']:,} |")
    print(f"| writer: {w['exchanges']} exchanges × {EVENTS}×2 events, wall s | {w['seconds']} |")
    print(
        f"| loop, {STREAMS} streams: µs/event, no recording (SSE parse only) | "
        f"{c['us_per_event_without']} |"
    )
    print(
        "| loop: µs/event added by the tape (raw bytes of both legs, per chunk) | "
        f"{c['enqueue_cost_us_per_event']} |"
    )
    print(
        "| loop: µs/event added by the hand-off (pack, pipe; this loop outpaces the writer, "
        "so its backlog thread runs too) | "
        f"{c['writer_contention_us_per_event']} |"
    )
    out = Path(__file__).parent / "results" / "recorder.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"writer": w, "caller": c}, indent=2) + "\n")
    print(f"\nsaved {out}")


if __name__ == "__main__":
    main()
