"""Record the project's cassette set through its own gateway, against the local fake upstream.

    uv run python scripts/record_cassettes.py                 # every cassette
    uv run python scripts/record_cassettes.py --only a2o-text --only 'o2a-stream-*'

For each direction (``a2o``: Anthropic client -> OpenAI upstream, ``o2a``: the reverse,
``pass-anthropic``, ``pass-openai``; the Responses API's ``r2o``, ``r2a``, ``o2r``, ``a2r`` and
``pass-responses``; ``a2k`` / ``o2k``: Anthropic / OpenAI client -> Kiro, in front of
:mod:`fakes.kiro`) it starts a real gateway (``mitmdump -s addons/gateway.py``,
retries off, a temporary ``recorder_db``) in front of :mod:`fakes.upstream` on free
127.0.0.1 ports, drives every scenario with the official SDK of the client's dialect (the fake's
behaviour chosen through its script queue, so no test header lands in a cassette), stops the
gateway with SIGTERM (the recorder flushes on ``done``), and exports each exchange with the code
behind ``recorder export`` into ``cassettes/<direction>-<scenario>/``. Nothing leaves 127.0.0.1.

Made deterministic after export (same lengths, so the ``.sse`` timing stays valid): the random
flow id that seeds the gateway's minted ids (``msg_``/``toolu_``/``call_``...) is replaced by the
cassette name and the minted ids re-derived from it; the gateway's and the fake's ports become
8080 and 9000; the gateway's ``created`` stamps become the fake's 1700000000. What still changes
on every re-recording: the timing values (``meta.t_*`` and the stream ``timing`` offsets).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fakes.kiro import FakeKiro  # noqa: E402
from fakes.procs import BIN, Service, free_port, start_service  # noqa: E402
from fakes.upstream import FakeUpstream  # noqa: E402
from recorder import dialects  # noqa: E402
from recorder.exchange import Exchange  # noqa: E402
from recorder.ir import Dialect, ErrorInfo  # noqa: E402
from recorder.store.reader import load_exchanges  # noqa: E402
from replay.export import export  # noqa: E402

KEY = "sk-test"  # a fake key: the exporter must redact it (checked after export)
ANTHROPIC_MODEL = "claude-sonnet-5"
OPENAI_MODEL = "gpt-4o-mini"
RESPONSES_MODEL = "gpt-5.5"
KIRO_MODEL = "claude-sonnet-4-5"  # Kiro's own id is dotted: sent as claude-sonnet-4.5
GATEWAY_PORT, FAKE_PORT = 8080, 9000  # what the recorded URLs say, whatever ports were used
CREATED = "1700000000"
GAP = "+gap:2"  # ms between the fake's events: one recorded chunk per event
# A 1x1 PNG, hand-made (not from any recording).
PNG_B64 = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA"
    "60e6kgAAAABJRU5ErkJggg=="
)


@dataclass(frozen=True, slots=True)
class Direction:
    name: str
    client: Dialect
    upstream: Dialect
    scenarios: tuple[str, ...] | None = None  # None: every scenario

    @property
    def overloaded(self) -> int:
        """The "busy" status each upstream dialect really uses (its codec's for overloaded)."""
        status, _ = dialects.codec(self.upstream).error_from_ir(ErrorInfo("overloaded", "busy"))
        return status


# The Responses API's directions record the scenarios that tell its translation apart: text,
# tools, reasoning, an unfinished answer, errors, and (for its clients) custom tools.
_RESPONSES_SET = (
    "text",
    "stream-text",
    "stream-tool",
    "tool-result",
    "stream-thinking",
    "stream-max-tokens",
    "error-429",
    "stream-midstream-error",
)
_CUSTOM = ("stream-custom-tool", "custom-tool-result")

DIRECTIONS = (
    Direction("a2o", "anthropic", "openai"),
    Direction("o2a", "openai", "anthropic"),
    Direction("pass-anthropic", "anthropic", "anthropic"),
    Direction("pass-openai", "openai", "openai"),
    Direction("r2o", "responses", "openai", _RESPONSES_SET + _CUSTOM),
    Direction("r2a", "responses", "anthropic", _RESPONSES_SET + _CUSTOM),
    Direction("o2r", "openai", "responses", _RESPONSES_SET),
    Direction("a2r", "anthropic", "responses", _RESPONSES_SET),
    Direction("pass-responses", "responses", "responses", ("stream-text", "stream-tool")),
)
# Kiro as the upstream: fakes/kiro.py behind the gateway (event streams, refreshed tokens).
KIRO_DIRECTIONS = (
    Direction("a2k", "anthropic", "kiro"),
    Direction("o2k", "openai", "kiro"),
)


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    mode: str  # the fake's mode; "error:busy" becomes 529 (Anthropic) / 503 (OpenAI)
    request: str = "hello"  # key of REQUESTS[client dialect]
    stream: bool = False

    @property
    def fails(self) -> bool:
        return self.mode.startswith(("error", "exception")) or self.mode == "midstream-error"


SCENARIOS = (
    Scenario("text", "text"),
    Scenario("stream-text", "text", stream=True),
    Scenario("tool", "tool", "tool"),
    Scenario("tools-parallel", "parallel-tools", "tools"),
    Scenario("stream-tool", "tool", "tool", stream=True),
    Scenario("stream-tools-parallel", "parallel-tools", "tools", stream=True),
    Scenario("tool-result", "echo", "tool-result"),
    Scenario("image", "echo", "image"),
    Scenario("thinking", "thinking", "thinking"),
    Scenario("stream-thinking", "thinking", "thinking", stream=True),
    Scenario("max-tokens", "max-tokens", "max-tokens"),
    Scenario("stream-max-tokens", "max-tokens", "max-tokens", stream=True),
    Scenario("cache-usage", "cache", "cache"),
    Scenario("stream-cache-usage", "cache", "cache", stream=True),
    Scenario("error-400", "error:400"),
    Scenario("error-401", "error:401"),
    Scenario("error-429", "error:429+retry-after:1"),
    Scenario("error-500", "error:500"),
    Scenario("stream-error-busy", "error:busy", stream=True),
    Scenario("stream-midstream-error", "midstream-error", stream=True),
    Scenario("stream-custom-tool", "tool", "custom-tool", stream=True),
    Scenario("custom-tool-result", "echo", "custom-tool-result"),
)


KIRO_SCENARIOS = (
    Scenario("text", "text"),
    Scenario("stream-text", "text", stream=True),
    Scenario("tool", "tool", "tool"),
    Scenario("stream-tool", "tool", "tool", stream=True),
    Scenario("tool-result", "echo", "tool-result"),
    Scenario("image", "echo", "image"),
    Scenario("stream-thinking", "text", "thinking", stream=True),
    Scenario("stream-truncated-tool", "truncated-tool", "tool", stream=True),
    Scenario("error-invalid-model", "error:400:INVALID_MODEL_ID"),
    Scenario("stream-exception", "exception:ThrottlingException", stream=True),
)


def scenarios(d: Direction) -> tuple[Scenario, ...]:
    if d in KIRO_DIRECTIONS:
        return KIRO_SCENARIOS
    if d.scenarios is not None:
        return tuple(s for s in SCENARIOS if s.name in d.scenarios)
    return tuple(s for s in SCENARIOS if s.name not in _CUSTOM)


def cassette_name(d: Direction, s: Scenario) -> str:
    return f"{d.name}-{s.name.replace('busy', str(d.overloaded))}"


# ------------------------------------------------------------------ requests (hand-written)

HELLO = [{"role": "user", "content": "Say hello."}]
WEATHER_Q = "What's the weather in Paris, and the time in Tokyo?"
RESULTS = (("01", "Paris", "18C, sunny"), ("02", "Tokyo", "25C, light rain"))
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
TOOLS = (("get_weather", "Weather in a city."), ("get_time", "Time in a city."))
# Stands for a long cached prefix (the fake does not count tokens; kept short for small cassettes).
CACHED_SYSTEM = "You are a meticulous assistant. Follow the house style guide."


def _anthropic_requests() -> dict[str, dict[str, Any]]:
    tools = [{"name": n, "description": d, "input_schema": SCHEMA} for n, d in TOOLS]
    ask = [{"role": "user", "content": WEATHER_Q}]
    calls = [
        {"type": "tool_use", "id": f"toolu_{n}", "name": "get_weather", "input": {"city": c}}
        for n, c, _ in RESULTS
    ]
    results = [
        {"type": "tool_result", "tool_use_id": f"toolu_{n}", "content": r} for n, _, r in RESULTS
    ]
    image = {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64},
    }
    base = {"model": ANTHROPIC_MODEL, "max_tokens": 256}
    return {
        "hello": base | {"messages": HELLO},
        "tool": base | {"messages": ask, "tools": tools[:1]},
        "tools": base | {"messages": ask, "tools": tools},
        "tool-result": base
        | {
            "tools": tools[:1],
            "messages": [
                *ask,
                {"role": "assistant", "content": [{"type": "text", "text": "Checking."}, *calls]},
                {"role": "user", "content": results},
            ],
        },
        "image": base
        | {
            "messages": [
                {
                    "role": "user",
                    "content": [{"type": "text", "text": "What is in this image?"}, image],
                }
            ]
        },
        "thinking": base
        | {
            "max_tokens": 2048,
            "thinking": {"type": "enabled", "budget_tokens": 1024},
            "messages": HELLO,
        },
        "max-tokens": base
        | {"max_tokens": 3, "messages": [{"role": "user", "content": "Tell a story."}]},
        "cache": base
        | {
            "system": [
                {"type": "text", "text": CACHED_SYSTEM, "cache_control": {"type": "ephemeral"}}
            ],
            "messages": HELLO,
        },
    }


