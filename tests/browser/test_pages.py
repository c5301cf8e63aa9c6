"""Every page in a real browser (Debian's Chromium driven by Playwright), in French and English:
what it costs on the wire on a first visit and on a repeat visit, that nothing comes from another
host, and axe-core's verdict."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from internet10.db import Database
from internet10.settings import Settings
from tests.browser.conftest import DESKTOP, PHONE, axe_violations, shoot
from tests.pages.catalogue import ORGANISER, PASSWORD, Catalogue, seed
from tests.pages.test_every_page import demo_app
from tests.serving import served

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

FIRST_VISIT_BUDGET = 50 * 1024  # bytes on the wire: HTML, CSS, JS, images, compressed as served
REPEAT_VISIT_BUDGET = 15 * 1024  # the same page again, its static files cached
LANGUAGES = ("fr", "en")
# What `make screenshots` keeps of this walk (the journey's tests take the others).
DESKTOP_SHOTS = {
    "public.home": "home",
    "public.event_page": "event",
    "organiser.dashboard": "organiser-dashboard",
    "qa.projector": "projector",
}
PHONE_SHOTS = {"public.home": "home-phone", "public.event_page": "event-phone"}


async def sign_in(page: Any, base: str, email: str = ORGANISER, password: str = PASSWORD) -> None:
    await page.goto(f"{base}/login")
    await page.fill("#email", email)
    await page.fill("#password", password)
    async with page.expect_navigation():
        await page.click("form button[type=submit]")


@dataclass
class Visit:
    endpoint: str
    path: str
    lang: str
    first: int
    repeat: int


# Bytes the document and everything it loaded took on the wire (headers and compressed bodies;
# 0 for what came from the cache), from the Resource Timing API. A live stream still open has
# no entry: it is the page's live data, not its weight.
TRANSFERRED = """() => performance.getEntriesByType("navigation")
    .concat(performance.getEntriesByType("resource"))
    .reduce((sum, entry) => sum + entry.transferSize, 0)"""


async def visit(page: Any, cdp: Any, url: str) -> tuple[int, int]:
    """Open ``url`` with an empty cache, then again; the bytes each visit took."""
    await cdp.send("Network.clearBrowserCache")
    response = await page.goto(url)
    assert response is not None
    assert response.ok, f"{url}: {response.status}"
    first = int(await page.evaluate(TRANSFERRED))
    await page.goto(url)
    return first, int(await page.evaluate(TRANSFERRED))


@pytest.fixture
async def site(
    settings: Settings, database: Database, now: dt.datetime, tmp_path: Path
) -> AsyncIterator[tuple[str, Catalogue]]:
    app = demo_app(settings, database, now, tmp_path / "mailbox.jsonl")
    async with served(app) as base:
        yield base, await seed(database, now=now)


async def test_every_page_within_the_budget_from_here_only_and_axe_clean(
    site: tuple[str, Catalogue], browser: Any, axe_source: str
) -> None:
    """One page per language, signed in as an organiser, walks the catalogue. axe runs on the
    French pages (the English ones have the same markup)."""
    base, catalogue = site
    visits: list[Visit] = []
    inaccessible: dict[str, list[dict[str, Any]]] = {}
    foreign: list[str] = []
    for lang in LANGUAGES:
        context = await browser.new_context(viewport=DESKTOP)
        page = await context.new_page()
        page.on(
            "request",
            lambda r: None if r.url.startswith((base + "/", "data:")) else foreign.append(r.url),
        )
        cdp = await context.new_cdp_session(page)
        await sign_in(page, base)
        for endpoint, path in sorted(catalogue.pages.items()):
            separator = "&" if "?" in path else "?"
            first, repeat = await visit(page, cdp, f"{base}{path}{separator}lang={lang}")
            visits.append(Visit(endpoint, path, lang, first, repeat))
            assert await page.get_attribute("html", "lang") == lang, path
            if lang == "fr":
                found = await axe_violations(page, axe_source)
                if found:
                    inaccessible[endpoint] = found
                if endpoint in DESKTOP_SHOTS:
                    await shoot(page, DESKTOP_SHOTS[endpoint])
        await context.close()
    phone = await browser.new_context(viewport=PHONE, locale="fr-FR", is_mobile=True)
    page = await phone.new_page()
    for endpoint, name in PHONE_SHOTS.items():
        await page.goto(f"{base}{catalogue.pages[endpoint]}")
        assert await page.evaluate("document.documentElement.scrollWidth <= innerWidth + 1")
        await shoot(page, name)
    await phone.close()
    table = "\n".join(
        f"{v.first:>7} {v.repeat:>7}  {v.lang} {v.endpoint}"
        for v in sorted(visits, key=lambda v: -v.first)
    )
    print(f"\nbytes on the wire: first visit, repeat visit\n{table}")
    assert foreign == []
    over = [v for v in visits if v.first > FIRST_VISIT_BUDGET or v.repeat > REPEAT_VISIT_BUDGET]
    assert over == [], f"over the budget:\n{table}"
    for endpoint, found in inaccessible.items():
        print(endpoint, found)
    assert inaccessible == {}


async def test_keyboard_reaches_the_content_first_with_a_visible_focus(
    site: tuple[str, Catalogue], browser: Any
) -> None:
    base, catalogue = site
    context = await browser.new_context(viewport=DESKTOP)
    page = await context.new_page()
    await page.goto(f"{base}{catalogue.pages['public.event_page']}?lang=en")
    await page.keyboard.press("Tab")
    skip = page.locator("a.skip")
    assert await skip.evaluate("e => e === document.activeElement")
    assert await skip.inner_text() == "Skip to content"
    box = await skip.bounding_box()
    assert box is not None
    assert box["x"] >= 0
    assert box["y"] >= 0  # shown on screen once focused
    outline = await skip.evaluate(
        "e => [getComputedStyle(e).outlineStyle, getComputedStyle(e).outlineWidth]"
    )
    assert outline == ["solid", "3px"]
    await page.keyboard.press("Enter")
    await page.keyboard.press("Tab")
    inside = await page.evaluate("document.activeElement.closest('main') !== null")
    assert inside, "after the skip link, the next stop is in the page's content"
    await context.close()
