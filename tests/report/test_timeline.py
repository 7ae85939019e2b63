"""The timeline: both legs on one axis, moments, stalls, retries, errors; and its SVG."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from recorder.observe.reading import read
from recorder.report.timeline import svg, timeline_of
from tests.observe import exchanges
from tests.store import samples


def _tl(ex, **kw):
    return timeline_of(ex, read(ex), **kw)


def test_every_event_of_both_legs_with_its_kind_and_the_moments():
    ex = samples.streaming()
    tl = _tl(ex, t_sent=0.002)
    assert tl.legs == {"upstream": "upstream · openai", "client": "client · anthropic"}
    assert len(tl.ticks) == len(ex.events)
    client = [t.kind for t in tl.ticks if t.leg == "client"]
    assert client == ["meta", "meta", "text", "meta", "tool", "tool", "tool", "meta", "meta",
                      "meta"]  # fmt: skip
    assert [t.kind for t in tl.ticks if t.leg == "upstream"][-1] == "keepalive"
    assert [(m.css, m.t) for m in tl.moments] == [
        ("sent", 0.002),
        ("first-byte", 0.010),
        ("first-token", 0.017),
        ("end", 0.06),
    ]
    assert tl.stalls == [] and tl.retries == 0 and tl.error is None
    assert tl.bars[0].css == "wait" and (tl.bars[0].start, tl.bars[0].end) == (0.002, 0.010)
    labels = [t.label for t in tl.ticks if t.leg == "client"]
    assert labels[2] == "#2 +17ms content_block_delta text 'Listing.'"


def test_a_long_gap_is_a_stall_on_the_leg_where_it_happened():
    tl = _tl(exchanges.stalled(gap=3.0))
    assert {s.leg for s in tl.stalls} == {"upstream", "client"}
    assert all(2.9 < s.seconds < 3.1 for s in tl.stalls)
    assert tl.retries == 2
    assert _tl(exchanges.stalled(gap=0.5)).stalls == []  # under a second is never a stall
    assert len(_tl(exchanges.stalled(gap=0.5), stall=0.2).stalls) == 2


def test_errors_are_marked_where_they_happened():
    tl = _tl(samples.failed())
    assert tl.error == "upstream 503: upstream said no"
    assert [m.css for m in tl.moments] == ["error"]  # at the end, which it replaces
    hung = _tl(exchanges.hung_up())
    assert hung.moments[-1].css == "error" and hung.error == "Client disconnected."


def test_a_json_answer_is_a_body_bar():
    tl = _tl(samples.plain())
    assert [(b.leg, b.css) for b in tl.bars] == [
        ("upstream", "wait"),
        ("upstream", "body"),
        ("client", "body"),
    ]


def test_the_svg_is_well_formed_with_a_tick_per_event_and_escaped_titles():
    picture = svg(_tl(exchanges.stalled()))
    root = ET.fromstring(picture)
    ns = "{http://www.w3.org/2000/svg}"
    lines = root.findall(f"{ns}line") or root.findall("line")
    ticks = [e for e in lines if "ev" in e.get("class", "").split()]
    assert len(ticks) == len(exchanges.stalled().events)
    stalls = [e for e in root.iter() if e.get("class") == "stall"]
    assert len(stalls) == 2
    assert "↻ 2 retries" in picture
    assert "<script" not in svg(_tl(exchanges.openai_client()))