def _openai_requests() -> dict[str, dict[str, Any]]:
    tools = [
        {"type": "function", "function": {"name": n, "description": d, "parameters": SCHEMA}}
        for n, d in TOOLS
    ]
    ask = [{"role": "user", "content": WEATHER_Q}]
    calls = [
        {
            "id": f"call_{n}",
            "type": "function",
            "function": {"name": "get_weather", "arguments": f'{{"city": "{c}"}}'},
        }
        for n, c, _ in RESULTS
    ]
    results = [{"role": "tool", "tool_call_id": f"call_{n}", "content": r} for n, _, r in RESULTS]
    image = {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_B64}"}}
    base: dict[str, Any] = {"model": OPENAI_MODEL}
    return {
        "hello": base | {"messages": HELLO},
        "tool": base | {"messages": ask, "tools": tools[:1]},
        "tools": base | {"messages": ask, "tools": tools},
        "tool-result": base
        | {
            "tools": tools[:1],
            "messages": [
                *ask,
                {"role": "assistant", "content": "Checking.", "tool_calls": calls},
                *results,
            ],
        },
        "image": base
        | {
            "messages": [
                {
                    "role": "user",
                    "content": [{"type": "text", "text": "What is in this image?"}, image],
                }
            ]
        },
        "thinking": base | {"reasoning_effort": "low", "messages": HELLO},
        "max-tokens": base
        | {"max_tokens": 3, "messages": [{"role": "user", "content": "Tell a story."}]},
        "cache": base | {"messages": [{"role": "system", "content": CACHED_SYSTEM}, *HELLO]},
    }


