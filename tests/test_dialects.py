"""The dialect registry: what it answers, and that nothing outside the codecs compares names."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from typing import get_args

import pytest

from recorder import auth, dialects, header_edit, ir
from recorder.codecs import anthropic, claude_cli, kiro, openai, responses
from recorder.dialects import AWS_EVENT_STREAM, SSE
from recorder.sse import SseEvent

REPO = Path(__file__).resolve().parents[1]


def test_every_dialect_is_registered_once() -> None:
    names = [e.name for e in dialects.ENTRIES]
    assert sorted(names) == sorted(get_args(ir.Dialect))
    assert len(set(names)) == len(names)


def test_clients_are_answered_in_sse() -> None:
    # the StreamTranslator writes SSE to clients: a client dialect's encoder speaks it
    assert all(e.framing is SSE for e in dialects.ENTRIES if e.client)
    assert dialects.entry("kiro").framing is AWS_EVENT_STREAM
    assert not dialects.entry("kiro").client


def test_each_entry_loads_its_own_codec_and_functions() -> None:
    modules = [anthropic, openai, responses, kiro, claude_cli]
    for e, module in zip(dialects.ENTRIES, modules, strict=True):
        assert e.codec is module.CODEC
    body = {"metadata": {"user_id": '{"session_id": "s1"}'}, "prompt_cache_key": "s2"}
    for name, codec_module in (("anthropic", anthropic), ("responses", responses)):
        in_body = dialects.entry(name).sessions.in_body
        assert in_body is not None
        assert in_body(body) == codec_module.session_in_request(body) is not None
    cli = dialects.entry("claude_cli")
    assert cli.chat_path == claude_cli.CHAT_PATH
    assert cli.run_events is not None and cli.run_facts is not None
    assert cli.run_events({"events": []}) == claude_cli.run_events({"events": []})
    assert cli.run_facts([]) == claude_cli.run_facts([])


def _loaded_by(statement: str) -> list[str]:
    code = f"import sys; {statement}; print(' '.join(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=120, cwd=REPO)  # fmt: skip
    return [m for m in done.stdout.split() if m.startswith(("recorder.wire.", "recorder.codecs."))]


def test_codecs_load_when_first_asked_for() -> None:
    """Their wire models are most of what the gateway would load at start: the registry
    loads none until one is asked for."""
    assert _loaded_by("import recorder.dialects") == ["recorder.codecs.responses_history"]
    asked = _loaded_by("from recorder import dialects; dialects.codec('openai')")
    assert "recorder.wire.openai" in asked and "recorder.wire.anthropic" not in asked


def test_roles() -> None:
    assert dialects.CLIENT_DIALECTS == ("anthropic", "openai", "responses")
    assert dialects.UPSTREAM_DIALECTS == ("anthropic", "openai", "responses", "kiro", "claude_cli")


@pytest.mark.parametrize(
    ("path", "headers", "expected"),
    [
        ("/v1/messages", {}, "anthropic"),
        ("/v1/messages/count_tokens", {}, "anthropic"),
        ("/v1/chat/completions", {"x-api-key": "k"}, "openai"),  # the path wins
        ("/v1/responses", {}, "responses"),
        ("/v1/models", {"anthropic-version": "2023-06-01"}, "anthropic"),
        ("/v1/models", {"x-api-key": "k"}, "anthropic"),
        ("/v1/models", {"authorization": "Bearer k"}, "openai"),
        ("/anything", {}, "openai"),  # the fallback
    ],
)
def test_guess_client(path: str, headers: dict[str, str], expected: str) -> None:
    assert dialects.guess_client(path, headers) == expected


def test_hosts() -> None:
    assert dialects.for_host("api.anthropic.com") is dialects.entry("anthropic")
    assert dialects.for_host("api.openai.com") is dialects.entry("openai")
    assert dialects.for_host("example.com") is None

    # api.openai.com serves two dialects: its path tells them apart
    def name(host: str, path: str) -> str | None:
        found = dialects.for_host(host, path)
        return found.name if found is not None else None

    assert name("api.openai.com", "/v1/responses") == "responses"
    assert name("api.openai.com", "/v1/responses/resp_1") == "responses"
    assert name("api.openai.com", "/v1/chat/completions") == "openai"
    assert name("api.openai.com", "/v1/models") == "openai"
    assert name("api.anthropic.com", "/v1/responses") == "anthropic"


@pytest.mark.parametrize(
    ("host", "path", "expected"),
    [
        ("api.openai.com", "/v1/responses", "responses"),
        ("api.openai.com", "/v1/chat/completions", "openai"),
        ("api.openai.com", "/v1/models", "openai"),
        ("localhost", "/openai/v1/responses", "responses"),
        ("localhost", "/proxy/v1/chat/completions", "openai"),
        ("localhost", "/v1/messages/count_tokens", "anthropic"),
        ("api.anthropic.com", "/v1/models", "anthropic"),
        ("localhost", "/v1/models", None),
    ],
)
def test_the_recorder_tells_dialects_by_path_then_host(
    host: str, path: str, expected: str | None
) -> None:
    found = dialects.recorded(host, path)
    assert (found.name if found is not None else None) == expected


def test_parse_names_the_option_and_the_choices() -> None:
    assert dialects.parse("openai", "x") == "openai"
    with pytest.raises(
        ValueError, match=r"x must be one of anthropic, openai, responses, got 'kiro'"
    ):
        dialects.parse("kiro", "x", "client")  # an upstream only
    assert dialects.parse("kiro", "x") == "kiro"


@pytest.mark.parametrize(
    ("client", "upstream", "expected"),
    [
        ("anthropic", "anthropic", [("default", "anthropic-version")]),
        ("openai", "anthropic", [("default", "anthropic-version")]),
        (
            "anthropic",
            "openai",
            [
                ("drop", "anthropic-version"),
                ("drop", "anthropic-beta"),
                ("drop", "anthropic-dangerous-direct-browser-access"),
            ],
        ),
        ("openai", "openai", []),
    ],
)
def test_dialect_headers(client: ir.Dialect, upstream: ir.Dialect, expected: list[str]) -> None:
    edits = auth.dialect_edits(client, upstream)
    assert [(kind, name.decode()) for kind, name, _, _ in edits] == expected


def test_key_styles() -> None:
    headers = {"x-api-key": "client-key"}
    to_anthropic = auth.upstream_auth_edits(headers, "x-api-key", None, False)
    to_openai = auth.upstream_auth_edits(headers, "bearer", "route-key", False)
    fields = ((b"x-api-key", b"client-key"),)
    assert header_edit.apply(fields, to_anthropic) == ((b"x-api-key", b"client-key"),)
    assert header_edit.apply(fields, to_openai) == ((b"authorization", b"Bearer route-key"),)


def test_in_stream_errors_and_terminal_events() -> None:
    err = ir.ErrorInfo("overloaded", "busy", status=529)
    a, o = anthropic.error_event(err), openai.error_event(err)
    assert a.event == "error" and anthropic.is_terminal(a)
    assert o.event is None and openai.is_terminal(o)
    assert openai.is_terminal(SseEvent(data="[DONE]"))
    assert not openai.is_terminal(SseEvent(data='{"choices":[],"error":null}'))
    assert anthropic.is_token(SseEvent("content_block_delta", "{}"))
    assert not anthropic.is_token(SseEvent("ping", "{}"))
    chunk = '{"choices":[{"index":0,"delta":{"content":"hi"}}]}'
    assert openai.is_token(SseEvent(data=chunk))
    assert not openai.is_token(SseEvent(data='{"choices":[{"delta":{"role":"assistant"}}]}'))


# --------------------------------------------------------------------------- names stay inside

NAMES = frozenset(get_args(ir.Dialect))
# Where dialect names may be compared: the codecs and wire models (each knows its own), the
# registry, and the IR that lists them.
ALLOWED = ("recorder/codecs/", "recorder/wire/", "recorder/dialects.py", "recorder/ir.py")


def _compared_names(tree: ast.AST) -> list[tuple[int, str]]:
    """String constants naming a dialect inside comparisons (==, !=, in, match cases)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            parts = [node.left, *node.comparators]
        elif isinstance(node, ast.MatchValue):
            parts = [node.value]
        else:
            continue
        for part in parts:
            for c in ast.walk(part):
                if isinstance(c, ast.Constant) and c.value in NAMES:
                    found.append((node.lineno, c.value))
    return found


