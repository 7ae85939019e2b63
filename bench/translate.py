"""Cost per SSE event of translating a 1,000-event stream, against the anthropic SDK's own parsing.

Run: ``uv run python -m bench.translate``. Both sides run in this process, same run, same stream:
(1) tapegate turns a 1,000-event OpenAI chat stream into Anthropic SSE (``StreamTranslator``, the
gateway's code path, fed in 1,000 network-sized chunks); (2) the official anthropic SDK parses and
accumulates the *translated* stream (``messages.stream(...).get_final_message()`` over an in-memory
transport) — the work every Anthropic client does anyway. Ratio = (1) / (2); the target is <= 1.0.
Also measured: the reverse direction (Anthropic stream -> OpenAI chunks) against the openai SDK,
and the OpenAI Responses API both ways: Chat and Anthropic streams into Responses events against
the openai SDK's Responses accumulator (``responses.stream(...).get_final_response()``), and a
Responses stream into Chat chunks and Anthropic events against those clients' SDKs.

A second table is the gateway benchmark's stream as the gateway handles it: the fake upstream's
default reply (``events:50``, one SSE event per chunk, then ``feed(b"")`` as mitmproxy does),
thread CPU per stream with no observer, with the observer the gateway installs when nothing
records (``LastClientEvent``) and with the recorder's ``EventTape``.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import anthropic
import httpx2
import openai

from fakes import replies
from recorder.context import Context, IdFactory
from recorder.dialects import codec
from recorder.exchange import EventTape, Exchange, LastClientEvent
from recorder.ir import Dialect
from recorder.translate import StreamObserver, StreamTranslator

EVENTS = 1000
ROUNDS = 15


def openai_stream(n: int = EVENTS) -> bytes:
    """An OpenAI chat stream of exactly ``n`` SSE events: reasoning, text, one tool call."""
    head = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 0, "model": "m"}

    def chunk(delta: dict[str, object], finish: str | None = None) -> bytes:
        body = {**head, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        return b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"

    out = [chunk({"role": "assistant", "content": ""})]
    n_reason, n_args = n // 10, n // 10
    n_text = n - 1 - n_reason - n_args - 1 - 1 - 1 - 1  # role, tool start, finish, usage, [DONE]
    out += [chunk({"reasoning_content": f"thinking step {i}. "}) for i in range(n_reason)]
    out += [chunk({"content": f"word{i} "}) for i in range(n_text)]
    call = {
        "index": 0,
        "id": "call_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": ""},
    }
    out.append(chunk({"tool_calls": [call]}))
    args = json.dumps({"city": "Paris", "notes": "x" * (n_args * 4)})
    step = max(1, len(args) // n_args + 1)
    frags = [args[i : i + step] for i in range(0, len(args), step)]
    frags += [""] * (n_args - len(frags))
    out += [
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": f}}]}) for f in frags[:n_args]
    ]
    out.append(chunk({}, "tool_calls"))
    usage = {"prompt_tokens": 1200, "completion_tokens": 900, "total_tokens": 2100}
    out.append(b"data: " + json.dumps({**head, "choices": [], "usage": usage}).encode() + b"\n\n")
    out.append(b"data: [DONE]\n\n")
    assert len(out) == n, len(out)
    return b"".join(out)


def translate_all(stream: bytes, client: str, upstream: str, chunks: list[bytes]) -> bytes:
    ctx = Context(client=client, upstream=upstream, ids=IdFactory("bench"))  # type: ignore[arg-type]
    ctx.include_usage = True
    st = StreamTranslator(ctx)
    return b"".join(st.feed(c) for c in chunks) + st.close()


def split_events(stream: bytes) -> list[bytes]:
    return [e + b"\n\n" for e in stream.split(b"\n\n") if e]


def anthropic_parse(sse: bytes) -> None:
    transport = httpx2.MockTransport(
        lambda req: httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=sse)
    )
    client = anthropic.Anthropic(
        api_key="x",
        base_url="http://bench",
        http_client=httpx2.Client(transport=transport),
        max_retries=0,
    )
    with client.messages.stream(
        model="m", max_tokens=1, messages=[{"role": "user", "content": "x"}]
    ) as s:
        msg = s.get_final_message()
    assert msg.stop_reason == "tool_use", msg.stop_reason


def openai_parse(sse: bytes) -> None:
    transport = httpx2.MockTransport(
        lambda req: httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=sse)
    )
    client = openai.OpenAI(
        api_key="x",
        base_url="http://bench/v1",
        http_client=httpx2.Client(transport=transport),
        max_retries=0,
    )
    with client.chat.completions.stream(
        model="m", messages=[{"role": "user", "content": "x"}]
    ) as s:
        done = s.get_final_completion()
    assert done.choices[0].finish_reason == "tool_calls", done.choices[0].finish_reason


def responses_parse(sse: bytes) -> None:
    transport = httpx2.MockTransport(
        lambda req: httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=sse)
    )
    client = openai.OpenAI(
        api_key="x",
        base_url="http://bench/v1",
        http_client=httpx2.Client(transport=transport),
        max_retries=0,
    )
    with client.responses.stream(model="m", input="x") as s:
        done = s.get_final_response()
    assert done.status == "completed" and done.output[-1].type == "function_call", done.status


def best_of(fn: Callable[[], object], rounds: int = ROUNDS) -> float:
    """Median of ``rounds`` timings in seconds (after one warm-up)."""
    fn()
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


GATEWAY_STREAMS = 2000
_OBSERVERS: dict[str, Callable[[Dialect], StreamObserver | None]] = {
    "none": lambda client: None,
    "LastClientEvent": lambda client: LastClientEvent(),
    "EventTape": lambda client: EventTape(
        Exchange(id="bench", started_at=0.0), time.monotonic, 0.0, codec(client).is_token
    ),
}


def gateway_streams() -> list[tuple[str, str, str, list[bytes]]]:
    """(name, client, upstream, chunks): the fake upstream's ``events:50`` reply per dialect."""
    mode = replies.Mode.parse("events:50")
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    plan = replies.plan(mode, body)
    oa = replies.openai_events(mode, plan, "m", True)
    an = replies.anthropic_events(mode, plan, "m")
    return [
        ("openai -> anthropic", "anthropic", "openai", oa),
        ("anthropic -> openai", "openai", "anthropic", an),
        ("openai pass-through", "openai", "openai", oa),
        ("anthropic pass-through", "anthropic", "anthropic", an),
    ]