APPLY_PATCH_GRAMMAR = """start: begin_patch hunk+ end_patch
begin_patch: "*** Begin Patch" LF
end_patch: "*** End Patch" LF?
hunk: "*** Add File: " FILENAME LF ("+" /(.*)/ LF)+
FILENAME: /[^\\n]+/
%import common.LF"""
PATCH = "*** Begin Patch\n*** Add File: notes.txt\n+remember the milk\n*** End Patch\n"


def _responses_requests() -> dict[str, dict[str, Any]]:
    tools = [
        {"type": "function", "name": n, "description": d, "parameters": SCHEMA, "strict": False}
        for n, d in TOOLS
    ]
    apply_patch = {
        "type": "custom",
        "name": "apply_patch",
        "description": "Edit files with a patch. A FREEFORM tool: do not wrap it in JSON.",
        "format": {"type": "grammar", "syntax": "lark", "definition": APPLY_PATCH_GRAMMAR},
    }
    ask = [{"role": "user", "content": WEATHER_Q}]
    calls = [
        {
            "type": "function_call",
            "call_id": f"call_{n}",
            "name": "get_weather",
            "arguments": f'{{"city": "{c}"}}',
        }
        for n, c, _ in RESULTS
    ]
    results = [
        {"type": "function_call_output", "call_id": f"call_{n}", "output": r} for n, _, r in RESULTS
    ]
    image = {"type": "input_image", "image_url": f"data:image/png;base64,{PNG_B64}"}
    base: dict[str, Any] = {"model": RESPONSES_MODEL}
    edit = [{"role": "user", "content": "Write the note down."}]
    return {
        "hello": base | {"input": HELLO},
        "tool": base | {"input": ask, "tools": tools[:1]},
        "tools": base | {"input": ask, "tools": tools},
        "tool-result": base | {"tools": tools[:1], "input": [*ask, *calls, *results]},
        "image": base
        | {
            "input": [
                {
                    "role": "user",
                    "content": [{"type": "input_text", "text": "What is in this image?"}, image],
                }
            ]
        },
        "thinking": base
        | {
            "reasoning": {"effort": "low", "summary": "auto"},
            "include": ["reasoning.encrypted_content"],
            "input": HELLO,
        },
        "max-tokens": base
        | {"max_output_tokens": 16, "input": [{"role": "user", "content": "Tell a story."}]},
        "cache": base | {"instructions": CACHED_SYSTEM, "input": HELLO, "prompt_cache_key": "k1"},
        "custom-tool": base | {"input": edit, "tools": [apply_patch]},
        "custom-tool-result": base
        | {
            "tools": [apply_patch],
            "input": [
                *edit,
                {
                    "type": "custom_tool_call",
                    "call_id": "call_p1",
                    "name": "apply_patch",
                    "input": PATCH,
                },
                {
                    "type": "custom_tool_call_output",
                    "call_id": "call_p1",
                    "output": "Success. Updated the following files:\nA notes.txt\n",
                },
            ],
        },  # fmt: skip
    }


