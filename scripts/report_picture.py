"""Regenerate the README's picture of ``recorder report`` (docs/report.png) from a real run,
offline: the fake upstream (OpenAI dialect), the gateway recording a Claude-Code-like session of
an Anthropic client (a streamed answer, a tool call, a stream that stalls, an overloaded upstream
answered on a retry), then ``recorder report SESSION`` drawn by headless Chromium.

    uv run python scripts/report_picture.py [--out docs/report.png] [--html FILE]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import anthropic
import httpx

from fakes.procs import BIN, REPO, free_port, start_service

SESSION = "demo-7f3a"
SCHEMA = {"type": "object", "properties": {"path": {"type": "string"}}}
TOOLS = [{"name": "Read", "description": "Read a file", "input_schema": SCHEMA}]
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]  # fmt: skip


def run_session(gateway: str, fake: str) -> None:
    def client(mode: str | None) -> anthropic.Anthropic:
        headers = {"x-tapegate-session": SESSION} | ({"x-fake-mode": mode} if mode else {})
        return anthropic.Anthropic(base_url=gateway, api_key="demo", default_headers=headers)

    history: list[dict[str, object]] = [
        {"role": "user", "content": "What does the config loader do with missing keys?"}
    ]
    turns = [("events:24+gap:35", False), ("tool", True), ("events:30+gap:25+stall:12:2400", False)]
    for mode, tools in turns:
        kwargs: dict[str, object] = {"tools": TOOLS} if tools else {}
        with client(mode).messages.stream(
            model="claude-sonnet-4-5", max_tokens=400, messages=history, **kwargs
        ) as s:  # type: ignore[arg-type]
            reply = s.get_final_message()
        content = [b.model_dump(exclude_none=True) for b in reply.content]
        history.append({"role": "assistant", "content": content})
        if reply.stop_reason == "tool_use":
            call = reply.content[-1]
            history.append(
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": call.id,
                            "content": "def load(path): ...",
                        }
                    ],
                }
            )  # type: ignore[union-attr]
        else:
            history.append({"role": "user", "content": "And when the file is missing?"})
    # an overloaded upstream, answered on the gateway's retry
    httpx.post(f"{fake}/_fake/script", json={"modes": ["error:529", "events:16+gap:30"]})
    with client(None).messages.stream(model="claude-sonnet-4-5", max_tokens=400,
                                      messages=history) as s:  # fmt: skip
        s.get_final_message()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default=str(REPO / "docs" / "report.png"))
    ap.add_argument("--html", help="also keep the report page here")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="tapegate-picture-") as d:
        tmp = Path(d)
        fake_port, gw_port = free_port(), free_port()
        fake = start_service("fake", [sys.executable, "-m", "fakes.upstream", "--port",
                                      str(fake_port)], port=fake_port, log_dir=tmp)  # fmt: skip
        db = tmp / "traffic.duckdb"
        gw = start_service("gateway", [
            str(BIN / "mitmdump"), "-s", str(REPO / "addons" / "gateway.py"), "-p", str(gw_port),
            "--listen-host", "127.0.0.1", "--set", f"gateway_upstream=http://127.0.0.1:{fake_port}/v1",
            "--set", "gateway_upstream_api=openai", "--set", f"recorder_db={db}",
            "--set", "gateway_retry_backoff=0.3",
        ], port=gw_port, log_dir=tmp)  # fmt: skip
        try:
            httpx.head(gw.url, timeout=30).raise_for_status()
            run_session(gw.url, fake.url)
        finally:
            gw.stop()
            fake.stop()
        html = Path(args.html) if args.html else tmp / "report.html"
        subprocess.run([str(BIN / "recorder"), "report", SESSION, "--db", str(db), "-o", str(html)],
                       check=True)  # fmt: skip
        shoot(html, Path(args.out))
    print(f"wrote {args.out}")


def shoot(html: Path, out: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1180, "height": 900}, device_scale_factor=1)
        page.route("**/*", lambda r: r.continue_() if r.request.url.startswith("file:")
                   else r.abort())  # fmt: skip
        page.goto(html.as_uri())
        # the session table, then the exchange that stalled and the one answered on a retry
        page.add_style_tag(content="#ex-1, #ex-2, footer { display: none }")
        page.screenshot(path=str(out), full_page=True)
        browser.close()


if __name__ == "__main__":
    main()
