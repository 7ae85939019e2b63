"""mitmproxy messages -> :mod:`recorder.exchange` snapshots (redacted). What the recorder reads
from them (model, usage, stop reason) is :mod:`recorder.summary`."""

from __future__ import annotations

from mitmproxy import http

from recorder.exchange import HttpRequest, HttpResponse
from recorder.secrets import REDACTED, is_secret, redact_url


def header_pairs(headers: http.Headers) -> list[tuple[str, str]]:
    """All header fields in order, repeated names included (mitmproxy keeps them as bytes)."""
    return [(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers.fields]


def redacted_pairs(headers: http.Headers) -> list[tuple[str, str]]:
    """``redact_headers(header_pairs(headers))`` in one pass (twice per recorded request)."""
    out = []
    for k, v in headers.fields:
        name = k.decode("latin-1")
        out.append((name, REDACTED if is_secret(name) else v.decode("latin-1")))
    return out


def _redact_url(url: str) -> str:
    # Without "@" (userinfo) or "=" (a query parameter) there is nothing to redact.
    return redact_url(url) if "@" in url or "=" in url else url


def snapshot_request(req: http.Request, body: bytes | None, url: str) -> HttpRequest:
    return HttpRequest(
        method=req.method,
        url=_redact_url(url),
        headers=redacted_pairs(req.headers),
        body=body,
    )


def snapshot_response(resp: http.Response, body: bytes | None) -> HttpResponse:
    return HttpResponse(
        status=resp.status_code,
        headers=redacted_pairs(resp.headers),
        body=body,
    )
