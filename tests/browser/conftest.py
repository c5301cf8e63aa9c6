"""Playwright for Python driving Debian's Chromium (``/usr/bin/chromium``; Playwright's own
browser download does not work here), headless, against the app served on loopback; axe-core
(installed by ``make test`` from the npm registry) runs inside the pages.

Both are required in CI and skipped locally when absent (``make browser-deps`` installs them)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import IN_CI

ROOT = Path(__file__).resolve().parent.parent.parent
CHROMIUM = Path(os.environ.get("INTERNET10_TEST_CHROMIUM", "/usr/bin/chromium"))
AXE = Path(
    os.environ.get(
        "INTERNET10_TEST_AXE", ROOT / "var" / "browser" / "node_modules" / "axe-core" / "axe.min.js"
    )
)
# Chromium as root in a container, on a machine whose only network is loopback: no sandbox, no
# GPU, and none of the background connections (updates, sync, QUIC probes) it would attempt.
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}  # a common phone's CSS pixels
# `make screenshots` sets this: the browser tests then save screenshots for the README.
SCREENSHOTS = ROOT / "docs" / "screenshots"
SHOOT = os.environ.get("INTERNET10_SCREENSHOTS", "") == "1"
# What axe reports that the issue counts: WCAG 2.x A and AA, and best practices.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]


def _present(path: Path, what: str) -> Path:
    """The file the tests need: skip locally when absent, fail in CI."""
    if not path.exists():
        message = f"{what} not found at {path}: `make browser-deps` installs it"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture
def axe_source() -> str:
    return _present(AXE, "axe-core").read_text(encoding="utf-8")


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    """One headless Chromium for the test (Playwright starts it with a fresh profile)."""
    _present(CHROMIUM, "Debian's Chromium")
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS
        )
        try:
            yield chromium
        finally:
            await chromium.close()


async def shoot(page: Any, name: str) -> None:
    """docs/screenshots/NAME.png of what the page shows, when asked for (``make screenshots``)."""
    if SHOOT:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


async def axe_violations(page: Any, axe_source: str) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is now (the script is
    evaluated through the DevTools protocol, which the pages' CSP does not govern)."""
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        await page.evaluate(axe_source + "\n;0")
    found: list[dict[str, Any]] = await page.evaluate(
        """tags => axe.run(document, {runOnly: {type: "tag", values: tags}}).then(r =>
            r.violations
              .filter(v => v.impact === "serious" || v.impact === "critical")
              .map(v => ({id: v.id, impact: v.impact, help: v.help,
                          nodes: v.nodes.slice(0, 3).map(n => n.target.join(" "))})))""",
        AXE_TAGS,
    )
    return found
