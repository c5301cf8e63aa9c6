"""Every HTML page of the app, with data behind it: the demo's chapters, events and staff, plus
booked slots, a hub's sessions, registrations (one in person at the hub), an open Q&A window
with a question on air and one waiting, and one-time links. The page tests walk this catalogue;
a page endpoint missing from it fails them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from quart import Quart
from sqlalchemy import select

from internet10 import demo
from internet10.app import PAGE_BLUEPRINTS
from internet10.db import Database
from internet10.models import Event, EventKind, User
from internet10.services import auth, booking, hubs, qa
from internet10.services import registration as registrations
from internet10.services.events import event_slots

# Page blueprints' GET endpoints that answer something other than an HTML page.
NOT_HTML = frozenset(
    {
        "feeds.event_calendar",
        "feeds.chapter_calendar",
        "attendee.personal_calendar",
        "attendance.chart_png",
        "attendance.export",
        "attendance.report_pdf",
    }
)
REDIRECTS = frozenset({"attendance.this_year"})  # to the current year's page
ORGANISER = "organiser@demo.internet10.test"
PASSWORD = "internet10-demo"  # the demo organiser's
AGENDA = b"""BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//tests//EN
BEGIN:VEVENT
UID:opening@igf
SUMMARY:Opening ceremony
DTSTART:%(first)s
DTEND:%(first_end)s
END:VEVENT
BEGIN:VEVENT
UID:main-session@igf
SUMMARY:Main session: Internet fragmentation
DTSTART:%(second)s
DTEND:%(second_end)s
END:VEVENT
END:VCALENDAR
"""


@dataclass(frozen=True)
class Catalogue:
    pages: dict[str, str]  # endpoint -> path
    event_id: int
    hub_id: int
    attendee_token: str  # Aïcha's personal link, on the Internet10 session


def page_endpoints(app: Quart) -> set[str]:
    """The page blueprints' GET endpoints that answer HTML."""
    return {
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if rule.endpoint.split(".")[0] in PAGE_BLUEPRINTS
        and "GET" in (rule.methods or ())
        and rule.endpoint not in NOT_HTML
    }


def _ics_time(moment: dt.datetime) -> bytes:
    return moment.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ").encode()


async def seed(database: Database, *, now: dt.datetime) -> Catalogue:
    await demo.seed(database, now=now)
    async with database.write() as db:
        user = await db.scalar(select(User).where(User.email == ORGANISER))
        assert user is not None
        organiser = await auth.principal_for_user(db, user.id)
        events = (await db.scalars(select(Event).order_by(Event.starts_at))).all()
        i10 = next(e for e in events if e.kind == EventKind.INTERNET10.value)
        hub = next(e for e in events if e.kind == EventKind.HUB.value)
        slots = list(await event_slots(db, i10.id))
        talks = (
            ("BJ", "L'accessibilité du Web en Afrique de l'Ouest", "fr", "Aminata Dossou"),
            ("SN", "Coupures d'Internet : mesurer pour convaincre", "fr", "Moussa Ndiaye"),
            ("KE", "Community networks in rural Kenya", "en", "Wanjiru Kamau"),
        )
        for slot, (code, title, language, speaker) in zip(slots, talks, strict=False):
            await booking.book_slot(
                db,
                organiser,
                slot.id,
                booking.Presentation(
                    title=title,
                    language=language,
                    speakers=(booking.Speaker(speaker, f"{code.lower()}@example.org"),),
                ),
                chapter_code=code,
                now=now,
            )
        first = hub.starts_at
        agenda = AGENDA % {
            b"first": _ics_time(first),
            b"first_end": _ics_time(first + dt.timedelta(minutes=45)),
            b"second": _ics_time(first + dt.timedelta(hours=1)),
            b"second_end": _ics_time(first + dt.timedelta(hours=2)),
        }
        await hubs.import_sessions(db, organiser, hub.id, agenda, uids=None, now=now)
        event = await registrations.lock_open_event(db, i10.id)
        aicha = await registrations.register(
            db,
            event,
            registrations.Applicant("Aïcha Zinsou", "aicha@example.bj", "BJ", "fr"),
            now=now,
        )
        await registrations.register(
            db, event, registrations.Applicant("John Doe", "john@example.org", "KE", "en"), now=now
        )
        at_hub = await registrations.lock_open_event(db, hub.id)
        await registrations.register(
            db,
            at_hub,
            registrations.Applicant("Koffi Agbo", "koffi@example.bj", "BJ", "fr", "in_person"),
            now=now,
        )
        slot = slots[0]
        await qa.set_window(db, organiser, slot.id, open=True, now=now)
        shown = await qa.ask(
            db,
            aicha.registration.id,
            slot.id,
            text="Quels outils recommandez-vous pour tester l'accessibilité ?",
            language="fr",
            anonymous=False,
            now=now,
        )
        await qa.moderate(db, organiser, shown.id, "on_air", now=now)
        await qa.ask(
            db,
            aicha.registration.id,
            slot.id,
            text="Où trouver les présentations après la session ?",
            language="fr",
            anonymous=True,
            now=now,
        )
        login_link = await auth.issue_token(db, user.id, kind="login", now=now)
        reset = await auth.issue_reset_link(db, user.id, now=now)
        assert reset is not None
    token = aicha.access_token
    pages = {
        "public.home": "/",
        "public.event_page": f"/events/{i10.id}",
        "hubs.calendar_page": "/hubs",
        "attendee.register_form": f"/events/{i10.id}/register",
        "attendee.personal": f"/me/{token}",
        "attendee.join": f"/join/{token}",
        "qa.attendee_page": f"/me/{token}/qa",
        "qa.presenter": f"/events/{i10.id}/qa/presenter",
        "qa.projector": f"/events/{i10.id}/qa/projector",
        "staff.login_form": "/login",
        "staff.login_link": f"/login/link/{login_link}",
        "staff.reset_form": "/login/reset",
        "staff.reset_link": f"/login/reset/{reset.token}",
        "staff.home": "/staff",
        "booking.event_page": f"/delegate/events/{i10.id}",
        "moderation.console": f"/moderator/events/{i10.id}",
        "checkin.checkin_page": f"/hubs/{hub.id}/checkin",
        "qa.relay_page": f"/hubs/{hub.id}/qa",
        "organiser.dashboard": "/organiser",
        "planning.planning_page": f"/organiser/events/{i10.id}/planning",
        "registrations.registrations_page": f"/organiser/events/{i10.id}/registrations",
        "hubs.sessions_page": f"/organiser/hubs/{hub.id}/sessions",
        "jobs.failed": "/organiser/jobs",
        "attendance.dashboard": f"/organiser/events/{i10.id}/attendance",
        "attendance.report_page": f"/organiser/events/{i10.id}/report",
        "attendance.this_year": "/organiser/year",
        "attendance.year_page": f"/organiser/year/{i10.starts_at.year}",
        "mailbox.mailbox": "/dev/mailbox",  # in demo mode
    }
    return Catalogue(pages=pages, event_id=i10.id, hub_id=hub.id, attendee_token=token)
