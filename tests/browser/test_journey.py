"""The whole journey in Debian's Chromium, against the app served on loopback with its job worker
in-process and the Zoom stand-in: a delegate books a slot, an attendee registers in French on a
phone, opens the personal page, presses Join and lands in the stand-in's room, asks a question,
the moderator approves it, the presenter view shows it without a reload, and the organiser's
attendance dashboard counts one attendee. Then the same pages with JavaScript off (forms only),
and the live stream cut and resumed.

``make screenshots`` has them save docs/screenshots/ (desktop and phone) on the way."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from integrations.mail.mailbox import FileMailbox
from integrations.zoom.standin import ZoomStandIn
from internet10 import demo
from internet10.app import create_app
from internet10.db import Database
from internet10.jobs.handlers import build_handlers
from internet10.jobs.worker import Worker
from internet10.models import Event, EventKind, Role
from internet10.services import auth
from internet10.services.events import event_slots
from internet10.settings import Settings
from internet10.state import AppState, Dependencies, utcnow
from tests.browser.conftest import DESKTOP, PHONE, shoot
from tests.conftest import Staff, make_staff
from tests.live.helpers import drive, new_event, slot_ids
from tests.serving import served

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

WEBHOOK_SECRET = "journey-webhook-secret"
PASSWORD = "journey staff password"
ORGANISER = "organiser@demo.internet10.test"
DELEGATE = "delegate.bj@demo.internet10.test"
MODERATOR = "moderator@demo.internet10.test"
QUESTION = "Comment financer un réseau communautaire dans un village sans électricité ?"


async def sign_in(browser: Any, base: str, email: str, password: str) -> Any:
    """A new desktop context signed in as ``email``; returns its page."""
    context = await browser.new_context(viewport=DESKTOP, locale="en-GB")
    page = await context.new_page()
    await page.goto(f"{base}/login?lang=en")
    await page.fill("#email", email)
    await page.fill("#password", password)
    async with page.expect_navigation():
        await page.click("main form button[type=submit]")
    assert page.url == f"{base}/staff", page.url
    return page


async def fits_the_screen(page: Any) -> bool:
    return bool(
        await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    )


@dataclass
class Stage:
    base: str
    app_state: AppState
    standin: ZoomStandIn
    event_id: int
    slot_id: int  # the first slot, which the delegate books


@pytest.fixture
async def stage(settings: Settings, database: Database, tmp_path: Path) -> AsyncIterator[Stage]:
    """The demo's data on a real clock, staff with passwords, the app served with its worker,
    Zoom's stand-in sending signed webhooks back to it."""
    now = utcnow()
    await demo.seed(database, now=now)
    for email, role in ((DELEGATE, Role.DELEGATE), (MODERATOR, Role.MODERATOR)):
        async with database.write() as db:
            event = await db.scalar(select(Event).where(Event.kind == EventKind.INTERNET10.value))
            assert event is not None
            await auth.create_user(
                db,
                email=email,
                role=role,
                now=now,
                password=PASSWORD,
                chapter_code="BJ" if role is Role.DELEGATE else None,
                event_id=event.id if role is Role.MODERATOR else None,
            )
            event_id = event.id
    async with database.write() as db:
        # The session started five minutes ago (the demo's is weeks away): attendance counts
        # time inside the event.
        event = await db.get(Event, event_id)
        assert event is not None
        slots = await event_slots(db, event_id)
        moved = now - dt.timedelta(minutes=5) - event.starts_at
        for row in (event, *slots):
            row.starts_at += moved  # their ends follow (start + minutes)
        first_slot = slots[0].id
    await demo.fresh_meetings(database, now=now)
    async with ZoomStandIn(webhook_secret=WEBHOOK_SECRET) as standin:
        configured = settings.model_copy(
            update={
                "zoom_account_id": standin.account_id,
                "zoom_client_id": standin.client_id,
                "zoom_client_secret": standin.client_secret,
                "zoom_api_url": standin.api_url,
                "zoom_oauth_url": standin.oauth_url,
                "zoom_webhook_secret": WEBHOOK_SECRET,
                "attendance_min_minutes": 0,  # counted as attended from the first second
                "secure_cookies": False,  # plain http on loopback
            }
        )
        app = create_app(configured, dependencies=Dependencies(database=database, clock=utcnow))
        handlers = build_handlers(configured, database, FileMailbox(tmp_path / "mailbox.jsonl"))
        worker = Worker(database, handlers, worker_id="journey", poll_seconds=0.1)
        stop = asyncio.Event()
        async with served(app) as base:
            standin.webhook_url = f"{base}/webhooks/zoom"
            running = asyncio.create_task(worker.run_forever(stop))
            try:
                yield Stage(base, app.extensions["internet10"], standin, event_id, first_slot)
            finally:
                stop.set()
                with contextlib.suppress(asyncio.CancelledError):
                    await running


