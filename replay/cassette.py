"""The cassette: a directory of recorded exchanges that reads well in a git diff.

Layout of ``cassettes/<name>/``::

    cassette.json          {"version": 1, "name": ..., "interactions": [...]}  sorted keys, indent 2
    0000.upstream.sse      the upstream leg's stream of interaction 0, verbatim bytes
    0000.client.sse        the client leg's stream of interaction 0

Each interaction holds both legs (``client`` = client <-> gateway, ``upstream`` = gateway <->
upstream); either may be ``null`` in a hand-written cassette. A body that is JSON is stored as
parsed JSON (so a diff shows fields, not an escaped string); other text as ``body_text``; binary as
``body_base64``. A streamed response has ``stream: {"file", "timing"}`` where ``timing`` is a list
of ``[offset_seconds, byte_length]`` per recorded chunk: offsets count from the exchange start, and
the lengths split the ``.sse`` file back into the recorded chunks.

JSON bodies are served back compactly re-serialised, so ``content-length``, ``transfer-encoding``
and ``content-encoding`` are never stored. Secrets are redacted again on every write (never trust
the caller) and volatile headers (date, request ids, rate-limit counters, SDK telemetry) dropped.
The top level stays one object with an ``interactions`` list so that DuckDB can query every
cassette at once::

    SELECT it.model, it.upstream.response.status
    FROM (SELECT unnest(interactions) AS it FROM read_json('cassettes/*/cassette.json'))
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from recorder import safejson
from recorder.secrets import REDACTED, is_secret, redact_url

CASSETTE_VERSION = 1
CASSETTE_FILE = "cassette.json"
Leg = Literal["client", "upstream"]
LEGS: tuple[Leg, ...] = ("client", "upstream")

# Dropped on write: they change on every run (so they only make diffs noisy) or describe the
# framing of the original transfer, which a replay recomputes.
VOLATILE_HEADERS = frozenset(
    {
        "date",
        "request-id",
        "x-request-id",
        "anthropic-organization-id",
        "cf-ray",
        "cf-cache-status",
        "server",
        "via",
        "x-envoy-upstream-service-time",
        "openai-processing-ms",
        "content-length",
        "transfer-encoding",
        "content-encoding",
        "connection",
        "keep-alive",
        "host",
        "user-agent",
        "x-claude-code-session-id",
        "session-id",
        "thread-id",
        "x-client-request-id",
        "x-codex-window-id",
        "x-codex-turn-metadata",
        "amz-sdk-invocation-id",
        "x-amzn-requestid",
        "set-cookie",
    }
)
VOLATILE_HEADER_PREFIXES = ("x-stainless-", "anthropic-ratelimit-", "x-ratelimit-", "cf-")


def is_cassette_dir(value: str) -> bool:
    """``value`` names a directory holding a cassette (URLs never do)."""
    return "://" not in value and (Path(value) / CASSETTE_FILE).is_file()


class CassetteError(Exception):
    """A cassette directory is missing or malformed; the message names the file."""


class CassetteVersionError(CassetteError):
    """The cassette was written by a newer tapegate than this one."""


@dataclass(slots=True)
class Stream:
    """A recorded SSE body with its wire chunking: ``data`` split by ``timing`` lengths."""

    data: bytes
    timing: list[tuple[float, int]]  # (offset seconds from exchange start, byte length)

    def chunks(self) -> list[tuple[float, bytes]]:
        out: list[tuple[float, bytes]] = []
        pos = 0
        for t, n in self.timing:
            out.append((t, self.data[pos : pos + n]))
            pos += n
        if pos < len(self.data):  # a hand-edited file grew: serve the rest at the last offset
            out.append((self.timing[-1][0] if self.timing else 0.0, self.data[pos:]))
        return out

    @classmethod
    def from_chunks(cls, chunks: Iterable[tuple[float, bytes]]) -> Stream:
        parts = [(round(t, 6), c) for t, c in chunks if c]
        return cls(b"".join(c for _, c in parts), [(t, len(c)) for t, c in parts])


@dataclass(slots=True)
class Request:
    method: str
    url: str  # redacted; the path (no query) is what matching uses
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None

    @property
    def path(self) -> str:
        return urlsplit(self.url).path or "/"


@dataclass(slots=True)
class Response:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None  # None when the response was streamed
    stream: Stream | None = None


@dataclass(slots=True)
class LegRecord:
    request: Request
    response: Response | None  # None: no answer was recorded (the connection failed)


@dataclass(slots=True)
class Interaction:
    index: int
    client: LegRecord | None = None
    upstream: LegRecord | None = None
    id: str | None = None
    client_dialect: str | None = None
    upstream_dialect: str | None = None
    model: str | None = None  # what the client asked for
    stream: bool = False
    meta: dict[str, Any] = field(default_factory=dict)  # usage, stop_reason, notes, error, ...

    def leg(self, leg: Leg) -> LegRecord | None:
        return self.client if leg == "client" else self.upstream


@dataclass(slots=True)
class Cassette:
    name: str
    interactions: list[Interaction] = field(default_factory=list)
    path: Path | None = None


# --------------------------------------------------------------------------- headers and bodies


def clean_headers(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Redacted, volatile-free, lower-cased headers (repeats joined, as HTTP allows)."""
    out: dict[str, str] = {}
    for name, value in headers:
        k = name.lower()
        if k in VOLATILE_HEADERS or k.startswith(VOLATILE_HEADER_PREFIXES):
            continue
        v = REDACTED if is_secret(k) else value
        out[k] = f"{out[k]}, {v}" if k in out else v
    return out


