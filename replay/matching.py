"""LLM-aware request matching: a canonical key per request, and a miss that explains itself.

Two requests match when method, path (query ignored) and the *canonical* body agree. The
canonical body is the parsed JSON minus the fields that change between two identical runs of a
client (see ``DEFAULT_IGNORE_PATHS``; research/clients.md §8), with dates inside "today's date"
reminders masked, and so are the per-run details of a tool's output (Codex's chunk id and wall
time). Headers are not compared unless a policy names them: SDK telemetry
(``x-stainless-*``, ``user-agent``) and session headers differ on every run. Pure functions only.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

# Paths: dot-separated keys; "name[]" means every element of the list "name"; "*" any key.
DEFAULT_IGNORE_PATHS: tuple[str, ...] = (
    "metadata.user_id",  # Claude Code: device + per-run session id
    "metadata.session_id",
    "user",  # OpenAI end-user id; the gateway fills it from Claude Code's metadata.user_id
    "stream_options",  # OpenAI SDK usage/obfuscation switches, not conversation content
    "prompt_cache_key",  # Codex: per-session cache key
    "client_metadata",  # Codex: session / thread / turn ids, timestamps
    "input[].id",  # Codex: client-minted item ids (msg_<uuid>, fco_<uuid>)
)
DATE_MARKERS: tuple[str, ...] = ("currentDate", "Today's date", "current_date", "today's date")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
DATE_MASK = "YYYY-MM-DD"
# Codex's exec_command output starts with a chunk id and the command's wall time, new each run.
_CODEX_RUN = re.compile(r"^(Chunk ID: )[0-9a-zA-Z]+$|^(Wall time: )[0-9.]+( seconds)$", re.M)
_CODEX_MARKER = "Wall time: "
_MISSING = "<missing>"


@dataclass(frozen=True, slots=True)
class MatchPolicy:
    """What counts as "the same request". ``ignore_paths`` replaces the defaults; use
    ``MatchPolicy().ignoring("tools")`` to add to them."""

    ignore_paths: tuple[str, ...] = DEFAULT_IGNORE_PATHS
    mask_dates: bool = True
    mask_run_details: bool = True  # tool output details new on every run (Codex's wall time)
    match_headers: tuple[str, ...] = ()  # lower-case header names that must be equal
    match_query: bool = False

    def ignoring(self, *paths: str) -> MatchPolicy:
        return replace(self, ignore_paths=self.ignore_paths + paths)


@dataclass(frozen=True, slots=True)
class RequestView:
    """A request reduced to what matching looks at."""

    method: str
    path: str
    body: Any  # canonical JSON value, or the raw text for a non-JSON body, or None
    headers: tuple[tuple[str, str], ...] = ()
    model: str | None = None
    key: str = field(default="", compare=False)  # sha256 of the canonical request


def view(
    method: str,
    url: str,
    body: bytes | None,
    headers: dict[str, str] | None = None,
    policy: MatchPolicy = MatchPolicy(),  # noqa: B008 (frozen, so a shared default is safe)
) -> RequestView:
    parts = urlsplit(url)
    path = parts.path or "/"
    if policy.match_query and parts.query:
        path = f"{path}?{parts.query}"
    canon = canonical_body(body, policy)
    model = canon.get("model") if isinstance(canon, dict) else None
    hdrs = {k.lower(): v for k, v in (headers or {}).items()}
    picked = tuple((h, hdrs.get(h, "")) for h in policy.match_headers)
    canonical = json.dumps(
        [method.upper(), path, canon, picked], sort_keys=True, separators=(",", ":"),
        ensure_ascii=False,
    )  # fmt: skip
    key = hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()
    return RequestView(
        method.upper(), path, canon, picked, model if isinstance(model, str) else None, key
    )


def canonical_body(body: bytes | None, policy: MatchPolicy) -> Any:
    if not body:
        return None
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        return body.decode("utf-8", "replace")
    for p in policy.ignore_paths:
        _drop(value, _parse_path(p))
    if policy.mask_run_details:
        value = _mask_run_details(value)
    return _mask_dates(value) if policy.mask_dates else value


def _parse_path(path: str) -> list[str]:
    """``input[].id`` -> ["input", "[]", "id"]."""
    out: list[str] = []
    for seg in path.split("."):
        while seg.endswith("[]"):
            seg = seg[:-2]
            out += [seg, "[]"] if seg else ["[]"]
            seg = ""
        if seg:
            out.append(seg)
    return out


def _drop(value: Any, path: list[str]) -> None:
    if not path:
        return
    head, rest = path[0], path[1:]
    if head == "[]":
        if isinstance(value, list):
            for item in value:
                _drop(item, rest)
        return
    if not isinstance(value, dict):
        return
    keys = list(value) if head == "*" else [head] if head in value else []
    for k in keys:
        if rest:
            _drop(value[k], rest)
        else:
            del value[k]


def _mask_run_details(value: Any) -> Any:
    if isinstance(value, str):
        if _CODEX_MARKER in value:
            return _CODEX_RUN.sub(lambda m: (m[1] or m[2]) + "*" + (m[3] or ""), value)
        return value
    if isinstance(value, list):
        return [_mask_run_details(v) for v in value]
    if isinstance(value, dict):
        return {k: _mask_run_details(v) for k, v in value.items()}
    return value


def _mask_dates(value: Any) -> Any:
    if isinstance(value, str):
        if any(m in value for m in DATE_MARKERS):
            return _DATE.sub(DATE_MASK, value)
        return value
    if isinstance(value, list):
        return [_mask_dates(v) for v in value]
    if isinstance(value, dict):
        return {k: _mask_dates(v) for k, v in value.items()}
    return value


# --------------------------------------------------------------------------- explaining a miss


# Top-level keys of an LLM request in the order a reader cares about; the rest follow sorted.
_KEY_ORDER = ("model", "system", "instructions", "messages", "input", "tools", "tool_choice")


def _ordered_keys(a: dict[str, Any], b: dict[str, Any], top: bool) -> list[str]:
    keys = sorted(set(a) | set(b))
    if not top:
        return keys
    return [k for k in _KEY_ORDER if k in keys] + [k for k in keys if k not in _KEY_ORDER]


def differences(a: Any, b: Any, path: str = "") -> Iterator[tuple[str, Any, Any]]:
    """Every JSON path where ``a`` and ``b`` differ, with both values (model and messages first)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in _ordered_keys(a, b, top=not path):
            sub = f"{path}.{k}" if path else str(k)
            if k not in a or k not in b:
                yield sub, a.get(k, _MISSING), b.get(k, _MISSING)
            else:
                yield from differences(a[k], b[k], sub)
    elif isinstance(a, list) and isinstance(b, list):
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            yield from differences(x, y, f"{path}[{i}]")
        for i in range(min(len(a), len(b)), max(len(a), len(b))):
            yield f"{path}[{i}]", a[i] if i < len(a) else _MISSING, b[i] if i < len(b) else _MISSING
    elif not (a == b and type(a) is type(b)):
        yield path or "(body)", a, b