async def until(what: str, check: Any, *, seconds: float = 20.0) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        found = await check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


async def book_a_slot(browser: Any, stage: Stage) -> None:
    page = await sign_in(browser, stage.base, DELEGATE, PASSWORD)
    await page.goto(f"{stage.base}/delegate/events/{stage.event_id}?lang=en")
    fid = f"book-{stage.slot_id}"
    await page.click(f"details:has(#{fid}-title) summary")
    await page.fill(f"#{fid}-title", "Les réseaux communautaires au Bénin")
    await page.fill(f"#{fid}-speaker-name-1", "Aminata Dossou")
    await page.fill(f"#{fid}-speaker-email-1", "aminata@example.bj")
    async with page.expect_navigation():
        await page.click(f"form:has(#{fid}-title) button[type=submit]")
    assert await page.get_attribute("[data-done]", "data-done") == "booked"
    await shoot(page, "delegate-booking")
    await page.context.close()


async def register_in_french(page: Any, stage: Stage, name: str, email: str) -> str:
    """Through the public event page's Register link; returns the personal link's token."""
    await page.goto(f"{stage.base}/events/{stage.event_id}")
    assert await page.get_attribute("html", "lang") == "fr"
    async with page.expect_navigation():
        await page.click(f"a[href='/events/{stage.event_id}/register']")
    await page.fill("#reg-name", name)
    await page.fill("#reg-email", email)
    await page.select_option("#reg-country", "BJ")
    assert await page.is_checked("input[name=language][value=fr]")
    async with page.expect_navigation():
        await page.click("main form button[type=submit]")
    match = re.search(r"/me/([A-Za-z0-9_-]+)\?done=registered$", page.url)
    assert match, page.url
    assert await page.get_attribute("[data-done]", "data-done") == "registered"
    assert await page.get_attribute("[data-status]", "data-status") == "confirmed"
    return match.group(1)


async def ask(page: Any, stage: Stage, token: str, text: str) -> None:
    await page.goto(f"{stage.base}/me/{token}/qa?slot={stage.slot_id}")
    await page.fill("#text", text)
    async with page.expect_navigation():
        await page.click("form.ask button[type=submit]")
    assert await page.get_attribute("[data-done]", "data-done") == "asked"
    assert await page.get_attribute("[data-mine]", "data-status") == "pending"


