"""The report as Chromium draws it (headless, the system's package): the timeline, the stall,
the session table, and not one request beyond the file itself."""

from __future__ import annotations

import pytest

from recorder.report.page import render
from tests.browser import chromium, offline_page
from tests.observe import exchanges
from tests.store import samples


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


def test_a_session_report_renders_offline(browser, tmp_path):
    exs = [samples.streaming(), exchanges.stalled(), samples.failed(), exchanges.openai_client()]
    path = tmp_path / "report.html"
    path.write_text(render(exs))
    page, guard = offline_page(browser)
    page.goto(path.as_uri())
    shot = tmp_path / "report.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 20_000
    assert guard.blocked == [] and guard.seen == [path.as_uri()]
    assert page.title().startswith("tapegate · session")
    assert page.locator("table.exchanges tbody tr").count() == 4
    assert page.locator("section.exchange").count() == 4
    # the timelines are drawn at a readable size, one tick per event
    box = page.locator("svg.timeline").first.bounding_box()
    assert box is not None and box["width"] > 900 and box["height"] > 60
    ticks = page.locator("section#ex-2 svg.timeline line.ev")
    assert ticks.count() == len(exchanges.stalled().events)
    stall = page.locator("section#ex-2 rect.stall").first
    sbox = stall.bounding_box()
    assert sbox is not None and sbox["width"] > 50  # 3 s of a 3.2 s exchange
    # computed as color(srgb r g b / alpha): a red
    fill = stall.evaluate("e => getComputedStyle(e).fill")
    red, green, blue = (float(x) for x in fill.split("srgb", 1)[1].split("/")[0].split())
    assert red > 2 * green and red > 2 * blue, fill
    assert page.locator("section#ex-2 text.stall-label").first.text_content().startswith("stall")
    text = page.locator("body").inner_text()
    assert "List the files, then say done." in text and "Hello <script>x</script>" in text
    assert page.locator("script").count() == 0
    # the tooltip of an event names its content
    title = page.locator("section#ex-1 svg line.ev.text title").first.text_content()
    assert "Listing." in title