def first_difference(a: Any, b: Any) -> tuple[str, Any, Any] | None:
    return next(differences(a, b), None)


def _leaves(value: Any, path: str = "") -> Iterator[str]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _leaves(v, f"{path}[{i}]")
    else:
        yield f"{path}={json.dumps(value, sort_keys=True)}"


def similarity(a: RequestView, b: RequestView) -> tuple[int, int, int, float]:
    """Higher is closer: method, path, model, then the share of equal JSON leaves."""
    la, lb = set(_leaves(a.body)), set(_leaves(b.body))
    share = len(la & lb) / max(len(la | lb), 1)
    return (int(a.method == b.method), int(a.path == b.path), int(a.model == b.model), share)


def show(value: Any, limit: int = 80) -> str:
    text = value if value == _MISSING else json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe(index: int, v: RequestView) -> str:
    model = f", model {v.model!r}" if v.model else ""
    return f"#{index} ({v.method} {v.path}{model})"


def explain_miss(
    request: RequestView, candidates: Sequence[tuple[int, RequestView]], where: str
) -> str:
    """vcrpy/Hoverfly-style: name the closest recorded request and the first differing field."""
    head = f"no recorded interaction in {where} matches {request.method} {request.path}"
    if request.model:
        head += f" (model {request.model!r})"
    if not candidates:
        return f"{head}: the cassette has no interactions for this role"
    idx, best = max(candidates, key=lambda c: similarity(request, c[1]))
    if (best.method, best.path) != (request.method, request.path):
        return f"{head}. Closest: {describe(idx, best)}: different method or path"
    if best.headers != request.headers:
        diff = f"{request.headers} != {best.headers}"
        return f"{head}. Closest: {describe(idx, best)}: headers differ: {diff}"
    diffs = list(differences(request.body, best.body))
    if not diffs:  # same canonical body: only the raw query could differ
        return f"{head}. Closest: {describe(idx, best)}"
    p, mine, theirs = diffs[0]
    more = f" (and {len(diffs) - 1} more differences)" if len(diffs) > 1 else ""
    return (
        f"{head}. Closest: {describe(idx, best)}; first difference (request != recorded) at "
        f"{p}: {show(mine)} != {show(theirs)}{more}"
    )