async def test_from_a_booking_to_one_attendee_on_the_dashboard(
    stage: Stage, browser: Any, database: Database
) -> None:
    base = stage.base
    await book_a_slot(browser, stage)

    moderator = await sign_in(browser, base, MODERATOR, PASSWORD)
    console = f"{base}/moderator/events/{stage.event_id}?slot={stage.slot_id}&lang=en"
    await moderator.goto(console)
    async with moderator.expect_navigation():
        await moderator.click("form:has(input[name=open][value=yes]) button")
    assert await moderator.get_attribute("#qa [data-done]", "data-done") == "qa-open"

    presenter_context = await browser.new_context(viewport=DESKTOP, locale="en-GB")
    presenter = await presenter_context.new_page()
    await presenter.goto(f"{base}/events/{stage.event_id}/qa/presenter?slot={stage.slot_id}")
    await presenter.evaluate("window.notReloaded = true")
    broker = stage.app_state.broker
    assert broker is not None
    await until("the presenter's live stream", _subscribed(broker, stage.event_id))

    phone = await browser.new_context(
        viewport=PHONE, locale="fr-FR", is_mobile=True, has_touch=True
    )
    attendee = await phone.new_page()
    token = await register_in_french(attendee, stage, "Aïcha Zinsou", "aicha@example.bj")
    assert await fits_the_screen(attendee)
    await shoot(attendee, "personal-phone")

    async def pressed_join() -> bool:
        await attendee.goto(f"{base}/me/{token}")
        async with attendee.expect_navigation():
            await attendee.click(f"a[href='/join/{token}']")
        return attendee.url.startswith(stage.standin.base_url + "/w/")

    await until("the personal join link (the worker adds the registrant)", pressed_join)
    assert "You are in the meeting" in await attendee.inner_text("body")
    assert "Aïcha Zinsou" in await attendee.inner_text("body")

    await attendee.goto(f"{base}/me/{token}")
    async with attendee.expect_navigation():
        await attendee.click(f"a[href='/me/{token}/qa']")
    await ask(attendee, stage, token, QUESTION)
    assert await fits_the_screen(attendee)
    await shoot(attendee, "questions-phone")

    await moderator.goto(console)
    pending = moderator.locator("#qa li[data-status=pending]", has_text=QUESTION)
    question_id = await pending.get_attribute("data-question")
    async with moderator.expect_navigation():
        await pending.locator("form:has(input[name=action][value=approve]) button").click()
    assert await moderator.get_attribute("#qa [data-done]", "data-done") == "approve"
    approved = time.monotonic()
    await shoot(moderator, "moderator-console")

    shown = presenter.locator(f"li[data-question='{question_id}']")
    await shown.wait_for(timeout=10_000)
    assert QUESTION in await shown.inner_text()
    assert time.monotonic() - approved < 9, "live.js, not the 20 s refresh, brought it"
    assert await presenter.evaluate("window.notReloaded === true"), "the page was not reloaded"
    await shoot(presenter, "presenter")

    organiser = await sign_in(browser, base, ORGANISER, demo_password())
    await organiser.goto(f"{base}/organiser/events/{stage.event_id}/attendance?lang=en")

    async def counted() -> bool:
        attended = await organiser.inner_text("[data-figure=attended]")
        if attended.strip() == "1":
            return True
        await organiser.reload()
        return False

    await until("the dashboard counting one attendee", counted)
    assert (await organiser.inner_text("[data-figure=present-now]")).strip() == "1"
    await shoot(organiser, "attendance-dashboard")

    # JavaScript off: registration, asking and voting are plain forms.
    no_script = await browser.new_context(
        viewport=DESKTOP, locale="fr-FR", java_script_enabled=False
    )
    plain = await no_script.new_page()
    other = await register_in_french(plain, stage, "Koffi Agbo", "koffi@example.bj")
    await ask(plain, stage, other, "Les présentations seront-elles en ligne ?")
    vote = plain.locator(f"li[data-question='{question_id}'] form button")
    async with plain.expect_navigation():
        await vote.click()
    assert await plain.get_attribute("[data-done]", "data-done") == "voted"
    assert await plain.get_attribute(f"#q{question_id} [data-votes]", "data-votes") == "1"
    for context in (presenter_context, phone, no_script, moderator.context, organiser.context):
        await context.close()


def demo_password() -> str:
    return "internet10-demo"  # the demo organiser's, printed by `make demo`


def _subscribed(broker: Any, event_id: int) -> Any:
    async def check() -> bool:
        return bool(broker.subscriber_count(event_id) >= 1)

    return check


async def test_the_page_says_when_the_live_stream_drops_and_catches_up_after(
    settings: Settings, database: Database, organiser: Staff, browser: Any, now: dt.datetime
) -> None:
    app = create_app(
        settings.model_copy(update={"secure_cookies": False}),
        dependencies=Dependencies(database=database, clock=lambda: now),
    )
    event_id = await new_event(database, organiser)
    moderator = await make_staff(
        database, "mod@example.org", Role.MODERATOR, now=now, event_id=event_id
    )
    first = (await slot_ids(database, event_id))[0]
    async with served(app) as base, aiohttp.ClientSession() as http:
        state: AppState = app.extensions["internet10"]
        broker = state.broker
        assert broker is not None
        context = await browser.new_context(viewport=PHONE, locale="fr-FR", is_mobile=True)
        page = await context.new_page()
        await page.goto(f"{base}/events/{event_id}")
        status = page.locator("#live-status")
        await until("the page's live stream", _subscribed(broker, event_id))
        assert await status.is_hidden()
        broker.begin_shutdown()  # streams end and new ones are refused, as a restart does
        await status.wait_for(state="visible", timeout=10_000)
        assert await status.inner_text() == "Mises à jour en direct interrompues : reconnexion…"
        await shoot(page, "reconnecting-phone")
        await drive(http, base, moderator, first, action="start")  # while the page is cut off
        assert await page.locator("#programme td[data-status='live']").count() == 0
        broker.closing = False  # back in service
        await page.wait_for_selector("#programme td[data-status='live']", timeout=30_000)
        assert await status.inner_text() == "Mises à jour en direct rétablies : la page est à jour."
        await status.wait_for(state="hidden", timeout=10_000)
        await context.close()
