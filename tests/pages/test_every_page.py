"""Every page, in French and in English: it renders, says its language, offers the other one and
the same navigation; error pages too."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from quart import Quart

from integrations.mail.mailbox import FileMailbox
from internet10.app import create_app
from internet10.db import Database
from internet10.models import Role
from internet10.settings import Settings
from internet10.state import Dependencies
from tests.conftest import HTTPSClient, make_staff
from tests.pages.catalogue import ORGANISER, PASSWORD, REDIRECTS, Catalogue, page_endpoints, seed
from tests.pages.test_pages import csrf_from

pytestmark = pytest.mark.integration

LANGUAGES = ("fr", "en")
# The projector is a screen in a hub's room: no navigation, only its language switch.
WITHOUT_NAVIGATION = frozenset({"qa.projector"})


@dataclass(frozen=True)
class Site:
    app: Quart
    https: HTTPSClient
    catalogue: Catalogue


def demo_app(settings: Settings, database: Database, now: dt.datetime, mailbox: Path) -> Quart:
    """The app in demo mode (its mailbox page exists) on a clock that stands still."""
    return create_app(
        settings.model_copy(update={"demo": True}),
        dependencies=Dependencies(
            database=database, clock=lambda: now, mailer=FileMailbox(mailbox)
        ),
    )


async def sign_in(https: HTTPSClient, email: str = ORGANISER, password: str = PASSWORD) -> None:
    token = csrf_from(await (await https.get("/login")).get_data(as_text=True))
    response = await https.post(
        "/login", form={"email": email, "password": password, "csrf_token": token}
    )
    assert response.status_code == 302, await response.get_data(as_text=True)


@pytest.fixture
async def site(
    settings: Settings, database: Database, now: dt.datetime, tmp_path: Path
) -> AsyncIterator[Site]:
    app = demo_app(settings, database, now, tmp_path / "mailbox.jsonl")
    async with app.test_app():
        catalogue = await seed(database, now=now)
        https = HTTPSClient(app.test_client())
        await sign_in(https)
        yield Site(app, https, catalogue)


def test_every_page_endpoint_is_in_the_catalogue(site: Site) -> None:
    assert page_endpoints(site.app) == set(site.catalogue.pages)


@pytest.mark.parametrize("lang", LANGUAGES)
async def test_every_page_renders_in_each_language_with_switch_and_navigation(
    site: Site, lang: str
) -> None:
    other = "en" if lang == "fr" else "fr"
    problems: list[str] = []
    for endpoint, path in sorted(site.catalogue.pages.items()):
        separator = "&" if "?" in path else "?"
        response = await site.https.get(f"{path}{separator}lang={lang}")
        if endpoint in REDIRECTS:
            if response.status_code != 302:
                problems.append(f"{endpoint}: {response.status_code}, not a redirect")
            continue
        html = await response.get_data(as_text=True)
        if response.status_code != 200:
            problems.append(f"{endpoint} {path}: {response.status_code}")
            continue
        if f'<html lang="{lang}">' not in html:
            problems.append(f"{endpoint}: no <html lang={lang!r}>")
        if not re.search(rf'<a href="[^"]*lang={other}"[^>]* hreflang="{other}"', html):
            problems.append(f"{endpoint}: no link to the {other} page")
        if endpoint not in WITHOUT_NAVIGATION and not all(
            f'href="{target}"' in html for target in ("/", "/hubs", "/staff")
        ):
            problems.append(f"{endpoint}: not the site's navigation")
    assert problems == []


ERRORS = {
    "fr": {
        404: "Page introuvable",
        403: "Accès refusé",
        429: "Trop de requêtes",
        500: "Une erreur est survenue",
    },
    "en": {
        404: "Page not found",
        403: "Not allowed",
        429: "Too many requests",
        500: "Something went wrong",
    },
}


async def _error_pages(app: Quart, https: HTTPSClient, event_id: int, lang: str) -> dict[int, str]:
    """The page each error answers with, reached the way a visitor would reach it."""
    pages: dict[int, str] = {}
    pages[404] = await (await https.get(f"/events/424242?lang={lang}")).get_data(as_text=True)
    # a hub coordinator on the organisers' dashboard
    await sign_in(https, "coordinator@example.org", "coordinator password")
    forbidden = await https.get(f"/organiser?lang={lang}")
    assert forbidden.status_code == 403
    pages[403] = await forbidden.get_data(as_text=True)
    # registrations beyond the per-address limit (one a minute here)
    form_page = await (await https.get(f"/events/{event_id}/register")).get_data(as_text=True)
    applicant = {"csrf_token": csrf_from(form_page), "country": "BJ", "language": lang}
    statuses = []
    for n in range(2):
        sent = await https.post(
            f"/events/{event_id}/register?lang={lang}",
            form=applicant | {"name": f"Visitor {n}", "email": f"v{n}-{lang}@example.org"},
        )
        statuses.append(sent.status_code)
    assert statuses == [302, 429]
    assert sent.headers["Retry-After"]
    pages[429] = await sent.get_data(as_text=True)
    broken = await https.get(f"/broken?lang={lang}")
    assert broken.status_code == 500
    pages[500] = await broken.get_data(as_text=True)
    return pages


@pytest.mark.parametrize("lang", LANGUAGES)
async def test_error_pages_speak_the_visitors_language(
    settings: Settings, database: Database, now: dt.datetime, tmp_path: Path, lang: str
) -> None:
    app = demo_app(
        settings.model_copy(update={"registration_rate_per_minute": 1}),
        database,
        now,
        tmp_path / "mailbox.jsonl",
    )

    async def broken() -> str:
        raise RuntimeError("a bug")

    app.add_url_rule("/broken", "broken", broken)
    async with app.test_app():
        catalogue = await seed(database, now=now)
        await make_staff(
            database,
            "coordinator@example.org",
            Role.HUB_COORDINATOR,
            now=now,
            password="coordinator password",
            event_id=catalogue.hub_id,
        )
        pages = await _error_pages(app, HTTPSClient(app.test_client()), catalogue.event_id, lang)
    for status, title in ERRORS[lang].items():
        assert f'<html lang="{lang}">' in pages[status], status
        assert f"<h1>{title}</h1>" in pages[status], status
        assert 'hreflang="' in pages[status], status
