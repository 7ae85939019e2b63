"""Runs inside a throwaway environment with ``anthropic<2`` (``x-api-key`` + ``2023-06-01``).

Not a test module: test_sdks.py starts it with the python of an environment that
scripts/install-clients.sh built (``.clients/anthropic-X/bin/python legacy_anthropic.py
BASE_URL``). Standard library + that SDK only (it cannot import the project). It runs a fixed
list of scenarios, one upstream request each, in the order test_sdks.LEGACY_SCRIPT scripts the
fake, and prints one JSON object with the outcomes.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import anthropic

MODEL = "claude-sonnet-5"
WEATHER = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
MESSAGES = [{"role": "user", "content": "hi"}]


def main(base_url: str) -> None:
    sent_headers: list[dict[str, str]] = []

    def keep(request: Any) -> None:  # an httpx (0.x) or httpx2 (1.x) Request
        sent_headers.append({k.lower(): v for k, v in request.headers.items()})

    client = anthropic.Anthropic(
        base_url=base_url,
        api_key="sk-ant-test-legacy",
        max_retries=0,
        http_client=anthropic.DefaultHttpxClient(event_hooks={"request": [keep]}),
    )
    out: dict[str, Any] = {"version": anthropic.__version__}

    msg = client.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES)
    out["create"] = {"text": msg.content[0].text, "stop_reason": msg.stop_reason}

    with client.messages.stream(model=MODEL, max_tokens=64, messages=MESSAGES) as stream:
        final = stream.get_final_message()
    out["stream"] = {"text": final.content[0].text, "stop_reason": final.stop_reason}

    with client.messages.stream(
        model=MODEL, max_tokens=64, messages=MESSAGES, tools=[WEATHER]
    ) as stream:
        final = stream.get_final_message()
    uses = [b for b in final.content if b.type == "tool_use"]
    out["tool"] = {
        "calls": [[u.name, u.input] for u in uses],
        "stop_reason": final.stop_reason,
    }

    try:
        client.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES)
        out["error_429"] = "no exception"
    except anthropic.APIStatusError as exc:
        out["error_429"] = [type(exc).__name__, exc.status_code]

    try:
        with client.messages.stream(model=MODEL, max_tokens=64, messages=MESSAGES) as stream:
            stream.get_final_message()
        out["midstream_error"] = "no exception"
    except Exception as exc:  # noqa: BLE001 - the test asserts on the class name
        out["midstream_error"] = [type(exc).__name__, str(exc)[:200]]

    first = sent_headers[0]
    out["headers"] = {
        "x-api-key": "x-api-key" in first,
        "authorization": "authorization" in first,
        "anthropic-version": first.get("anthropic-version"),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1])
