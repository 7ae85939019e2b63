"""``recorder report``: one exchange, or a whole session, as a self-contained HTML page — the
conversation, and a timeline of both legs on a shared time axis (first byte, first token, every
event, stalls, retries, errors). No script, no external asset: the page reads offline.

* :mod:`~recorder.report.timeline` — what happened when, and its SVG picture
* :mod:`~recorder.report.prices` — token prices for the cost column
* :mod:`~recorder.report.page` — the HTML page
"""