REQUESTS: dict[Dialect, dict[str, dict[str, Any]]] = {
    "anthropic": _anthropic_requests(),
    "openai": _openai_requests(),
    "responses": _responses_requests(),
}


# --------------------------------------------------------------------------- driving the SDKs


# Some streams are read raw to their end, through the SDK's streaming-response API: a client that
# hangs up before the upstream's last byte races the recording (mitmproxy then reports "Client
# disconnected" and the response is lost). The SDKs hang up early at an error event, and the
# OpenAI SDK always closes right after ``data: [DONE]``; its chunk model still judges each chunk.


def _drive_anthropic(url: str, body: dict[str, Any], stream: bool, raw: bool) -> str:
    import anthropic

    client = anthropic.Anthropic(base_url=url, api_key=KEY, max_retries=0)
    try:
        if raw:
            with client.messages.with_streaming_response.create(**body, stream=True) as r:
                return f"streamed raw, {len(r.read())} bytes"
        if stream:
            with client.messages.stream(**body) as s:
                final = s.get_final_message()
            return f"streamed, stop_reason={final.stop_reason}"
        msg = client.messages.create(**body)
        return f"stop_reason={msg.stop_reason}"
    except anthropic.APIStatusError as e:
        return f"error {e.status_code}"
    except anthropic.APIError as e:
        return f"error {type(e).__name__}"


