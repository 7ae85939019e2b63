"""Exchange rows: long bodies cut into pieces that put back together byte for byte."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from recorder.store import rows as rowmod
from tests.store import samples


def _row_with(column: str, value: object) -> tuple[object, ...]:
    row = list(rowmod.to_rows(samples.plain(id="x")).exchange)
    row[rowmod.EXCHANGE_COLUMNS.index(column)] = value
    return tuple(row)


def _whole(pieces: list[tuple[object, ...]], column: str) -> bytes:
    mine = sorted((p for p in pieces if p[1] == column), key=lambda p: p[2])  # type: ignore[arg-type,return-value]
    assert [p[2] for p in mine] == list(range(len(mine)))
    return b"".join(p[3] for p in mine)  # type: ignore[misc]


@given(st.text(min_size=0, max_size=4000), st.integers(0, 3))
def test_a_json_body_is_cut_between_characters(text, pad):
    body = '{"t":"' + "é" * pad + text.replace("\\", "").replace('"', "") + '"}'
    row, pieces = rowmod.cut_bodies(_row_with("client_request_body", body))
    column = rowmod.EXCHANGE_COLUMNS.index("client_request_body")
    if len(body.encode()) <= rowmod.PIECE_BYTES:
        assert row[column] == body and pieces == []
        return
    assert row[column] is None
    assert _whole(pieces, "client_request_body") == body.encode()
    for p in pieces:
        assert 0 < len(p[3]) <= rowmod.PIECE_BYTES
        p[3].decode("utf-8")  # each piece is text on its own


def test_a_raw_body_is_cut_anywhere_and_short_ones_stay():
    raw = bytes(range(256)) * 40  # 10,240 bytes, not text
    row = _row_with("upstream_response_body_raw", raw)
    cut, pieces = rowmod.cut_bodies(row)
    assert cut[rowmod.EXCHANGE_COLUMNS.index("upstream_response_body_raw")] is None
    assert _whole(pieces, "upstream_response_body_raw") == raw
    assert len(pieces) == 4 and {p[0] for p in pieces} == {"x"}
    # everything else as it was (the sample's own bodies are short)
    keep = [i for i, c in enumerate(rowmod.EXCHANGE_COLUMNS) if c != "upstream_response_body_raw"]
    assert [cut[i] for i in keep] == [row[i] for i in keep]
    assert rowmod.cut_bodies(_row_with("client_request_body_raw", b"x" * rowmod.PIECE_BYTES)) == (
        _row_with("client_request_body_raw", b"x" * rowmod.PIECE_BYTES),
        [],
    )


def test_long_json_bodies_are_the_ones_that_will_be_cut():
    long = '["' + "a" * rowmod.PIECE_BYTES + '"]'
    row = _row_with("client_response_body", long)
    assert rowmod.long_json_bodies(row) == {"client_response_body": long}
    demoted = rowmod.demote_json_bodies(row, ("client_response_body",))
    index = rowmod.EXCHANGE_COLUMNS.index
    assert demoted[index("client_response_body")] is None
    assert demoted[index("client_response_body_raw")] == long.encode()
    assert demoted[index("client_request_body")] == row[index("client_request_body")]
