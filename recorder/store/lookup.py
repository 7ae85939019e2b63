"""Find a recorded answer by the id its client saw (``previous_response_id``, ``GET
/v1/responses/{id}``), following a dialect's :class:`StoredConversations` recipe, and where a
stateful backend (the Claude Code CLI) left a conversation. Pure SQL over a query function, so
the gateway can run it through its writer process (it never loads DuckDB).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from recorder.codecs.responses_history import StoredConversations, Turn
from recorder.store.results import QueryResult

Query = Callable[[str, list[Any]], QueryResult]

# A JSON answer: the client's request and the body it got.
_BODY_SQL = """
select client_request_body, client_response_body from exchanges
where client_dialect = ? and status < 400 and json_extract_string(client_response_body, ?) = ?
order by started_at desc limit 1
"""
# A streamed answer: the event that named the id, and the last event holding the answer.
_STREAM_SQL = """
select x.client_request_body, e.data from exchanges x
join events s on s.exchange_id = x.id and s.leg = 'client' and s.event = ?
join events e on e.exchange_id = x.id and e.leg = 'client' and list_contains(?, e.event)
where x.client_dialect = ? and json_extract_string(s.data, ?) = ?
order by x.started_at desc, e.seq desc limit 1
"""


def find_turn(
    query: Query, recipe: StoredConversations, dialect: str, response_id: str
) -> Turn | None:
    rows = query(_BODY_SQL, [dialect, recipe.body_id, response_id]).rows
    if rows:
        request, reply = (_json(v) for v in rows[0])
    else:
        params = [recipe.stream_start, list(recipe.stream_ends), dialect, recipe.stream_id]
        rows = query(_STREAM_SQL, [*params, response_id]).rows
        if not rows:
            return None
        request, data = (_json(v) for v in rows[0])
        reply = _at(data, recipe.stream_reply)
    if not isinstance(request, dict) or not isinstance(reply, dict):
        return None
    return Turn(request, reply)


_BACKEND_SESSION_SQL = """
select backend_session, cwd, leaf from backend_sessions
where backend = ? and {column} = ? order by started_at desc limit 1
"""


def find_backend_session(
    query: Query, backend: str, *, conversation: str | None = None, name: str | None = None
) -> dict[str, Any] | None:
    """The newest point ``{"id", "cwd", "leaf"}`` the ``backend`` dialect's runs left the
    conversation with this key (or this client-given name) at; None: none recorded."""
    column, value = ("conversation", conversation) if name is None else ("name", name)
    if value is None:
        return None
    rows = query(_BACKEND_SESSION_SQL.format(column=column), [backend, value]).rows
    if not rows or not isinstance(rows[0][0], str):
        return None
    sid, cwd, leaf = rows[0]
    return {"id": sid, "cwd": cwd, "leaf": leaf}


def _json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def _at(value: Any, path: str) -> Any:
    """A ``$.a.b`` path into parsed JSON."""
    for key in path.removeprefix("$").split("."):
        if key:
            value = value.get(key) if isinstance(value, dict) else None
    return value
