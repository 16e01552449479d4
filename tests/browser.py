"""Headless Chromium for the console tests: Debian's browser driven by Playwright.

Playwright's own browser download does not work offline, so it drives
``/usr/bin/chromium`` (installed by ``scripts/system-deps.sh``). Every page is watched:
a console error, an uncaught exception, a failed request or an HTTP error response is a
problem the test reports. Screenshots go to ``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.conftest import ROOT

CHROMIUM = "/usr/bin/chromium"
# Headless on a machine with no GPU and no network but loopback: nothing in the
# background may try to reach a server (updates, sync, field trials).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--disable-default-apps",
    "--no-first-run",
]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"


def chromium_path() -> str:
    path = shutil.which("chromium") or CHROMIUM
    if not Path(path).exists():
        raise RuntimeError("Debian's chromium is needed: run `bash scripts/system-deps.sh`")
    return path


class WatchedPage:
    """A Playwright page plus everything that went wrong on it."""

    def __init__(self, page, base_url: str):
        self.page = page
        self.base_url = base_url
        self.problems: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.problems.append(f"uncaught: {exc}"))
        page.on("requestfailed", lambda r: self.problems.append(f"failed: {r.url} {r.failure}"))
        page.on("response", self._response)

    def _console(self, message) -> None:
        if message.type == "error":
            self.problems.append(f"console error: {message.text}")

    def _response(self, response) -> None:
        if response.status >= 400:
            self.problems.append(f"HTTP {response.status}: {response.url}")

    def goto(self, path: str) -> None:
        response = self.page.goto(self.base_url + path, wait_until="networkidle")
        assert response is not None and response.status == 200, path

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=path, full_page=True)
        return path
