from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest

from replay.cassette import (
    Cassette,
    CassetteError,
    CassetteVersionError,
    Interaction,
    LegRecord,
    Request,
    Response,
    Stream,
    load,
    save,
)
from tests.replay.conftest import ANTHROPIC, OPENAI


def _one(tmp_path: Path) -> Path:
    headers = {
        "Authorization": "Bearer sk-ant-api03-SECRET",
        "x-api-key": "sk-ant-SECRET",
        "Date": "Sun, 22 Nov 2026 02:00:00 GMT",
        "x-stainless-retry-count": "0",
        "Content-Type": "application/json",
        "anthropic-version": "2023-06-01",
    }
    stream = Stream.from_chunks(
        [(0.1, b'data: {"a":1}\n'), (0.2, b"\n"), (0.3, b"data: [DONE]\n\n")]
    )
    it = Interaction(
        0,
        upstream=LegRecord(
            Request(
                "POST",
                "https://u:p@api.example/v1/chat/completions?key=SECRET",
                headers,
                b'{"model":"m","messages":[]}',
            ),
            Response(200, {"content-type": "text/event-stream", "request-id": "r1"}, stream=stream),
        ),
        client=LegRecord(
            Request("POST", "http://127.0.0.1:8080/v1/chat/completions", {}, b"not json"),
            Response(500, {}, b"\xff\xfe binary"),
        ),
        model="m",
        stream=True,
    )
    return save(Cassette("demo", [it]), tmp_path / "demo")


def test_round_trip_keeps_bodies_chunks_and_timing(tmp_path: Path) -> None:
    d = _one(tmp_path)
    cas = load(d)
    up = cas.interactions[0].upstream
    assert up is not None and up.response is not None and up.response.stream is not None
    # stored parsed (keys sorted), served compact: the same JSON, not the same bytes
    assert up.request.body == b'{"messages":[],"model":"m"}'
    assert [c for _, c in up.response.stream.chunks()] == [
        b'data: {"a":1}\n',
        b"\n",
        b"data: [DONE]\n\n",
    ]
    assert [t for t, _ in up.response.stream.chunks()] == [0.1, 0.2, 0.3]
    cl = cas.interactions[0].client
    assert cl is not None and cl.response is not None
    assert cl.request.body == b"not json" and cl.response.body == b"\xff\xfe binary"
    assert (d / "0000.upstream.sse").read_bytes() == b'data: {"a":1}\n\ndata: [DONE]\n\n'


def test_file_is_sorted_indented_json_with_parsed_bodies(tmp_path: Path) -> None:
    text = (_one(tmp_path) / "cassette.json").read_text()
    doc = json.loads(text)
    assert text == json.dumps(doc, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    assert doc["version"] == 1
    req = doc["interactions"][0]["upstream"]["request"]
    assert req["body"] == {"model": "m", "messages": []}  # parsed, not an escaped string
    assert doc["interactions"][0]["client"]["request"]["body_text"] == "not json"
    assert "body_base64" in doc["interactions"][0]["client"]["response"]


def test_secrets_redacted_and_volatile_headers_dropped(tmp_path: Path) -> None:
    d = _one(tmp_path)
    text = (d / "cassette.json").read_text()
    assert "SECRET" not in text and "u:p@" not in text
    up = json.loads(text)["interactions"][0]["upstream"]
    assert up["request"]["headers"] == {
        "anthropic-version": "2023-06-01",
        "authorization": "[redacted]",
        "content-type": "application/json",
        "x-api-key": "[redacted]",
    }
    assert up["response"]["headers"] == {"content-type": "text/event-stream"}


def test_newer_version_is_a_clear_error(tmp_path: Path) -> None:
    d = _one(tmp_path)
    doc = json.loads((d / "cassette.json").read_text())
    doc["version"] = 2
    (d / "cassette.json").write_text(json.dumps(doc))
    with pytest.raises(CassetteVersionError, match="version 2.*up to 1"):
        load(d)


@pytest.mark.parametrize("content", ["", "[]", '{"interactions": []}', '{"version": 1}'])
def test_malformed_cassette_is_a_cassette_error(tmp_path: Path, content: str) -> None:
    (tmp_path / "cassette.json").write_text(content)
    with pytest.raises(CassetteError):
        load(tmp_path)


def test_missing_cassette(tmp_path: Path) -> None:
    with pytest.raises(CassetteError, match="no cassette"):
        load(tmp_path / "nope")


def test_examples_load() -> None:
    for d in (ANTHROPIC, OPENAI):
        cas = load(d)
        assert [i.index for i in cas.interactions] == [0, 1]
        assert cas.interactions[1].stream


def test_duckdb_queries_cassettes_directly(tmp_path: Path) -> None:
    for d in (ANTHROPIC, OPENAI):
        shutil.copytree(d, tmp_path / d.name)
    rel = duckdb.sql(
        f"""
        SELECT parse_filename(filename, true, 'system') AS file, it.index, it.model, it.stream,
               it.upstream.response.status AS status
        FROM (SELECT filename, unnest(interactions) AS it
              FROM read_json('{tmp_path}/*/cassette.json', filename = true))
        ORDER BY it.model, it.index
        """
    )
    assert rel is not None
    rows = rel.fetchall()
    assert [r[2:] for r in rows] == [
        ("claude-sonnet-5", False, 200),
        ("claude-sonnet-5", True, 200),
        ("gpt-5-mini", False, 200),
        ("gpt-5-mini", True, 200),
    ]
