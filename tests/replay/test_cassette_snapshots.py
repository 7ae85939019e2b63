"""Every cassette under ``cassettes/`` replayed through today's translator.

For each interaction the recorded upstream leg goes through the current codecs (with the Context
the gateway built, see :func:`replay.verify.gateway_context`) and the client leg that comes out is

* snapshotted, one readable JSON file per interaction under
  ``__snapshots__/test_cassette_snapshots/`` (refresh: ``uv run pytest tests/replay
  --snapshot-update``, then review the diff like code);
* compared with the client leg recorded in the cassette, exactly as ``recorder verify`` does;
* for a pass-through cassette (client dialect == upstream dialect), compared byte for byte
  (streams) or as JSON (bodies): the gateway must not touch pass-through traffic.

A new cassette directory is picked up without touching this file.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from syrupy.assertion import SnapshotAssertion
from typer.testing import CliRunner

from cli.app import app
from recorder.codecs import anthropic_parts
from recorder.errors import TranslationError
from replay.cassette import Interaction, LegRecord, Request, Response, json_bytes, load
from replay.export import export
from replay.verify import Replayed, check_interaction, recorded_response, replay_interaction
from tests.replay.conftest import OPENAI, ROOT
from tests.replay.recording import PATHS, record
from tests.replay.snapshot_ext import ClientLegSnapshotExtension, client_leg

pytest_plugins = ["pytester"]

CASSETTES = ROOT / "cassettes"
MSG = [{"role": "user", "content": "Say hello."}]
REFRESH = "refresh with `uv run pytest tests/replay --snapshot-update`"


def cassette_dirs(root: Path = CASSETTES) -> list[Path]:
    return sorted(p.parent for p in root.glob("*/cassette.json"))


@pytest.mark.parametrize("cassette_dir", cassette_dirs(), ids=lambda p: p.name)
def test_replayed_client_leg(cassette_dir: Path, snapshot: SnapshotAssertion) -> None:
    assert_cassette_replays(cassette_dir, snapshot)


def assert_cassette_replays(cassette_dir: Path, snapshot: SnapshotAssertion) -> None:
    """The whole check for one cassette. Every interaction is compared before anything fails,
    so one regression shows all its diffs and ``--snapshot-update`` writes every file."""
    snap = snapshot.use_extension(ClientLegSnapshotExtension)
    problems: list[str] = []
    compared = 0
    for it in load(cassette_dir).interactions:
        check = check_interaction(it)  # what `recorder verify` runs
        if check.skipped:
            continue
        compared += 1
        name = f"{it.index:04d}"
        try:
            replayed = replay_interaction(it)
        except TranslationError as e:  # check.diff says the same; no snapshot to compare
            problems.append(f"#{name}: cannot translate: {e}")
            continue
        doc = client_leg(it.client_dialect, it.upstream_dialect, replayed.response)
        if not snap(name=name) == doc:
            diff = "\n".join(snap.get_assert_diff())
            problems.append(f"#{name}: snapshot differs\n{diff}")
        if not check.ok:
            problems.append(f"#{name}: recorder verify fails\n{check.diff}")
        if it.client_dialect == it.upstream_dialect:
            problems += _pass_through_problems(it, replayed)
    if not compared:
        pytest.skip("no interaction of this cassette has both legs and both dialects")
    if any("snapshot differs" in p for p in problems):
        problems.append(f"intended? {REFRESH} and review the snapshot diff like code")
    if problems:
        pytest.fail(f"{cassette_dir.name}:\n" + "\n\n".join(problems), pytrace=False)


def _pass_through_problems(it: Interaction, replayed: Replayed) -> list[str]:
    assert it.client is not None and it.client.response is not None
    recorded = it.client.response
    name = f"#{it.index:04d}"
    if replayed.stream is not None:
        want = recorded.stream.data if recorded.stream is not None else b""
        if replayed.stream == want:
            return []
        at = next(
            (n for n, (a, b) in enumerate(zip(want, replayed.stream, strict=False)) if a != b),
            min(len(want), len(replayed.stream)),
        )
        return [
            f"{name}: pass-through stream is not byte-identical (first difference at byte {at}):\n"
            f"  recorded {want[max(0, at - 40) : at + 40]!r}\n"
            f"  replayed {replayed.stream[max(0, at - 40) : at + 40]!r}"
        ]
    want_doc = recorded_response(it.client)  # parsed JSON, or the text of a non-JSON body
    if replayed.response == want_doc:
        return []
    return [f"{name}: pass-through answer changed: {replayed.response!r} != {want_doc!r}"]


# --------------------------------------------------------------------------- a deliberate bug


def _cross_dialect_cassette(directory: Path) -> Path:
    """openai upstream -> anthropic client, one JSON and one streamed answer, recorded through
    today's translator (the example cassette's upstream bytes, re-chunked as recorded)."""
    up = load(OPENAI).interactions
    body = {"model": "claude-sonnet-5", "max_tokens": 50, "messages": MSG}
    plain, streamed = up[0].upstream, up[1].upstream
    assert plain is not None and plain.response is not None
    assert streamed is not None and streamed.response is not None
    assert streamed.response.stream is not None
    chunks = [c for _, c in streamed.response.stream.chunks()]
    exchanges = [
        record(
            "anthropic", "openai", body, upstream_body=plain.response.body, id="a", started_at=1
        ),
        record("anthropic", "openai", body | {"stream": True}, upstream_chunks=chunks, id="b"),
    ]
    export(exchanges, directory)
    return directory


INNER_TEST = """
from pathlib import Path

import pytest

from tests.replay.test_cassette_snapshots import assert_cassette_replays, cassette_dirs