def test_nothing_outside_the_codecs_compares_dialect_names() -> None:
    # the tools too: the fakes, the benchmarks and the scripts learn a new dialect from the
    # registry (the fakes answer from tables keyed by dialect, never an if-chain on names)
    wrong = []
    for pkg in ("recorder", "replay", "addons", "cli", "fakes", "bench", "scripts"):
        for path in sorted((REPO / pkg).rglob("*.py")):
            rel = path.relative_to(REPO).as_posix()
            if rel.startswith(ALLOWED) or "/." in rel:  # not bench/.venv-litellm's packages
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            wrong += [f"{rel}:{line}: {name!r}" for line, name in _compared_names(tree)]
    assert wrong == []


def test_the_name_check_sees_comparisons() -> None:
    tree = ast.parse('if d == "openai" or x in ("anthropic", "y"):\n    pass\n')
    assert [n for _, n in _compared_names(tree)] == ["openai", "anthropic"]


def _recorded_answers() -> list[tuple[str, str, ir.Dialect, object]]:
    """Every answer of the shipped cassettes, both legs: (where, kind, its dialect, the body of
    a 200 JSON answer or the first event's data of a stream)."""
    import json

    out: list[tuple[str, str, ir.Dialect, object]] = []
    for path in sorted((REPO / "cassettes").glob("*/cassette.json")):
        for it in json.loads(path.read_text(encoding="utf-8"))["interactions"]:
            for leg in ("client", "upstream"):
                dialect, response = it[f"{leg}_dialect"], it[leg]["response"]
                where = f"{path.parent.name}#{it['index']} {leg}"
                if "stream" in response:
                    sse = (path.parent / response["stream"]["file"]).read_bytes()
                    data = [line for line in sse.splitlines() if line.startswith(b"data:")]
                    if data:  # (a stream refused before its first event has none)
                        out.append((where, "stream", dialect, json.loads(data[0][5:])))
                elif response["status"] == 200:
                    out.append((where, "response", dialect, response["body"]))
    return out


def test_an_answer_plainly_in_another_dialect_is_told_apart() -> None:
    """``recorder translate response|stream --from X`` refuses another dialect's answer: every
    recorded answer is its own dialect's and, for each other client dialect, that one's."""
    checks = {"stream": dialects.foreign_stream, "response": dialects.foreign_response}
    others: list[ir.Dialect] = ["anthropic", "openai", "responses"]
    seen = set()
    for where, kind, dialect, data in _recorded_answers():
        if dialect not in others:
            continue  # Kiro streams in its own framing; the CLI answers nobody in it
        seen.add((kind, dialect))
        assert checks[kind](dialect, data) is None, where
        for other in others:
            if other != dialect:
                why = checks[kind](other, data)
                prefix = {
                    "response": f"the body is not a response in the {other} dialect: ",
                    "stream": f"the stream is not in the {other} dialect: ",
                }[kind]
                assert why is not None and why.startswith(prefix), (where, other, why)
                assert f"{dialect}'s" in why or f"of {dialect} answers" in why, why
    assert len(seen) == 6  # JSON answers and streams of all three client dialects
