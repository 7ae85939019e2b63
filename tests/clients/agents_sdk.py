"""Runs inside the environment scripts/install-clients.sh builds for the openai Agents SDK
(``.clients/openai-agents-X/bin/python agents_sdk.py BASE_URL MODEL``).

Not a test module: test_sdks.py starts it. Standard library + that SDK only (it cannot import
the project). Two agent runs with one function tool, each a tool loop of two upstream requests
(``Runner.run``, then ``Runner.run_streamed``), in the order test_sdks.AGENTS_SCRIPT scripts the
fake; prints one JSON object with the outcomes.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import agents
import openai


async def main(base_url: str, model: str) -> dict[str, Any]:
    agents.set_tracing_disabled(True)  # its traces would go to api.openai.com
    ran: list[str] = []

    @agents.function_tool
    def get_weather(city: str) -> str:
        """Weather for a city."""
        ran.append(city)
        return f"sunny in {city}"

    client = openai.AsyncOpenAI(base_url=base_url, api_key="sk-test-agents", max_retries=0)
    agent = agents.Agent(
        name="forecaster",
        instructions="Answer with the weather.",
        tools=[get_weather],
        model=agents.OpenAIResponsesModel(model=model, openai_client=client),
    )
    out: dict[str, Any] = {"version": agents.__version__}
    result = await agents.Runner.run(agent, "weather in Paris?")
    out["run"] = {"final": result.final_output, "tools_ran": list(ran)}

    ran.clear()
    streamed = agents.Runner.run_streamed(agent, "weather in Paris?")
    kinds: list[str] = []
    async for event in streamed.stream_events():
        if event.type == "raw_response_event":
            kinds.append(event.data.type)
    out["run_streamed"] = {
        "final": streamed.final_output,
        "tools_ran": list(ran),
        "terminal_events": [k for k in kinds if k in _TERMINAL],
    }
    return out


_TERMINAL = ("response.completed", "response.incomplete", "response.failed", "error")

if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1], sys.argv[2]))))