@pytest.mark.parametrize("cassette_dir", cassette_dirs(Path("cassettes")), ids=lambda p: p.name)
def test_replayed_client_leg(cassette_dir, snapshot):
    assert_cassette_replays(cassette_dir, snapshot)
"""


def test_a_translation_bug_fails_both_verify_and_the_snapshot(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    cassette = _cross_dialect_cassette(pytester.path / "cassettes" / "cross")
    pytester.makepyfile(test_inner=INNER_TEST)
    args = ("-p", "no:cacheprovider", "-p", "no:randomly")
    pytester.runpytest(*args, "--snapshot-update").assert_outcomes(passed=1)
    snapshots = sorted(p.name for p in (pytester.path / "__snapshots__" / "test_inner").iterdir())
    assert snapshots == [
        "test_replayed_client_leg[cross][0000].json",
        "test_replayed_client_leg[cross][0001].json",
    ]

    # The regression: OpenAI's "stop" now reaches Anthropic clients as max_tokens and vice versa.
    table = anthropic_parts._STOP_REASON_FROM_IR
    monkeypatch.setitem(table, "end_turn", table["max_tokens"])
    monkeypatch.setitem(table, "max_tokens", "end_turn")

    cli = CliRunner().invoke(app, ["verify", str(cassette)])
    assert cli.exit_code == 1, cli.output
    assert "cross#0: DIFFERS" in cli.output and "cross#1: DIFFERS" in cli.output
    assert '+    "stop_reason": "max_tokens",' in cli.output
    assert "0/1 cassettes verified" in cli.output

    inner = pytester.runpytest(*args)
    inner.assert_outcomes(failed=1)
    out = inner.stdout.str()
    assert "#0000: snapshot differs" in out and "#0001: snapshot differs" in out
    assert "2 snapshots failed." in out  # syrupy's own verdict, not only our assertion message
    assert "#0000: recorder verify fails" in out


def test_the_bug_test_starts_from_a_passing_cassette(tmp_path: Path) -> None:
    """Without the injected bug, the generated cassette verifies (so the test above proves that
    the bug, not the cassette, is what fails)."""
    cassette = _cross_dialect_cassette(tmp_path / "cross")
    cli = CliRunner().invoke(app, ["verify", str(cassette)])
    assert cli.exit_code == 0, cli.output
    assert "1/1 cassettes verified" in cli.output


def test_a_new_cassette_directory_is_picked_up(tmp_path: Path) -> None:
    shutil.copytree(OPENAI, tmp_path / "b-new")
    shutil.copytree(OPENAI, tmp_path / "a-new")
    (tmp_path / "notes").mkdir()  # no cassette.json: not a cassette
    assert [d.name for d in cassette_dirs(tmp_path)] == ["a-new", "b-new"]
    assert {"anthropic-hello", "openai-hello"} <= {d.name for d in cassette_dirs()}


def test_the_extension_masks_volatile_values_and_keeps_the_reading_order() -> None:
    chunk = {"id": "c1", "created": 1767225600, "obfuscation": "x9", "system_fingerprint": None}
    doc = client_leg(
        "openai", "openai", {"status": 200, "events": [{"event": None, "data": chunk}]}
    )
    text = ClientLegSnapshotExtension().serialize(doc)
    assert isinstance(text, str)
    assert json.loads(text) == {
        "client_dialect": "openai",
        "upstream_dialect": "openai",
        "status": 200,
        "events": [
            {
                "event": None,
                "data": {
                    "created": "<created>",
                    "id": "c1",  # seeded like the gateway: reproducible, so kept
                    "obfuscation": "<obfuscation>",
                    "system_fingerprint": None,  # a null is not volatile
                },
            }
        ],
    }
    assert list(json.loads(text)) == ["client_dialect", "upstream_dialect", "status", "events"]
    assert text.index('"event"') < text.index('"data"') and text.endswith("}\n")


# --------------------------------------------------------------------------- verify's replay


def _interaction(client: str, upstream: str, answer: Response, recorded: Response) -> Interaction:
    def leg(path: str, resp: Response) -> LegRecord:
        body = json_bytes({"model": "m", "max_tokens": 10, "messages": MSG})
        return LegRecord(Request("POST", f"http://127.0.0.1:8080{path}", {}, body), resp)

    return Interaction(
        0,
        client=leg(PATHS[client], recorded),
        upstream=leg(PATHS[upstream], answer),
        id="ex-1",
        client_dialect=client,
        upstream_dialect=upstream,
    )


def test_a_pass_through_error_is_expected_untouched() -> None:
    """The gateway forwards a same-dialect error as it came (request_id included); the replay
    must not rewrite it through the IR."""
    err = {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "x"},
        "request_id": "r",
    }
    resp = Response(529, {}, json_bytes(err))
    it = _interaction("anthropic", "anthropic", resp, resp)
    assert check_interaction(it).ok, check_interaction(it).diff
    assert replay_interaction(it).response == {"status": 529, "body": err}


def test_ids_are_numbered_alike_whatever_the_key_order() -> None:
    """A cassette stores bodies with sorted keys, a codec builds them in wire order: the message
    id and the tool call id must still get the same placeholders on both sides."""
    call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    message = {"role": "assistant", "content": None, "tool_calls": [call]}
    choice = {"index": 0, "message": message, "finish_reason": "tool_calls"}
    upstream = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m"}
    answer = Response(200, {}, json_bytes(upstream | {"choices": [choice]}))
    it = _interaction("anthropic", "openai", answer, Response(200, {}, None))
    translated = replay_interaction(it).response["body"]
    assert list(translated).index("id") < list(translated).index("content")  # wire order
    assert it.client is not None
    it.client.response = Response(200, {}, json_bytes(dict(sorted(translated.items()))))
    assert check_interaction(it).ok, check_interaction(it).diff