_MAX_JSON_DEPTH = 200  # well below the recursion limit json.dumps meets when saving


def _body_to_json(body: bytes | None) -> dict[str, Any]:
    if body is None:
        return {}
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return {"body_base64": base64.b64encode(body).decode("ascii")}
    if not text.strip() or safejson.has_lone_surrogate_escape(text):
        return {"body_text": text}  # a lone surrogate would not survive json.dumps to UTF-8
    try:
        value = json.loads(text)
    except safejson.UNREADABLE:  # not JSON, or nested too deeply to read
        return {"body_text": text}
    if safejson.deeper_than(value, _MAX_JSON_DEPTH):  # json could not write it back
        return {"body_text": text}
    return {"body": value}


def _body_from_json(obj: dict[str, Any]) -> bytes | None:
    if "body" in obj:
        return json_bytes(obj["body"])
    if "body_text" in obj:
        return str(obj["body_text"]).encode("utf-8")
    if "body_base64" in obj:
        return base64.b64decode(obj["body_base64"])
    return None


def json_bytes(value: Any) -> bytes:
    """How a stored JSON body goes back on the wire: compact, non-ASCII kept."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


# --------------------------------------------------------------------------- save


PRIVATE, SHARED = 0o600, 0o644


def save(
    cassette: Cassette, directory: str | os.PathLike[str], *, world_readable: bool = False
) -> Path:
    """Write ``cassette`` to ``directory`` (created; stale ``.sse`` files removed). Its files
    are created 0600 (readable by their owner only: a cassette holds whole conversations) unless
    ``world_readable`` (0644, for a cassette reviewed and meant to be committed)."""
    mode = SHARED if world_readable else PRIVATE
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    for old in d.glob("*.sse"):
        old.unlink()
    doc = {
        "version": CASSETTE_VERSION,
        "name": cassette.name,
        "interactions": [_interaction_to_json(i, d, mode) for i in cassette.interactions],
    }
    text = json.dumps(doc, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    write_file(d / CASSETTE_FILE, text.encode("utf-8"), mode)
    cassette.path = d
    return d


def write_file(path: Path, data: bytes, mode: int) -> None:
    """``path`` holding ``data``, with exactly ``mode`` (an existing file's mode is replaced:
    ``O_CREAT`` alone would keep it)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb", closefd=False) as f:
            f.write(data)
    finally:
        os.close(fd)


