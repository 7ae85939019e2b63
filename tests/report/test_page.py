"""The report page: self-contained, escaped, with the session's totals."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from recorder.report.page import CSP, render
from recorder.report.prices import PriceList
from tests.observe import exchanges
from tests.store import samples

WHEN = datetime(2026, 1, 2, 3, 4, tzinfo=UTC)


def test_one_exchange_is_a_page_with_its_conversation_and_timeline():
    html = render([samples.streaming()], generated=WHEN)
    assert html.startswith("<!doctype html>")
    assert f'content="{CSP}"' in html
    assert "<title>tapegate · gpt-5.5 · exchange ex-stream</title>" in html
    assert html.count('<svg class="timeline"') == 1
    assert "List the files, then say done." in html and "▸ Bash" in html
    assert "&quot;command&quot;: &quot;ls&quot;" in html  # pretty-printed arguments
    assert "first token" in html and "context_management" in html
    assert "summary" not in re.findall(r'<section class="(\w+)"', html)


def test_nothing_is_fetched_and_everything_recorded_is_escaped():
    html = render([exchanges.openai_client()], generated=WHEN)
    assert "<script" not in html and "&lt;script&gt;x&lt;/script&gt;" in html
    assert "Hi &lt;b&gt;there&lt;/b&gt;" in html
    # no reference to anything outside the page
    assert not re.search(r'(src|href)="(?!#)', html)
    assert "@import" not in html and "url(" not in html


def test_a_session_has_a_row_per_exchange_with_totals_and_cost():
    exs = [exchanges.openai_client(), samples.failed(), exchanges.stalled()]
    html = render(exs, generated=WHEN)
    rows = re.findall(r"<tbody>(.*)</tbody>", html, re.S)[0].count("<tr")
    assert rows == 3
    # 1M in and 1M out of claude-sonnet-4-5 at $3 / $15; the others are unpriced
    assert "$18.00 + ?" in html
    assert "1,000,110" not in html  # failed has no usage; stalled has 50
    assert "1,000,050" in html
    assert "1 error" in html and 'class="failed"' in html
    assert html.count('<section class="exchange"') == 3
    assert "stall 3.00s" in html and "retries" in html


def test_later_turns_show_only_their_new_messages():
    html = render([exchanges.turn(n) for n in (1, 2, 3)], generated=WHEN)
    assert html.count("main question 1") == 1
    assert html.count("main question 3") == 1
    assert html.count("earlier messages, shown above") == 2


def test_prices_from_a_file_name_their_source(tmp_path):
    f = tmp_path / "p.json"
    f.write_text('{"claude-x": {"input": 1000000, "output": 0}}')
    html = render([exchanges.turn(1)], prices=PriceList.load(f), generated=WHEN)
    assert "$10.00" in html and str(f) in html
