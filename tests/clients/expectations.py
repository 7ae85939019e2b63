"""What a client must see when the gateway translates an upstream error, and the known gaps."""

from __future__ import annotations

import pytest

from tests.clients.conftest import Stack

# (client dialect, upstream dialect, upstream status) -> the status the client must see, where
# a translation changes it. OpenAI has no 529: "overloaded" is 503 there (openai_common).
TRANSLATED_STATUS = {("openai", "anthropic", 529): 503}

# Known gaps, kept visible: strict xfail turns into a failure the day the gap closes.
KNOWN_GAPS: dict[tuple[str, str, int], str] = {}


def expect_status(request: pytest.FixtureRequest, client: str, stack: Stack, status: int) -> int:
    key = (client, stack.upstream_api, status)
    if key in KNOWN_GAPS:
        request.applymarker(pytest.mark.xfail(strict=True, reason=KNOWN_GAPS[key]))
    return TRANSLATED_STATUS.get(key, status)
