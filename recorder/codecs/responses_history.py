"""``previous_response_id`` without OpenAI's storage: a Responses request that continues an
earlier response is rebuilt into one that carries the whole conversation, from what the gateway
recorded. Pure: the caller hands in a lookup over its recording.

The API's rule, followed here: the new input comes after the previous request's input and the
previous response's output items; the previous request's ``instructions`` (and tools) are not
carried over. A chain of previous responses is followed to its start.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from recorder.errors import UnsupportedContentError
from recorder.sse import SseParser

JsonObject = dict[str, Any]

_TERMINALS = ("response.completed", "response.incomplete", "response.failed")
MAX_CHAIN = 1000  # a loop in the recording (it cannot happen, but it must not hang the proxy)


@dataclass(frozen=True, slots=True)
class Turn:
    """One recorded exchange as the client saw it: its request and the response it got."""

    request: JsonObject
    response: JsonObject


Lookup = Callable[[str], Turn | None]


class UnknownResponseError(UnsupportedContentError):
    """``previous_response_id`` names a response the recording does not hold."""


def response_of_stream(sse: bytes) -> JsonObject | None:
    """The ``response`` object of a Responses stream's terminal event (None without one)."""
    parser = SseParser()
    found: JsonObject | None = None
    for ev in parser.feed(sse) + parser.close():
        if ev.event in _TERMINALS and ev.data:
            try:
                data = json.loads(ev.data)
            except ValueError:
                continue
            if isinstance(data, dict) and isinstance(data.get("response"), dict):
                found = data["response"]
    return found


def as_items(value: Any) -> list[Any]:
    """``input`` as a list of items (a string is one user message)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    if isinstance(value, list):
        return list(value)
    raise UnsupportedContentError("input must be a string or a list of items")


def expand(body: JsonObject, lookup: Lookup) -> JsonObject:
    """``body`` with ``previous_response_id`` replaced by the conversation it stands for.

    Raises :class:`UnknownResponseError` naming the id when the recording does not hold it.
    """
    prev_id = body.get("previous_response_id")
    if prev_id is None:
        return body
    if not isinstance(prev_id, str) or not prev_id:
        raise UnsupportedContentError("previous_response_id must be a non-empty string")
    history: list[Any] = []
    seen: set[str] = set()
    chain: list[Turn] = []
    current: str | None = prev_id
    while current is not None:
        if current in seen or len(chain) >= MAX_CHAIN:
            raise UnsupportedContentError(f"previous_response_id {current!r} loops")
        seen.add(current)
        turn = lookup(current)
        if turn is None:
            raise UnknownResponseError(
                f"previous_response_id {current!r} is not in this gateway's recording"
            )
        chain.append(turn)
        nxt = turn.request.get("previous_response_id")
        current = nxt if isinstance(nxt, str) and nxt else None
    for turn in reversed(chain):
        history += as_items(turn.request.get("input"))
        history += [_as_input(item) for item in turn.response.get("output") or []]
    out = {k: v for k, v in body.items() if k != "previous_response_id"}
    out["input"] = history + as_items(body.get("input"))
    return out


def _as_input(item: Any) -> Any:
    """An output item as the API takes it back as input (``status`` is output-only noise)."""
    if isinstance(item, dict):
        return {k: v for k, v in item.items() if k != "status" or item.get("type") == "message"}
    return item


def continues(body: JsonObject) -> str | None:
    """The response id a request continues (``previous_response_id``), if any."""
    prev = body.get("previous_response_id")
    return prev if isinstance(prev, str) and prev else None


@dataclass(frozen=True, slots=True)
class StoredConversations:
    """How a dialect's clients refer to an earlier answer by id, and where a recording holds
    that answer: the recipe the gateway (and the store's lookup) follow without knowing the
    dialect. Paths are DuckDB JSON paths."""

    retrieve_prefix: str  # GET <prefix><id> answers the stored response
    body_id: str  # the id in a JSON response body
    stream_start: str  # the client event that names the id ...
    stream_id: str  # ... and where
    stream_ends: tuple[str, ...]  # the events whose data holds the final response ...
    stream_reply: str  # ... and where
    continues: Callable[[JsonObject], str | None]
    expand: Callable[[JsonObject, Lookup], JsonObject]


STORED: Final = StoredConversations(
    retrieve_prefix="/v1/responses/",
    body_id="$.id",
    stream_start="response.created",
    stream_id="$.response.id",
    stream_ends=_TERMINALS,
    stream_reply="$.response",
    continues=continues,
    expand=expand,
)
