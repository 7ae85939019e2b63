"""Answers a dialect's clients refer to by id (the Responses API's ``previous_response_id`` and
``GET /v1/responses/{id}``), for upstreams that hold no such thing: found in the gateway's own
recording, following the dialect's :class:`StoredConversations` recipe from the registry.
"""

from __future__ import annotations

import json
from typing import Protocol

from mitmproxy import http

from addons.flow_state import FlowState
from addons.response.replies import reply, reply_error
from recorder import endpoints
from recorder.codecs.responses_history import MAX_CHAIN, StoredConversations, Turn
from recorder.store import StoreError


class RecordedAnswers(Protocol):
    """The recorder, as far as finding a recorded answer by id goes."""

    @property
    def can_look_up(self) -> bool: ...

    async def recorded_turn(
        self, recipe: StoredConversations, dialect: str, response_id: str
    ) -> Turn | None: ...


async def retrieve(
    flow: http.HTTPFlow,
    st: FlowState,
    recipe: StoredConversations,
    response_id: str,
    answers: RecordedAnswers | None,
) -> bool:
    """Answer ``GET <prefix><id>`` from the recording; False when it does not hold the id
    (the caller forwards the request, or says it is unknown)."""
    if answers is None or not answers.can_look_up:
        return False
    try:
        turn = await answers.recorded_turn(recipe, st.client, response_id)
    except StoreError as e:
        reply_error(flow, st, "api_error", f"the recording could not be read: {e}")
        return True
    if turn is None:
        return False
    reply(flow, st, 200, json.dumps(turn.response).encode(), endpoints.JSON_HEADERS)
    return True


async def earlier_turns(
    flow: http.HTTPFlow,
    st: FlowState,
    recipe: StoredConversations,
    first: str,
    answers: RecordedAnswers | None,
    upstream: str,
) -> dict[str, Turn] | None:
    """The recorded turns a body continuing answer ``first`` stands for (by id, following the
    chain back), for an upstream of another dialect to get the conversation written out
    (``recipe.expand``, which names an id the recording lacks); None when the client was
    answered with an error."""
    if answers is None or not answers.can_look_up:
        reply_error(
            flow,
            st,
            "invalid_request",
            f"previous_response_id needs the gateway's recording to rebuild the conversation "
            f"for a {upstream} upstream, and recording is off (recorder_db); send the whole "
            "conversation in input",
        )
        return None
    turns: dict[str, Turn] = {}
    current: str | None = first
    try:
        while current is not None and current not in turns and len(turns) < MAX_CHAIN:
            turn = await answers.recorded_turn(recipe, st.client, current)
            if turn is None:
                break
            turns[current] = turn
            current = recipe.continues(turn.request)
    except StoreError as e:
        reply_error(flow, st, "api_error", f"the recording could not be read: {e}")
        return None
    return turns
