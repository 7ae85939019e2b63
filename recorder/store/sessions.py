"""Which session an exchange belongs to. Pure.

In order of trust:

1. ``Exchange.session_id`` when the gateway already set one;
2. an explicit ``x-tapegate-session`` request header (any client can send it);
3. a header a dialect's clients name their session in (Claude Code's
   ``X-Claude-Code-Session-Id``; Codex's ``session-id`` and ``thread-id``, both its thread id);
4. a session a dialect's clients name in the request body (the ``session_id`` inside Anthropic
   ``metadata.user_id``, which Claude Code sends as a JSON *string*; the Responses API's
   ``client_metadata.session_id`` / ``thread_id`` (Codex), then its ``prompt_cache_key``);
5. else a hash of the conversation's prefix (system prompt + first user message): every turn of
   a stateless chat re-sends that prefix, so the turns of one conversation share it.

What 3-5 read is each dialect's :class:`recorder.dialects.SessionHints`, in registry order.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from recorder.exchange import Exchange

if TYPE_CHECKING:
    from recorder.dialects import SessionHints

OWN_HEADER = "x-tapegate-session"


def session_id_for(ex: Exchange) -> str | None:
    if ex.session_id:
        return ex.session_id
    req = ex.client_request
    if req is None:
        return None
    hints = _hints()
    lowered = {k.lower(): v for k, v in req.headers}
    for name in (OWN_HEADER, *(h for s in hints for h in s.headers)):
        if lowered.get(name):
            return lowered[name]
    body = _json_object(req.body)
    if body is None:
        return None
    for s in hints:
        named = s.in_body(body) if s.in_body is not None else None
        if named:
            return named
    return _prefix_hash(body, hints)


def _json_object(raw: bytes | None) -> dict[str, Any] | None:
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def prefix_hash(body: dict[str, Any]) -> str | None:
    """``h:`` + 16 hex digits of BLAKE2b over canonical JSON of (system, first user message).

    Where a request holds its system prompt and turns, its dialect's session hints say:
    Anthropic's ``system``, the Responses API's ``instructions``, and OpenAI's leading
    system/developer turns. Returns None when the body holds no turns (not a chat request).
    """
    return _prefix_hash(body, _hints())


def _hints() -> tuple[SessionHints, ...]:
    # The registry loads the codecs: imported when first needed, so that the writer process
    # holds its file (and says ready) before it loads them.
    from recorder.dialects import session_hints

    return session_hints()


def _prefix_hash(body: dict[str, Any], hints: tuple[SessionHints, ...]) -> str | None:
    turns: Any = None
    for s in hints:
        value = body.get(s.turns_field)
        if value is not None:
            text = s.text_turns and isinstance(value, str)
            turns = [{"role": "user", "content": value}] if text else value
            break
    if not isinstance(turns, list) or not turns:
        return None
    system: list[Any] = []
    for field in dict.fromkeys(s.system_field for s in hints if s.system_field is not None):
        if body.get(field) is not None:
            system.append(body[field])
    system_roles = tuple(dict.fromkeys(role for s in hints for role in s.system_roles))
    first_user: Any = None
    for m in turns:
        if not isinstance(m, dict):
            continue
        if m.get("role") in system_roles:
            system.append(m.get("content"))
        elif m.get("role") == "user":
            first_user = m.get("content")
            break
    canonical = json.dumps(
        [system, first_user], sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    digest = hashlib.blake2b(canonical.encode("utf-8", "surrogatepass"), digest_size=8)
    return "h:" + digest.hexdigest()
