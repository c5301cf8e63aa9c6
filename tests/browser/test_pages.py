"""Pages in a real browser: Debian's Chromium, driven by Playwright, with axe-core inside."""

from __future__ import annotations

from typing import Any

import pytest

from internet10.app import create_app
from internet10.db import Database
from internet10.settings import Settings
from internet10.state import Dependencies
from tests.browser.conftest import DESKTOP, axe_violations
from tests.serving import served

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


async def test_home_page_in_chromium_has_no_serious_axe_violation(
    settings: Settings, database: Database, browser: Any, axe_source: str
) -> None:
    app = create_app(
        settings.model_copy(update={"secure_cookies": False}),
        dependencies=Dependencies(database=database),
    )
    async with served(app) as base:
        context = await browser.new_context(viewport=DESKTOP, locale="fr-FR")
        page = await context.new_page()
        response = await page.goto(f"{base}/")
        assert response.status == 200
        assert await page.get_attribute("html", "lang") == "fr"
        assert await page.inner_text("h1") == "Événements à venir"
        assert await axe_violations(page, axe_source) == []
        await context.close()
