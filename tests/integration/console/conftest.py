"""The console in a real browser: Debian's chromium driven by Playwright, in front of the
gateway and the real orchestrator of tests/integration/conftest.py.

Playwright cannot download its own browsers here, so the tests launch the system's
chromium (`apt-get install chromium`; AURA_TEST_CHROMIUM names another binary). Without
it they skip, saying so; with AURA_REQUIRE_SERVICES=1 (CI) they fail instead.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright

from orchestrator.gateway import ConsoleServer
from tests.helpers import REPO_ROOT

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
# The README shows these; AURA_UPDATE_SCREENSHOTS=1 rewrites them, otherwise the
# screenshots go to the test's temporary directory.
SCREENSHOTS = REPO_ROOT / "docs" / "console"


def chromium_path() -> str:
    """The browser to drive: AURA_TEST_CHROMIUM when set (and only it), else Debian's."""
    chosen = os.environ.get("AURA_TEST_CHROMIUM", "")
    candidates = [chosen] if chosen else [*CHROMIUM_CANDIDATES, shutil.which("chromium") or ""]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    why = (
        f"no chromium binary at {chosen}"
        if chosen
        else "no chromium binary (apt-get install chromium, or set AURA_TEST_CHROMIUM)"
    )
    if os.environ.get("AURA_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{why}; AURA_REQUIRE_SERVICES=1 requires it")
    pytest.skip(why)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    executable = chromium_path()
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=executable, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def page(browser: Browser, console: ConsoleServer) -> AsyncIterator[Page]:
    context = await browser.new_context(
        base_url=console.url, viewport={"width": 1280, "height": 860}
    )
    opened = await context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield opened
    finally:
        await context.close()
    assert errors == [], "the console's scripts raised"


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    """Where a test saves its screenshots."""
    if os.environ.get("AURA_UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        return SCREENSHOTS
    return tmp_path
