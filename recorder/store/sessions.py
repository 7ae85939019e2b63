"""Which session an exchange belongs to. Pure.

In order of trust:

1. ``Exchange.session_id`` when the gateway already set one;
2. an explicit ``x-tapegate-session`` request header (any client can send it);
3. Claude Code's ``X-Claude-Code-Session-Id`` header; Codex's ``session-id`` and ``thread-id``
   headers (both its thread id);
4. the ``session_id`` inside Anthropic ``metadata.user_id`` (Claude Code sends a JSON *string*);
   the Responses API's ``client_metadata.session_id`` / ``thread_id`` (Codex), then its
   ``prompt_cache_key`` (one per conversation, by the API's own advice);
5. else a hash of the conversation's prefix (system prompt + first user message): every turn of
   a stateless chat re-sends that prefix, so the turns of one conversation share it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from recorder.exchange import Exchange

SESSION_HEADERS = ("x-tapegate-session", "x-claude-code-session-id", "session-id", "thread-id")


def session_id_for(ex: Exchange) -> str | None:
    if ex.session_id:
        return ex.session_id
    req = ex.client_request
    if req is None:
        return None
    lowered = {k.lower(): v for k, v in req.headers}
    for name in SESSION_HEADERS:
        if lowered.get(name):
            return lowered[name]
    body = _json_object(req.body)
    if body is None:
        return None
    return _from_metadata(body) or _from_client_metadata(body) or prefix_hash(body)


def _json_object(raw: bytes | None) -> dict[str, Any] | None:
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _from_metadata(body: dict[str, Any]) -> str | None:
    metadata = body.get("metadata")
    user_id = metadata.get("user_id") if isinstance(metadata, dict) else None
    if not isinstance(user_id, str) or not user_id.startswith("{"):
        return None
    try:
        inner = json.loads(user_id)
    except (ValueError, RecursionError):
        return None
    sid = inner.get("session_id") if isinstance(inner, dict) else None
    return sid if isinstance(sid, str) and sid else None


def _from_client_metadata(body: dict[str, Any]) -> str | None:
    meta = body.get("client_metadata")
    for value in (
        meta.get("session_id") if isinstance(meta, dict) else None,
        meta.get("thread_id") if isinstance(meta, dict) else None,
        body.get("prompt_cache_key"),
    ):
        if isinstance(value, str) and value:
            return value
    return None


def prefix_hash(body: dict[str, Any]) -> str | None:
    """``h:`` + 16 hex digits of BLAKE2b over canonical JSON of (system, first user message).

    Anthropic carries the system prompt in ``system``; OpenAI as leading system/developer
    messages. Returns None when the body holds no messages (not a chat request).
    """
    messages = body.get("messages")
    if messages is None and "input" in body:  # the Responses API: items, or a string
        messages = body["input"]
        messages = (
            [{"role": "user", "content": messages}] if isinstance(messages, str) else messages
        )
    if not isinstance(messages, list) or not messages:
        return None
    system: list[Any] = [body.get("system")] if body.get("system") is not None else []
    if body.get("instructions") is not None:
        system.append(body["instructions"])
    first_user: Any = None
    for m in messages:
        if not isinstance(m, dict):
            continue
        if m.get("role") in ("system", "developer"):
            system.append(m.get("content"))
        elif m.get("role") == "user":
            first_user = m.get("content")
            break
    canonical = json.dumps(
        [system, first_user], sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    digest = hashlib.blake2b(canonical.encode("utf-8", "surrogatepass"), digest_size=8)
    return "h:" + digest.hexdigest()
