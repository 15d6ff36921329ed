"""The browser harness: Debian's Chromium driven by Playwright against a live BenchHub server.

Every page a test opens is watched: a console error, an uncaught page error, a 5xx answer or a
request to any host but the server's own (127.0.0.1) fails the test when it ends. Off-host requests
are also aborted, so a page that would fetch a CDN script shows it as a broken page, not a slow one.
Screenshots go to `var/screenshots/` (git-ignored).
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

# Debian's package (`apt-get install -y chromium`, see .ci/run); Playwright never downloads a browser.
CHROMIUM = os.environ.get("BENCHHUB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
LOCAL_HOSTS = frozenset({"127.0.0.1"})
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"


def chromium_or_skip() -> str:
    """The browser binary; without it the browser tests fail in CI and skip on a bare machine."""
    if Path(CHROMIUM).exists() or shutil.which(CHROMIUM):
        return CHROMIUM
    message = f"Chromium not found at {CHROMIUM}: apt-get install -y chromium (as .ci/run does)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@dataclass
class PageWatch:
    """What went wrong on the pages of one test."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    server_errors: list[str] = field(default_factory=list)
    off_host: list[str] = field(default_factory=list)
    traffic: list[str] = field(default_factory=list)  # every request and its end, to read when a step times out

    def problems(self) -> list[str]:
        return [
            *(f"console error: {e}" for e in self.console_errors),
            *(f"page error: {e}" for e in self.page_errors),
            *(f"5xx answer: {e}" for e in self.server_errors),
            *(f"request leaving 127.0.0.1: {e}" for e in self.off_host),
        ]


def watch(context, record: PageWatch) -> None:  # type: ignore[no-untyped-def]
    """Hook a Playwright browser context so that `record` collects every failure of its pages."""

    def on_route(route) -> None:  # type: ignore[no-untyped-def]
        url = route.request.url
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob", "about") or parts.hostname in LOCAL_HOSTS:
            route.continue_()
            return
        record.off_host.append(url)
        route.abort()

    def on_response(response) -> None:  # type: ignore[no-untyped-def]
        if response.status >= 500:
            record.server_errors.append(f"{response.status} {response.url}")

    def on_page(page) -> None:  # type: ignore[no-untyped-def]
        page.on("console", lambda msg: record.console_errors.append(f"{msg.text} ({page.url})")
                if msg.type == "error" else None)
        page.on("pageerror", lambda exc: record.page_errors.append(f"{exc} ({page.url})"))

    context.route("**/*", on_route)
    context.on("request", lambda r: record.traffic.append(f"-> {r.method} {r.url}"))
    context.on("requestfinished", lambda r: record.traffic.append(f"<- {r.method} {r.url}"))
    context.on("requestfailed", lambda r: record.traffic.append(f"xx {r.method} {r.url} {r.failure}"))
    context.on("response", on_response)
    context.on("page", on_page)


def screenshot(page, name: str, *, full_page: bool = False) -> Path:  # type: ignore[no-untyped-def]
    """Save what the page shows. Mid-test, only the viewport: a full-page shot resizes the page
    for a moment, and a click right after it was seen to land on nothing."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / (re.sub(r"[^\w.-]+", "-", name) + ".png")
    page.screenshot(path=str(path), full_page=full_page)
    return path