def _drive_openai(url: str, body: dict[str, Any], stream: bool, raw: bool) -> str:
    import openai

    client = openai.OpenAI(base_url=f"{url}/v1", api_key=KEY, max_retries=0)
    extra: dict[str, Any] = {"stream_options": {"include_usage": True}}
    try:
        if stream:
            create = client.chat.completions.with_streaming_response.create
            with create(**body, **extra, stream=True) as r:
                data = r.read()
            if raw:
                return f"streamed raw, {len(data)} bytes"
            finish = [
                c.choices[0].finish_reason
                for c in _openai_chunks(data)
                if c.choices and c.choices[0].finish_reason
            ]
            return f"streamed, finish_reason={finish[-1] if finish else None}"
        resp = client.chat.completions.create(**body)
        return f"finish_reason={resp.choices[0].finish_reason}"
    except openai.APIStatusError as e:
        return f"error {e.status_code}"
    except openai.APIError as e:
        return f"error {type(e).__name__}"


def _openai_chunks(data: bytes) -> list[Any]:
    from openai.types.chat import ChatCompletionChunk

    from recorder.sse import SseParser

    parser = SseParser()
    events = parser.feed(data) + parser.close()
    return [
        ChatCompletionChunk.model_validate_json(e.data)
        for e in events
        if e.data and e.data != "[DONE]"
    ]


def _drive_responses(url: str, body: dict[str, Any], stream: bool, raw: bool) -> str:
    import openai

    from recorder.sse import SseParser

    client = openai.OpenAI(base_url=f"{url}/v1", api_key=KEY, max_retries=0)
    try:
        if stream:
            create = client.responses.with_streaming_response.create
            with create(**body, stream=True) as r:
                data = r.read()
            parser = SseParser()
            events = parser.feed(data) + parser.close()
            last = events[-1].event if events else None
            return f"streamed{' raw' if raw else ''}, last event {last}"
        resp = client.responses.create(**body)
        return f"status={resp.status}"
    except openai.APIStatusError as e:
        return f"error {e.status_code}"
    except openai.APIError as e:
        return f"error {type(e).__name__}"


DRIVERS: dict[Dialect, Callable[[str, dict[str, Any], bool, bool], str]] = {
    "anthropic": _drive_anthropic,
    "openai": _drive_openai,
    "responses": _drive_responses,
}


# --------------------------------------------------------------------------- processes


def _vendor_prefix(dialect: Dialect) -> str:
    """The path of the dialect's vendor base URL (``/v1`` for OpenAI's, none for Anthropic's),
    so that the fake is reached at the paths the vendor serves."""
    base = dialects.entry(dialect).vendor_base
    return urlsplit(base).path if base is not None else ""


def start_gateway(d: Direction, fake: FakeUpstream, tmp: Path) -> tuple[Service, Path]:
    port, db = free_port(), tmp / f"{d.name}.duckdb"
    upstream = fake.url + _vendor_prefix(d.upstream)
    argv = [str(BIN / "mitmdump"), "-q", "-s", str(ROOT / "addons" / "gateway.py")]
    argv += ["-p", str(port), "--listen-host", "127.0.0.1"]
    opts = [
        f"recorder_db={db}",
        f"gateway_upstream={upstream}",
        f"gateway_upstream_api={d.upstream}",
        "gateway_retries=0",  # one upstream exchange per scenario, errors recorded as they came
    ]
    if d in KIRO_DIRECTIONS:  # a token the fake issues, refreshed at the fake
        creds = tmp / f"{d.name}-kiro-credentials.json"
        creds.write_text(json.dumps({"refreshToken": "fake-refresh-1", "authMethod": "social"}))
        opts += [
            f"kiro_credentials={creds}",
            f"kiro_auth_url={fake.url}/refreshToken",
            "kiro_thinking=true",
        ]
    for opt in opts:
        argv += ["--set", opt]
    return start_service(f"gateway-{d.name}", argv, port=port, log_dir=tmp), db


# ------------------------------------------------------------------ making it deterministic


def _minted(seed: str, n: int) -> str:
    """The digest :class:`recorder.context.IdFactory` mints as its ``n``-th id for ``seed``."""
    return hashlib.sha256(f"{seed}:{n}".encode()).hexdigest()[:24]


