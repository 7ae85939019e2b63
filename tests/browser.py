"""Headless Chromium for the browser tests: the system's package (never a browser Playwright
downloads), driven by Playwright, with no network beyond 127.0.0.1.

Missing Chromium skips a test with the command that installs it; under ``CI=true`` it fails,
since CI (``.ci/run``) installs it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from tests.prereqs import missing

CHROMIUM = Path("/usr/bin/chromium")
INSTALL = "apt-get install -y --no-install-recommends chromium"
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def require_chromium() -> None:
    if not CHROMIUM.exists():
        missing(f"Chromium ({CHROMIUM})", INSTALL)


@contextmanager
def chromium() -> Iterator[object]:
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


class Offline:
    """Routes every request of a page: file:, data: and 127.0.0.1 pass, anything else is
    aborted and kept in ``blocked``."""

    def __init__(self) -> None:
        self.blocked: list[str] = []
        self.seen: list[str] = []

    def __call__(self, route: object) -> None:
        url = route.request.url  # type: ignore[attr-defined]
        self.seen.append(url)
        parts = urlsplit(url)
        if parts.scheme in ("file", "data", "blob") or parts.hostname == "127.0.0.1":
            route.continue_()  # type: ignore[attr-defined]
        else:
            self.blocked.append(url)
            route.abort()  # type: ignore[attr-defined]


def offline_page(browser: object, width: int = 1280, height: int = 900) -> tuple[object, Offline]:
    page = browser.new_page(viewport={"width": width, "height": height})  # type: ignore[attr-defined]
    guard = Offline()
    page.route("**/*", guard)
    return page, guard