def cpu_per_stream(client: str, upstream: str, chunks: list[bytes], observer: str) -> float:
    """Best of 3 rounds of thread CPU seconds per stream, fed as mitmproxy feeds it."""

    def one() -> None:
        ctx = Context(client=client, upstream=upstream, requested_model="m")  # type: ignore[arg-type]
        st = StreamTranslator(ctx, _OBSERVERS[observer](ctx.client))
        for c in chunks:
            st.feed(c)
        st.feed(b"")

    one()
    best = float("inf")
    for _ in range(3):
        t = time.thread_time()
        for _ in range(GATEWAY_STREAMS):
            one()
        best = min(best, (time.thread_time() - t) / GATEWAY_STREAMS)
    return best


def gateway_table() -> list[dict[str, object]]:
    print()
    print(
        "| stream (events:50, one event per chunk) | chunks | "
        + " | ".join(f"µs/stream, observer {o}" for o in _OBSERVERS)
        + " |"
    )
    print("|---|---|" + "---|" * len(_OBSERVERS))
    results: list[dict[str, object]] = []
    for name, client, upstream, chunks in gateway_streams():
        cpu = {o: cpu_per_stream(client, upstream, chunks, o) for o in _OBSERVERS}
        cells = " | ".join(f"{v * 1e6:.0f}" for v in cpu.values())
        print(f"| {name} | {len(chunks)} | {cells} |")
        results.append({"stream": name, "chunks": len(chunks), "cpu_s": cpu})
    return results


def main() -> None:
    upstream_openai = openai_stream()
    chunks = split_events(upstream_openai)
    as_anthropic = translate_all(upstream_openai, "anthropic", "openai", chunks)
    n_out = as_anthropic.count(b"\n\n")
    t_tr = best_of(lambda: translate_all(upstream_openai, "anthropic", "openai", chunks))
    t_sdk = best_of(lambda: anthropic_parse(as_anthropic))

    a_chunks = split_events(as_anthropic)
    as_openai = translate_all(as_anthropic, "openai", "anthropic", a_chunks)
    t_tr2 = best_of(lambda: translate_all(as_anthropic, "openai", "anthropic", a_chunks))
    t_sdk2 = best_of(lambda: openai_parse(as_openai))

    rows = [
        ("openai -> anthropic", EVENTS, n_out, t_tr, "anthropic SDK parse+accumulate", t_sdk),
        (
            "anthropic -> openai",
            n_out,
            as_openai.count(b"\n\n"),
            t_tr2,
            "openai SDK parse+accumulate",
            t_sdk2,
        ),
    ]
    # The Responses API: both upstream dialects into Responses events, and a Responses stream
    # (the one just made, a valid upstream stream) back into both.
    judges = {"anthropic": anthropic_parse, "openai": openai_parse, "responses": responses_parse}
    sdk_names = {
        "anthropic": "anthropic SDK parse+accumulate",
        "openai": "openai SDK parse+accumulate",
        "responses": "openai SDK Responses accumulate",
    }
    as_responses = translate_all(upstream_openai, "responses", "openai", chunks)
    r_chunks = split_events(as_responses)
    for client, upstream, raw, raw_chunks in (
        ("responses", "openai", upstream_openai, chunks),
        ("responses", "anthropic", as_anthropic, a_chunks),
        ("openai", "responses", as_responses, r_chunks),
        ("anthropic", "responses", as_responses, r_chunks),
    ):
        out = translate_all(raw, client, upstream, raw_chunks)
        t = best_of(lambda: translate_all(raw, client, upstream, raw_chunks))  # noqa: B023
        t_s = best_of(lambda: judges[client](out))  # noqa: B023
        rows.append(
            (
                f"{upstream} -> {client}",
                raw.count(b"\n\n"),
                out.count(b"\n\n"),
                t,
                sdk_names[client],
                t_s,
            )
        )
    print(
        "| direction | events in | events out | translate µs/ev | client SDK | SDK µs/ev | ratio |"
    )
    print("|---|---|---|---|---|---|---|")
    results = []
    for name, n_in, n_o, t, sdk_name, t_s in rows:
        per_ev, sdk_per_ev = t / n_in * 1e6, t_s / n_o * 1e6
        ratio = t / t_s
        print(
            f"| {name} | {n_in} | {n_o} | {per_ev:.1f} | {sdk_name} "
            f"| {sdk_per_ev:.1f} | {ratio:.2f} |"
        )
        results.append(
            {
                "direction": name,
                "events_in": n_in,
                "events_out": n_o,
                "translate_s": t,
                "sdk_s": t_s,
                "ratio": ratio,
            }
        )
    gateway = gateway_table()
    out = Path("bench/results")
    out.mkdir(parents=True, exist_ok=True)
    (out / "translate.json").write_text(
        json.dumps({"per_event": results, "gateway_stream": gateway}, indent=2)
    )


if __name__ == "__main__":
    main()