def normalize(directory: Path, ex: Exchange, ports: dict[int, int]) -> None:
    """Replace per-run values with stable ones of the same length (see the module docstring)."""
    seed = directory.name
    swaps = {_minted(ex.id, n): _minted(seed, n) for n in range(1, 200)}
    swaps[ex.id] = seed
    created = re.compile(r'("created(?:_at)?":\s*)\d{10}\b')
    for f in sorted(directory.iterdir()):
        try:
            text = f.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # Kiro's binary event stream: fixed ids, no ports (and CRCs to keep)
        for old, new in swaps.items():
            text = text.replace(old, new)
        text = created.sub(lambda m: m.group(1) + CREATED, text)
        if f.name == "cassette.json":
            for old_port, new_port in ports.items():
                text = text.replace(f"127.0.0.1:{old_port}/", f"127.0.0.1:{new_port}/")
        f.write_text(text, encoding="utf-8")
    leaked = [f.name for f in directory.iterdir() if KEY.encode() in f.read_bytes()]
    if leaked:
        raise SystemExit(f"{directory}: the key {KEY!r} leaked into {leaked}")


# --------------------------------------------------------------------------- main


def selected(only: list[str]) -> list[tuple[Direction, Scenario]]:
    pairs = [(d, s) for d in DIRECTIONS + KIRO_DIRECTIONS for s in scenarios(d)]
    if not only:
        return pairs
    return [(d, s) for d, s in pairs if any(fnmatchcase(cassette_name(d, s), p) for p in only)]


def record(pairs: list[tuple[Direction, Scenario]], out: Path) -> int:
    kiro = FakeKiro(log=False, rotate_refresh_tokens=False)  # two gateways share its login
    fakes = {"llm": FakeUpstream(log=False).start(), "kiro": kiro.start()}
    directions = [d for d in DIRECTIONS + KIRO_DIRECTIONS if any(p[0] is d for p in pairs)]

    def fake_of(d: Direction) -> FakeUpstream:
        return fakes["kiro" if d in KIRO_DIRECTIONS else "llm"]

    problems = 0
    with tempfile.TemporaryDirectory(prefix="tapegate-record-") as tmp:
        gateways = {d.name: start_gateway(d, fake_of(d), Path(tmp)) for d in directions}
        try:
            for d, s in pairs:
                gw = gateways[d.name][0]
                fake_of(d).script(s.mode.replace("busy", str(d.overloaded)) + GAP)
                body = REQUESTS[d.client][s.request]
                if d in KIRO_DIRECTIONS:
                    body = body | {"model": KIRO_MODEL}
                raw = s.mode == "midstream-error" or s.mode.startswith("exception")
                outcome = DRIVERS[d.client](gw.url, body, s.stream, raw)
                bad = outcome.startswith("error") != (s.fails and not raw)
                problems += bad
                print(f"{'!!' if bad else 'ok'} {cassette_name(d, s):40} {outcome}")
        finally:
            for gw, _ in gateways.values():
                gw.stop()  # SIGTERM: mitmdump runs the recorder's done hook, which flushes
            for fake in fakes.values():
                fake.stop()
        for d in directions:
            service, db = gateways[d.name]
            exchanges = load_exchanges(str(db))
            mine = [s for dd, s in pairs if dd is d]
            if len(exchanges) != len(mine):
                raise SystemExit(
                    f"{d.name}: {len(exchanges)} exchanges recorded for {len(mine)} scenarios; "
                    f"gateway log:\n{service.log_tail()}"
                )
            ports = {service.port: GATEWAY_PORT, fake_of(d).port: FAKE_PORT}
            for ex, s in zip(exchanges, mine, strict=True):
                target = out / cassette_name(d, s)
                export([ex], target)
                normalize(target, ex, ports)
    print(
        f"wrote {len(pairs)} cassettes to {out}"
        + (f"; {problems} unexpected outcomes" if problems else "")
    )
    return 1 if problems else 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument(
        "--only", action="append", default=[], help="cassette name or glob (repeatable)"
    )
    ap.add_argument("--out", type=Path, default=ROOT / "cassettes", help="where to write")
    args = ap.parse_args()
    pairs = selected(args.only)
    if not pairs:
        raise SystemExit(f"no cassette matches {args.only}")
    raise SystemExit(record(pairs, args.out))


if __name__ == "__main__":
    main()
