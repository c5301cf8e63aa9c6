"""Demo data: ten chapters across the world's time zones, an Internet10 session and two hubs."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import delete, func, select, update

from internet10.db import Database
from internet10.models import (
    Chapter,
    Event,
    EventKind,
    EventStatus,
    GoogleObject,
    Job,
    Registration,
    Role,
    User,
)
from internet10.services import auth, google_calendar, livestreams, meetings
from internet10.services import events as events_service

# Ten chapters, ten different UTC offsets (in December): half-hour and 45-minute ones included.
CHAPTERS = (
    ("BJ", "ISOC Benin", "BJ", "Africa/Porto-Novo", ["fr"]),
    ("SN", "ISOC Senegal", "SN", "Africa/Dakar", ["fr"]),
    ("KE", "ISOC Kenya", "KE", "Africa/Nairobi", ["en"]),
    ("MU", "ISOC Mauritius", "MU", "Indian/Mauritius", ["en", "fr"]),
    ("IN", "ISOC India Delhi", "IN", "Asia/Kolkata", ["en"]),
    ("NP", "ISOC Nepal", "NP", "Asia/Kathmandu", ["en"]),
    ("JP", "ISOC Japan", "JP", "Asia/Tokyo", ["en"]),
    ("BR", "ISOC Brazil", "BR", "America/Sao_Paulo", ["en"]),
    ("NL", "ISOC Canada Newfoundland", "CA", "America/St_Johns", ["en", "fr"]),
    ("US", "ISOC New York", "US", "America/New_York", ["en"]),
)


@dataclass(frozen=True)
class DemoLinks:
    organiser: str
    delegate: str
    moderator: str
    hub_coordinator: str


async def seed(database: Database, *, now: dt.datetime) -> bool:
    """Seed once; returns False when the database already holds demo data."""
    async with database.write() as db:
        if await db.scalar(select(func.count()).select_from(Chapter)):
            return False
        for code, name, country, zone, languages in CHAPTERS:
            db.add(
                Chapter(
                    code=code,
                    name=name,
                    country=country,
                    timezone=zone,
                    languages=languages,
                    hours_start="08:00",
                    hours_end="22:00",
                    created_at=now,
                )
            )
        organiser = await auth.create_user(
            db,
            email="organiser@demo.internet10.test",
            role=Role.ORGANISER,
            now=now,
            name="Organisatrice démo",
            password="internet10-demo",  # noqa: S106 - public demo
        )
        principal = await auth.principal_for_user(db, organiser.user_id)
        day = (now + dt.timedelta(days=21)).date()
        session_start = dt.datetime.combine(day, dt.time(12, 0), tzinfo=dt.UTC)
        i10 = await events_service.create_event(
            db,
            principal,
            events_service.EventFields(
                kind=EventKind.INTERNET10,
                title="Internet10 — l'Internet en dix chapitres",
                description=(
                    "Dix chapitres de l'Internet Society, dix pays : accessibilité, neutralité du "
                    "réseau, modèles de gouvernance, coupures d'Internet."
                ),
                starts_at=session_start,
                duration_minutes=270,
                timezone="Africa/Porto-Novo",
                capacity=300,
                participant_target=150,
            ),
            now=now,
        )
        igf = await events_service.create_event(
            db,
            principal,
            events_service.EventFields(
                kind=EventKind.HUB,
                title="Hub IGF Cotonou",
                upstream_event="IGF",
                starts_at=session_start + dt.timedelta(days=7, hours=-3),
                duration_minutes=180,
                timezone="Africa/Porto-Novo",
                capacity=200,
                participant_target=80,
                venue="Cotonou, Bénin",
                seats=60,
            ),
            now=now,
        )
        ietf = await events_service.create_event(
            db,
            principal,
            events_service.EventFields(
                kind=EventKind.HUB,
                title="Hub IETF Cotonou",
                upstream_event="IETF",
                starts_at=session_start + dt.timedelta(days=35, hours=2),
                duration_minutes=120,
                timezone="Africa/Porto-Novo",
                capacity=100,
                participant_target=40,
                venue="Cotonou, Bénin",
                seats=30,
            ),
            now=now,
        )
        for event in (i10, igf, ietf):
            event.status = EventStatus.PUBLISHED.value
        i10.overflow_livestream = True  # 300 places: more than a Zoom Pro host holds
        await db.flush()
        await auth.create_user(
            db,
            email="delegate.bj@demo.internet10.test",
            role=Role.DELEGATE,
            chapter_code="BJ",
            now=now,
            name="Délégué Bénin",
        )
        await auth.create_user(
            db,
            email="moderator@demo.internet10.test",
            role=Role.MODERATOR,
            event_id=i10.id,
            now=now,
            name="Modératrice",
        )
        await auth.create_user(
            db,
            email="hub@demo.internet10.test",
            role=Role.HUB_COORDINATOR,
            event_id=igf.id,
            now=now,
            name="Coordinateur hub",
        )
    return True


async def fresh_meetings(database: Database, *, now: dt.datetime) -> int:
    """The demo's Zoom stand-in starts empty each run: forget the meetings and personal links of
    the previous run and queue a new meeting for every published or live event (its creation
    queues the links). Returns how many meetings were queued."""
    async with database.write() as db:
        await db.execute(
            update(Event).values(
                meeting_id=None,
                meeting_uuid=None,
                meeting_join_url=None,
                meeting_start_url=None,
                meeting_spec_digest=None,
            )
        )
        await db.execute(update(Registration).values(zoom_registrant_id=None, join_url=None))
        rows = (
            await db.scalars(
                select(Event).where(
                    Event.status.in_((EventStatus.PUBLISHED.value, EventStatus.LIVE.value))
                )
            )
        ).all()
        for event in rows:
            await db.execute(
                delete(Job).where(
                    Job.dedupe_key == f"{meetings.SYNC_JOB}:{event.id}:{event.sequence}"
                )
            )
            await meetings.request_sync(db, event, now=now)
    return len(rows)


async def fresh_google(database: Database, *, now: dt.datetime) -> int:
    """The demo's Google stand-in starts empty each run: forget what the previous run published
    and queue the calendar and the YouTube broadcasts again for every published or live
    event. Returns how many events were queued."""
    async with database.write() as db:
        await db.execute(delete(GoogleObject))
        rows = (
            await db.scalars(
                select(Event).where(
                    Event.status.in_((EventStatus.PUBLISHED.value, EventStatus.LIVE.value))
                )
            )
        ).all()
        for event in rows:
            for job in (google_calendar.JOB, livestreams.JOB):
                await db.execute(
                    delete(Job).where(Job.dedupe_key == f"{job}:{event.id}:{event.sequence}")
                )
            await google_calendar.request_sync(db, event, now=now)
            await livestreams.request_sync(db, event, now=now)
    return len(rows)


async def login_links(database: Database, base_url: str, *, now: dt.datetime) -> DemoLinks:
    """Fresh one-time sign-in links for the demo's four staff accounts."""
    emails = {
        "organiser": "organiser@demo.internet10.test",
        "delegate": "delegate.bj@demo.internet10.test",
        "moderator": "moderator@demo.internet10.test",
        "hub_coordinator": "hub@demo.internet10.test",
    }
    links: dict[str, str] = {}
    async with database.write() as db:
        for role, email in emails.items():
            user = await db.scalar(select(User).where(User.email == email))
            if user is None:
                raise RuntimeError(f"demo user {email} is missing: delete var/demo.sqlite3")
            token = await auth.issue_token(db, user.id, kind="login", now=now, label="demo")
            links[role] = f"{base_url}/login/link/{token}"
    return DemoLinks(**links)
