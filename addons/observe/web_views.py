"""mitmweb's content views for LLM traffic (``uv run mitmweb -s addons/gateway.py``):

* **LLM conversation** — the body shown (a request, a JSON answer, an SSE stream of any dialect
  the codecs know) as the conversation it carries, a stream's events with their times; chosen
  automatically for LLM streams;
* **LLM translation pair** — the client leg and the upstream leg of the exchange side by side.

In mitmweb a translated flow's request is the one sent upstream and its response the one sent
to the client, so each view reads the leg the body belongs to, from the recorded exchange when
the flow has one (times included), else from the body alone. Under mitmweb the gateway keeps
streamed bodies (``store_streamed_bodies``), without which mitmproxy shows a stream as missing.

mitmproxy 12 has the ``Contentview`` protocol used here; mitmproxy 11 (Python 3.11) only the
older ``View`` class, to which :func:`legacy_view` adapts the same views.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Literal, cast

from mitmproxy import contentviews, ctx, http

from addons.metadata import EXCHANGE
from recorder import dialects
from recorder.exchange import Exchange

if TYPE_CHECKING:
    from recorder.observe.reading import LegReading

# The views and the reading of the exchange they draw (recorder.observe.views and .reading, and
# rich) load when a view is first drawn: mitmdump never draws one, and every start would pay.

log = logging.getLogger("tapegate.observe")
Part = Literal["request", "response"]


def _message(metadata: Any) -> tuple[http.HTTPFlow | None, Part]:
    flow = getattr(metadata, "flow", None)
    msg = getattr(metadata, "http_message", None)
    if not isinstance(flow, http.HTTPFlow):
        return None, "response"
    return flow, "request" if msg is flow.request else "response"


def _exchange(flow: http.HTTPFlow | None) -> Exchange | None:
    ex = flow.metadata.get(EXCHANGE) if flow is not None else None
    if not isinstance(ex, Exchange) or (ex.client_request is None and not ex.taped):
        return None  # none, or one filled in without detail (nothing recorded or observed)
    return ex


def leg_of(data: bytes, metadata: Any) -> LegReading:
    """The leg whose body ``data`` is."""
    from recorder.observe.reading import read, read_message, settled_copy

    flow, part = _message(metadata)
    ex = _exchange(flow)
    if ex is not None:
        reading = read(settled_copy(ex))
        if part == "response":
            return reading.client
        return reading.upstream or reading.client
    dialect = None
    if flow is not None:
        spec = dialects.recorded(flow.request.host, flow.request.path.split("?", 1)[0])
        dialect = spec.name if spec is not None else None
    status = flow.response.status_code if flow is not None and flow.response else 200
    return read_message(data, dialect, part, status)


class ConversationView:
    name = "LLM conversation"
    syntax_highlight = "none"

    def prettify(self, data: bytes, metadata: Any) -> str:
        from recorder.observe import views

        _, part = _message(metadata)
        return views.conversation(leg_of(data, metadata), part)

    def render_priority(self, data: bytes, metadata: Any) -> float:
        flow, part = _message(metadata)
        if flow is None or not data:
            return -1
        path = flow.request.path.split("?", 1)[0]
        known = _exchange(flow) is not None or dialects.for_path(path) is not None
        if not known:
            return -1
        ctype = str(getattr(metadata, "content_type", "") or "")
        # a stream has no better view in mitmproxy; JSON keeps its own view unless chosen
        return 2.0 if part == "response" and "event-stream" in ctype else 0.5

    def __lt__(self, other: Any) -> bool:
        return bool(self.name < other.name)


class PairView:
    name = "LLM translation pair"
    syntax_highlight = "none"

    def prettify(self, data: bytes, metadata: Any) -> str:
        flow, part = _message(metadata)
        ex = _exchange(flow)
        if ex is None:
            return "no recorded exchange for this flow (is the gateway recording or observing?)\n"
        from recorder.observe import views
        from recorder.observe.reading import read, settled_copy

        ex = settled_copy(ex)
        return views.pair(ex, read(ex), part)

    def render_priority(self, data: bytes, metadata: Any) -> float:
        return -1  # chosen by hand only

    def __lt__(self, other: Any) -> bool:
        return bool(self.name < other.name)


VIEWS = (ConversationView(), PairView())


class WebViews:
    """Registers the views when loaded; under mitmweb, keeps streamed bodies."""

    def __init__(self) -> None:
        self.registered = False
        self.keep_bodies = False  # mitmweb without store_streamed_bodies (mitmproxy 11)

    def load(self, loader: Any) -> None:
        if self.registered:
            return
        for view in VIEWS:
            # The views have the Contentview protocol's shape (mitmproxy 12) without its import
            modern = hasattr(contentviews, "Contentview")
            contentviews.add(cast(Any, view if modern else legacy_view(view)))
        self.registered = True

    def running(self) -> None:
        opts = ctx.options
        if "web_port" not in opts:
            return
        if "store_streamed_bodies" not in opts:
            self.keep_bodies = True  # mitmproxy 11: the response hook fills them in
        elif not opts.store_streamed_bodies:
            opts.update(store_streamed_bodies=True)  # type: ignore[no-untyped-call]
            log.info("tapegate: mitmweb keeps streamed bodies so that streams can be viewed")

    def response(self, flow: http.HTTPFlow) -> None:
        """mitmproxy 11 under mitmweb: a streamed body, as the client got it, from the tape
        (the stream has gone out already; this only keeps it for the views)."""
        resp = flow.response
        if not self.keep_bodies or resp is None or not resp.stream or resp.raw_content:
            return
        ex = flow.metadata.get(EXCHANGE)
        if isinstance(ex, Exchange) and ex.taped:
            resp.content = b"".join(data for leg, _, data in ex.taped if leg == "client")


def legacy_view(view: ConversationView | PairView) -> Any:
    """The same view for mitmproxy 11's ``contentviews.View`` API (and 12's deprecated one)."""
    from types import SimpleNamespace

    from mitmproxy.contentviews import base

    def meta(kw: dict[str, Any]) -> SimpleNamespace:
        return SimpleNamespace(
            flow=kw.get("flow"), http_message=kw.get("http_message"),
            content_type=kw.get("content_type"),
        )  # fmt: skip

    class Legacy(base.View):
        name = view.name

        def __call__(self, data: bytes, **kw: Any) -> Any:
            text = view.prettify(data, meta(kw))
            return view.name, ([("text", line)] for line in text.splitlines())

        def render_priority(self, data: bytes, **kw: Any) -> float:
            return view.render_priority(data, meta(kw))

    return Legacy()
