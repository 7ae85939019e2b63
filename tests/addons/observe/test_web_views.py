"""The content views, outside mitmweb: which body they read, which priority they claim, and the
adapter for mitmproxy 11's older view API."""

from __future__ import annotations

import warnings
from types import SimpleNamespace

from mitmproxy import http
from mitmproxy.test import tflow

from addons.metadata import EXCHANGE
from addons.observe.web_views import ConversationView, PairView, legacy_view
from tests.store import samples

RAW = "".join(f"data: {d}\n\n" for d in samples.UPSTREAM_DATA).encode()


def _meta(flow: http.HTTPFlow, message: http.Message, ctype: str) -> SimpleNamespace:
    return SimpleNamespace(flow=flow, http_message=message, content_type=ctype)


def _flow(path: str = "/v1/chat/completions") -> http.HTTPFlow:
    f = tflow.tflow(resp=True)
    f.request.path = path
    f.response.content = RAW
    return f


def test_a_stream_without_a_recorded_exchange_is_read_from_its_body():
    f = _flow()
    meta = _meta(f, f.response, "text/event-stream")
    view = ConversationView()
    assert view.render_priority(RAW, meta) == 2.0  # chosen over every other view
    text = view.prettify(RAW, meta)
    assert text.startswith("openai stream · model gpt-5.5 · id c1")
    assert "+0ms" not in text  # a body alone has no times
    assert "no recorded exchange" in PairView().prettify(RAW, meta)


def test_with_the_exchange_the_response_is_the_client_leg_and_the_request_the_upstream_leg():
    f = _flow()
    f.metadata[EXCHANGE] = samples.streaming()
    view = ConversationView()
    response = view.prettify(b"-", _meta(f, f.response, "text/event-stream"))
    assert response.startswith("anthropic stream") and "+17ms" in response  # with its times
    request = view.prettify(b"-", _meta(f, f.request, "application/json"))
    assert request.startswith("openai request · model gpt-5.5")
    assert "upstream · openai" in PairView().prettify(b"-", _meta(f, f.response, ""))


def test_json_keeps_its_own_view_and_other_traffic_is_not_claimed():
    f = _flow()
    view = ConversationView()
    assert view.render_priority(b"{}", _meta(f, f.request, "application/json")) == 0.5
    other = _flow("/index.html")
    assert view.render_priority(b"<html>", _meta(other, other.response, "text/html")) == -1
    assert PairView().render_priority(RAW, _meta(f, f.response, "")) == -1


def test_the_same_view_for_mitmproxy_11s_older_api():
    f = _flow()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # mitmproxy 12 keeps it deprecated
        legacy = legacy_view(ConversationView())
    assert legacy.name == "LLM conversation"
    desc, lines = legacy(RAW, flow=f, http_message=f.response, content_type="text/event-stream")
    first = next(iter(lines))
    assert desc == "LLM conversation" and first == [
        ("text", "openai stream · model gpt-5.5 · id c1")
    ]
    assert legacy.render_priority(RAW, flow=f, http_message=f.response,
                                  content_type="text/event-stream") == 2.0  # fmt: skip