def _interaction_to_json(it: Interaction, d: Path, mode: int) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "index": it.index,
        "id": it.id,
        "client_dialect": it.client_dialect,
        "upstream_dialect": it.upstream_dialect,
        "model": it.model,
        "stream": it.stream,
        "meta": it.meta,
    }
    for leg in LEGS:
        rec = it.leg(leg)
        name = f"{it.index:04d}.{leg}.sse"
        obj[leg] = None if rec is None else _leg_to_json(rec, d, name, mode)
    return obj


def _leg_to_json(rec: LegRecord, d: Path, sse_name: str, mode: int) -> dict[str, Any]:
    req = rec.request
    out: dict[str, Any] = {
        "request": {
            "method": req.method,
            "url": redact_url(req.url),
            "headers": clean_headers(req.headers.items()),
            **_body_to_json(req.body),
        },
        "response": None,
    }
    resp = rec.response
    if resp is not None:
        r: dict[str, Any] = {"status": resp.status, "headers": clean_headers(resp.headers.items())}
        if resp.stream is not None:
            write_file(d / sse_name, resp.stream.data, mode)
            r["stream"] = {"file": sse_name, "timing": [list(t) for t in resp.stream.timing]}
        else:
            r.update(_body_to_json(resp.body))
        out["response"] = r
    return out


# --------------------------------------------------------------------------- load


def load(directory: str | os.PathLike[str]) -> Cassette:
    """Read a cassette directory; CassetteVersionError if a newer tapegate wrote it."""
    d = Path(directory)
    f = d / CASSETTE_FILE
    if not f.is_file():
        raise CassetteError(f"no cassette at {d} (missing {CASSETTE_FILE})")
    try:
        doc = json.loads(f.read_text(encoding="utf-8"))
    except ValueError as e:
        raise CassetteError(f"{f}: not valid JSON: {e}") from e
    if not isinstance(doc, dict) or not isinstance(doc.get("version"), int):
        raise CassetteError(f"{f}: not a cassette (no integer 'version')")
    if doc["version"] > CASSETTE_VERSION:
        raise CassetteVersionError(
            f"{f} is cassette format version {doc['version']}, but this tapegate reads only "
            f"versions up to {CASSETTE_VERSION}: upgrade tapegate to replay it"
        )
    try:
        items = [_interaction_from_json(i, n, d) for n, i in enumerate(doc["interactions"])]
    except (KeyError, TypeError, ValueError, OSError) as e:
        raise CassetteError(f"{f}: malformed interaction: {e!r}") from e
    return Cassette(name=str(doc.get("name") or d.name), interactions=items, path=d)


def _interaction_from_json(obj: dict[str, Any], n: int, d: Path) -> Interaction:
    legs = {leg: _leg_from_json(obj.get(leg), d) for leg in LEGS}
    return Interaction(
        index=int(obj.get("index", n)),
        client=legs["client"],
        upstream=legs["upstream"],
        id=obj.get("id"),
        client_dialect=obj.get("client_dialect"),
        upstream_dialect=obj.get("upstream_dialect"),
        model=obj.get("model"),
        stream=bool(obj.get("stream", False)),
        meta=dict(obj.get("meta") or {}),
    )


def _leg_from_json(obj: dict[str, Any] | None, d: Path) -> LegRecord | None:
    if obj is None:
        return None
    rq = obj["request"]
    req = Request(
        method=str(rq.get("method", "POST")).upper(),
        url=str(rq["url"]),
        headers={str(k).lower(): str(v) for k, v in (rq.get("headers") or {}).items()},
        body=_body_from_json(rq),
    )
    rs = obj.get("response")
    if rs is None:
        return LegRecord(req, None)
    stream = None
    if rs.get("stream") is not None:
        s = rs["stream"]
        data = (d / s["file"]).read_bytes()
        timing = [(float(t), int(n)) for t, n in s.get("timing") or []] or [(0.0, len(data))]
        stream = Stream(data, timing)
    resp = Response(
        status=int(rs.get("status", 200)),
        headers={str(k).lower(): str(v) for k, v in (rs.get("headers") or {}).items()},
        body=None if stream is not None else _body_from_json(rs),
        stream=stream,
    )
    return LegRecord(req, resp)
