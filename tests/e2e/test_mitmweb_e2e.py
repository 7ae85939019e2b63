"""``mitmweb -s addons/gateway.py``: the gateway under mitmweb, its content views drawn by
mitmweb's own UI in headless Chromium (the system's package), looked at and screenshot."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import anthropic
import httpx
import pytest

from fakes.procs import BIN, Service, free_port, start_service
from fakes.upstream import FakeUpstream
from tests.browser import chromium, offline_page, require_chromium
from tests.e2e.conftest import GATEWAY_ADDON

pytestmark = pytest.mark.e2e
TOOLS = [{"name": "get_weather", "description": "w", "input_schema": {"type": "object"}}]


@pytest.fixture(scope="module")
def web(
    fake: FakeUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Service, str]]:
    require_chromium()
    d = tmp_path_factory.mktemp("mitmweb")
    port, web_port, token = free_port(), free_port(), secrets.token_hex(8)
    argv = [
        str(BIN / "mitmweb"), "-s", str(GATEWAY_ADDON), "-p", str(port),
        "--listen-host", "127.0.0.1", "--set", f"web_port={web_port}",
        "--set", "web_host=127.0.0.1", "--set", "web_open_browser=false",
        "--set", f"web_password={token}",
        "--set", f"gateway_upstream={fake.url}/v1", "--set", "gateway_upstream_api=openai",
        "--set", f"recorder_db={d / 'traffic.duckdb'}", "--set", "gateway_console=off",
    ]  # fmt: skip
    svc = start_service("mitmweb", argv, port=port, log_dir=d)
    # the listener is up before the addons are loaded: the first answer waits for them
    httpx.head(svc.url, timeout=30.0).raise_for_status()
    yield svc, f"http://127.0.0.1:{web_port}/?token={token}"
    svc.stop()


def _open_flow(page, ui: str, tab: str) -> None:
    page.goto(ui)
    page.locator(".flow-table tbody tr", has_text="chat/completions").first.click()
    page.locator(".flow-detail nav a", has_text=tab).click()


def _choose(page, view: str) -> str:
    page.locator(".contentview .controls a", has_text="View:").click()
    page.locator(".contentview .dropdown-menu a", has_text=view).click()
    page.wait_for_function(
        "v => document.querySelector('.contentview .controls h5')?.textContent.toLowerCase() == v",
        arg=view,
    )
    return str(page.locator(".contentview pre").inner_text())


def test_a_translated_stream_in_mitmweb(web: tuple[Service, str], tmp_path: Path) -> None:
    svc, ui = web
    c = anthropic.Anthropic(base_url=svc.url, api_key="x", max_retries=0,
                            default_headers={"x-fake-mode": "tool"})  # fmt: skip
    with c.messages.stream(model="claude-sonnet-5", max_tokens=50, tools=TOOLS,
                           messages=[{"role": "user", "content": "hi"}]) as s:  # fmt: skip
        assert s.get_final_message().stop_reason == "tool_use"

    from playwright.sync_api import expect

    with chromium() as browser:
        page, guard = offline_page(browser, width=1400, height=1000)
        _open_flow(page, ui, "Response")
        # an LLM stream opens in the conversation view by itself
        head = page.locator(".contentview .controls h5")
        # mitmweb says "Loading..." until the view's text arrives (slow on a loaded machine)
        expect(head).to_have_text("LLM conversation", timeout=20_000)
        text = str(page.locator(".contentview pre").inner_text())
        page.screenshot(path=str(tmp_path / "conversation.png"), full_page=True)
        assert text.startswith("anthropic stream · model claude-sonnet-5")
        assert "Hello world!" in text
        assert "── tool call get_weather (call_fake01)" in text and '"city": "Paris"' in text
        assert "── stop: tool_use" in text and "12 events" in text
        lines = text.splitlines()
        assert any(x.split()[1:4] == ["#2", "content_block_delta", "text"] for x in lines)
        assert all(x.split()[0].startswith("+") for x in lines if " #" in x and "ms" in x)

        pair = _choose(page, "llm translation pair")
        page.screenshot(path=str(tmp_path / "pair.png"), full_page=True)
        assert "client · anthropic" in pair and "upstream · openai" in pair
        assert "chat.completion.chunk" in pair and "message_start" in pair

        # the request mitmweb shows is the one sent upstream, in its own dialect
        _open_flow(page, ui, "Request")
        req = _choose(page, "llm conversation")
        assert req.startswith("openai request · model claude-sonnet-5 · stream")
        assert "tools: get_weather" in req and "hi" in req.splitlines()
        both = _choose(page, "llm translation pair")
        sides = [x.split("│") for x in both.splitlines() if "│" in x]
        left, right = "\n".join(a for a, _ in sides), "\n".join(b for _, b in sides)
        assert '"max_tokens": 50' in left and '"input_schema"' in left  # Anthropic's body
        assert '"stream_options"' in right and '"function"' in right  # beside OpenAI's
        assert (tmp_path / "conversation.png").stat().st_size > 20_000
        assert guard.blocked == []
