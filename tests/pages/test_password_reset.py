"""Staff password reset: ask with the e-mail address, a one-time link arrives by mail in the
language asked in, it sets a new password once and signs in."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from quart import Quart
from sqlalchemy import func, select

from integrations.mail.mailbox import FileMailbox
from internet10.app import create_app
from internet10.db import Database
from internet10.jobs.handlers import build_handlers
from internet10.jobs.worker import Worker
from internet10.models import Job
from internet10.services import auth
from internet10.settings import Settings
from internet10.state import Dependencies
from tests.clock import Clock
from tests.conftest import HTTPSClient, Staff
from tests.pages.test_pages import csrf_from

pytestmark = pytest.mark.integration

OLD = "correct horse battery staple"  # the organiser fixture's
NEW = "a brand new passphrase 2026"
LINK = re.compile(r"http://testserver(/login/reset/[A-Za-z0-9_-]+)")


@pytest.fixture
def clock(now: dt.datetime) -> Clock:
    return Clock(now)


@pytest.fixture
async def app(settings: Settings, database: Database, clock: Clock) -> Quart:
    return create_app(settings, dependencies=Dependencies(database=database, clock=clock))


async def ask(https: HTTPSClient, email: str, lang: str) -> str:
    token = csrf_from(await (await https.get("/login/reset")).get_data(as_text=True))
    response = await https.post(
        f"/login/reset?lang={lang}", form={"email": email, "csrf_token": token}
    )
    assert response.status_code == 200
    return str(await response.get_data(as_text=True))


async def mailed_links(
    settings: Settings, database: Database, clock: Clock, mailbox: FileMailbox
) -> list[tuple[str, str, str]]:
    """Run the queued jobs; (to, language, link path) of each mail sent."""
    handlers = build_handlers(settings, database, mailbox, clock=clock)
    await Worker(database, handlers, worker_id="w", clock=clock).drain()
    found = []
    for mail in mailbox.read():
        match = LINK.search(mail.text)
        assert match, mail.text
        found.append((mail.to, mail.language, match.group(1)))
    return found


async def sign_in(https: HTTPSClient, email: str, password: str) -> int:
    token = csrf_from(await (await https.get("/login")).get_data(as_text=True))
    response = await https.post(
        "/login", form={"email": email, "password": password, "csrf_token": token}
    )
    return int(response.status_code)


async def test_a_reset_link_sets_a_new_password_once_and_signs_in(
    app: Quart,
    settings: Settings,
    database: Database,
    clock: Clock,
    organiser: Staff,
    tmp_path: Path,
) -> None:
    mailbox = FileMailbox(tmp_path / "mailbox.jsonl")
    async with app.test_app():
        https = HTTPSClient(app.test_client())
        sent = await ask(https, organiser.email.upper(), "en")
        assert 'data-done="sent"' in sent
        [(to, language, path)] = await mailed_links(settings, database, clock, mailbox)
        assert (to, language) == (organiser.email, "en")
        [mail] = mailbox.read()
        assert mail.subject == "Choose a new Internet10 password"
        assert "expires in 60 minutes" in mail.text

        form = await https.get(f"{path}?lang=fr")  # opening the link does not use it
        html = await form.get_data(as_text=True)
        assert form.status_code == 200
        assert "<h1>Choisir un nouveau mot de passe</h1>" in html
        token = csrf_from(html)
        differ = await https.post(
            path, form={"password": NEW, "confirm": NEW + "!", "csrf_token": token}
        )
        assert differ.status_code == 422
        assert 'data-field="confirm"' in await differ.get_data(as_text=True)
        short = await https.post(
            path, form={"password": "short", "confirm": "short", "csrf_token": token}
        )
        assert short.status_code == 422
        assert 'data-field="password"' in await short.get_data(as_text=True)
        done = await https.post(path, form={"password": NEW, "confirm": NEW, "csrf_token": token})
        assert done.status_code == 302
        assert done.headers["Location"] == "/staff?done=password"
        home = await https.get("/staff?done=password&lang=en")
        assert 'data-done="password"' in await home.get_data(as_text=True)

        again = await https.post(path, form={"password": NEW, "confirm": NEW, "csrf_token": token})
        assert again.status_code == 401
        assert (await https.get(path)).status_code == 401

        other = HTTPSClient(app.test_client())
        assert await sign_in(other, organiser.email, OLD) == 401
        assert await sign_in(other, organiser.email, NEW) == 302


async def test_an_unknown_address_gets_the_same_answer_and_no_mail(
    app: Quart, settings: Settings, database: Database, clock: Clock, tmp_path: Path
) -> None:
    mailbox = FileMailbox(tmp_path / "mailbox.jsonl")
    async with app.test_app():
        https = HTTPSClient(app.test_client())
        sent = await ask(https, "nobody@example.org", "fr")
        assert 'data-done="sent"' in sent
        async with database.read() as db:
            assert await db.scalar(select(func.count()).select_from(Job)) == 0
        assert await mailed_links(settings, database, clock, mailbox) == []
        token = csrf_from(await (await https.get("/login/reset")).get_data(as_text=True))
        bad = await https.post(
            "/login/reset", form={"email": "not an address", "csrf_token": token}
        )
        assert bad.status_code == 422
        # the page answering a form links to the other language of the page the form was on
        assert '<a href="/?lang=en" hreflang="en"' in await bad.get_data(as_text=True)
        again = await https.post(
            "/login/reset?lang=fr",
            form={"email": "not an address", "csrf_token": token},
            headers={"Referer": "https://localhost/login/reset?x=1&lang=fr"},
        )
        html = await again.get_data(as_text=True)
        assert '<a href="/login/reset?x=1&amp;lang=en" hreflang="en"' in html


async def test_a_new_password_revokes_the_other_links_and_links_expire(
    app: Quart, database: Database, clock: Clock, organiser: Staff
) -> None:
    async with app.test_app():
        async with database.write() as db:
            first = await auth.issue_reset_link(db, organiser.user_id, now=clock())
            second = await auth.issue_reset_link(db, organiser.user_id, now=clock())
        assert first is not None
        assert second is not None
        async with database.write() as db:
            await auth.reset_password(db, second.token, NEW, now=clock())
        https = HTTPSClient(app.test_client())
        assert (await https.get(f"/login/reset/{first.token}")).status_code == 401
        async with database.write() as db:
            late = await auth.issue_reset_link(db, organiser.user_id, now=clock())
        assert late is not None
        clock.advance(minutes=61)
        response = await https.get(f"/login/reset/{late.token}?lang=en")
        assert response.status_code == 401
        assert "password reset link is unknown" in await response.get_data(as_text=True)
