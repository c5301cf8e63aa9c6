"""The programme on a public Google Calendar (the chapter's, ``INTERNET10_GOOGLE_CALENDAR_ID``):
one Google event for each published event, each of its booked slots and each of its hub
sessions, updated when they change, deleted when they go (a slot given back, an event
cancelled). Nobody is invited: people subscribe to the calendar, and registrants get .ics files.

The database says what should be on the calendar; the ``google.calendar`` job makes Google
agree, like ``meetings.sync_meeting``: it reads, calls Google outside any transaction, and
records each outcome under the event's row lock. Our key (``slot:12``) gives the Google event
id (``integrations.google.event_id_for``), so publishing again never duplicates; ``digest``
(what was sent last) spares Google the calls that would change nothing.

What shows: the public event page's link (never a personal join link), the chapter, the
presentation's title and the times, in the event's zone and the presenting chapter's.
Open and pending slots are not shown (nothing is decided yet); the event's own entry covers
the session."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from integrations.google import CalendarEvent, CalendarPublisher, GoogleError
from internet10.db import Database
from internet10.models import (
    Chapter,
    Event,
    EventStatus,
    GoogleObject,
    GoogleObjectKind,
    HubSession,
    Slot,
)
from internet10.services.outbox import enqueue

JOB = "google.calendar"
MAX_ATTEMPTS = 25  # as the meetings' jobs: an outage defers them without spending attempts
SHOWN_STATUSES = (EventStatus.PUBLISHED.value, EventStatus.LIVE.value, EventStatus.ENDED.value)
SYNCED_STATUSES = (EventStatus.PUBLISHED.value, EventStatus.LIVE.value, EventStatus.CANCELLED.value)
CONFIRMED_BOOKING = "confirmed"
PUBLISHED = "published"  # GoogleObject.state of a calendar event


async def request_sync(db: AsyncSession, event: Event, *, now: dt.datetime) -> None:
    """Queue the calendar's update for the event as it now is (inside the caller's
    transaction, after ``event.sequence`` rose). Drafts have nothing on the calendar."""
    if event.status not in SYNCED_STATUSES:
        return
    await enqueue(
        db,
        JOB,
        {"event_id": event.id},
        now=now,
        dedupe_key=f"{JOB}:{event.id}:{event.sequence}",
        max_attempts=MAX_ATTEMPTS,
    )


# -- what the calendar should show ----------------------------------------------------------------


def _clock(moment: dt.datetime, zone: str) -> str:
    return moment.astimezone(ZoneInfo(zone)).strftime("%H:%M")


def _times(starts_at: dt.datetime, ends_at: dt.datetime, zone: str) -> str:
    return f"{_clock(starts_at, zone)}–{_clock(ends_at, zone)} {zone}"


def _paragraphs(*parts: str) -> str:
    return "\n\n".join(p.strip() for p in parts if p and p.strip())


def slot_entry(event: Event, slot: Slot, chapter: Chapter, link: str) -> CalendarEvent:
    """A booked slot: the chapter and its presentation, at the event's time and the
    presenting chapter's own (they present from there)."""
    title = f" — {slot.title}" if slot.title else ""
    times = _times(slot.starts_at, slot.ends_at, event.timezone)
    if chapter.timezone != event.timezone:
        times += f" · {_times(slot.starts_at, slot.ends_at, chapter.timezone)} ({chapter.name})"
    return CalendarEvent(
        summary=f"{event.title} · {chapter.name}{title}",
        starts_at=slot.starts_at,
        ends_at=slot.ends_at,
        timezone=event.timezone,
        link=link,
        description=_paragraphs(times, slot.abstract or ""),
    )


def session_entry(event: Event, session: HubSession, link: str) -> CalendarEvent:
    upstream = f"{event.upstream_event} · " if event.upstream_event else ""
    return CalendarEvent(
        summary=f"{event.title} · {session.title}",
        starts_at=session.starts_at,
        ends_at=session.ends_at,
        timezone=event.timezone,
        link=link,
        description=_paragraphs(
            upstream + _times(session.starts_at, session.ends_at, event.timezone),
            session.description,
        ),
        location=event.venue or "",
    )


def event_entry(event: Event, link: str) -> CalendarEvent:
    return CalendarEvent(
        summary=event.title,
        starts_at=event.starts_at,
        ends_at=event.ends_at,
        timezone=event.timezone,
        link=link,
        description=event.description,
        location=event.venue or "",
    )


async def entries(db: AsyncSession, event: Event, *, base_url: str) -> dict[str, CalendarEvent]:
    """What the calendar should hold for the event, by our key; nothing for a draft or a
    cancelled event."""
    if event.status not in SHOWN_STATUSES:
        return {}
    link = f"{base_url}/events/{event.id}"
    wanted = {f"event:{event.id}": event_entry(event, link)}
    rows = await db.execute(
        select(Slot, Chapter)
        .join(Chapter, Chapter.id == Slot.chapter_id)
        .where(
            Slot.event_id == event.id,
            Slot.booking_status == CONFIRMED_BOOKING,
            Slot.skipped.is_(False),
        )
        .order_by(Slot.position)
    )
    for slot, chapter in rows.all():
        wanted[f"slot:{slot.id}"] = slot_entry(event, slot, chapter, link)
    sessions = await db.scalars(
        select(HubSession).where(HubSession.event_id == event.id).order_by(HubSession.starts_at)
    )
    for session in sessions:
        wanted[f"hub-session:{session.id}"] = session_entry(event, session, link)
    return wanted


def entry_digest(calendar_id: str, entry: CalendarEvent) -> str:
    shape = {
        "calendar": calendar_id,
        "summary": entry.summary,
        "starts_at": entry.starts_at.astimezone(dt.UTC).isoformat(),
        "ends_at": entry.ends_at.astimezone(dt.UTC).isoformat(),
        "timezone": entry.timezone,
        "link": entry.link,
        "description": entry.description,
        "location": entry.location,
    }
    return hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()


# -- making Google agree ------------------------------------------------------------------------


@dataclass(frozen=True)
class Published:
    """One calendar event as we last sent it (a detached copy of its row)."""

    id: int
    key: str
    google_id: str
    calendar_id: str
    digest: str


@dataclass(frozen=True)
class CalendarOutcome:
    """What a run did, by our keys (for logs and tests)."""

    published: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()
    unchanged: int = 0


async def published_entries(db: AsyncSession, event_id: int) -> dict[str, Published]:
    rows = await db.scalars(
        select(GoogleObject).where(
            GoogleObject.event_id == event_id,
            GoogleObject.kind == GoogleObjectKind.CALENDAR_EVENT.value,
        )
    )
    return {
        row.key: Published(row.id, row.key, row.google_id, row.calendar_id or "", row.digest)
        for row in rows
    }


async def _locked_event(db: AsyncSession, event_id: int) -> Event | None:
    return await db.scalar(select(Event).where(Event.id == event_id).with_for_update())


async def _record(
    database: Database,
    event_id: int,
    key: str,
    *,
    google_id: str,
    calendar_id: str,
    digest: str,
    now: dt.datetime,
) -> None:
    async with database.write() as db:
        if await _locked_event(db, event_id) is None:
            return
        row = await db.scalar(
            select(GoogleObject).where(
                GoogleObject.kind == GoogleObjectKind.CALENDAR_EVENT.value,
                GoogleObject.key == key,
            )
        )
        if row is None:
            row = GoogleObject(
                event_id=event_id,
                kind=GoogleObjectKind.CALENDAR_EVENT.value,
                key=key,
                state=PUBLISHED,
                created_at=now,
            )
            db.add(row)
        row.google_id = google_id
        row.calendar_id = calendar_id
        row.digest = digest
        row.updated_at = now


async def _send(
    publisher: CalendarPublisher,
    calendar_id: str,
    key: str,
    entry: CalendarEvent,
    known: Published | None,
) -> str:
    """An update when we published it on this calendar before (one call), else an insert
    (which becomes an update when the id exists: published before the mapping was lost)."""
    if known is not None and known.calendar_id == calendar_id:
        try:
            await publisher.update_event(calendar_id, known.google_id, entry)
        except GoogleError as exc:
            if exc.status != 404:  # removed from the calendar by hand: insert it again
                raise
        else:
            return known.google_id
    return await publisher.upsert_event(calendar_id, key, entry)


async def sync_calendar(
    database: Database,
    publisher: CalendarPublisher,
    event_id: int,
    *,
    calendar_id: str,
    base_url: str,
    now: dt.datetime,
) -> CalendarOutcome:
    """Make the calendar show the event as the database has it. Each Google call is recorded
    as soon as it succeeded, so a run cut short (a 429, a crash) is resumed, not repeated."""
    async with database.read() as db:
        event = await db.get(Event, event_id)
        if event is None:
            return CalendarOutcome()
        sequence = event.sequence
        wanted = await entries(db, event, base_url=base_url)
        sent = await published_entries(db, event_id)

    published: list[str] = []
    unchanged = 0
    for key, entry in wanted.items():
        digest = entry_digest(calendar_id, entry)
        known = sent.get(key)
        if known is not None and known.digest == digest:
            unchanged += 1
            continue
        google_id = await _send(publisher, calendar_id, key, entry, known)
        await _record(
            database,
            event_id,
            key,
            google_id=google_id,
            calendar_id=calendar_id,
            digest=digest,
            now=now,
        )
        published.append(key)

    deleted: list[str] = []
    for key, gone in sent.items():
        if key in wanted:
            continue
        await publisher.delete_event(gone.calendar_id or calendar_id, gone.google_id)
        async with database.write() as db:
            if await _locked_event(db, event_id) is not None:
                await db.execute(delete(GoogleObject).where(GoogleObject.id == gone.id))
        deleted.append(key)

    await _again_if_changed(database, event_id, sequence, now=now)
    return CalendarOutcome(tuple(published), tuple(deleted), unchanged)


async def _again_if_changed(
    database: Database, event_id: int, sequence: int, *, now: dt.datetime
) -> None:
    """The event changed while we were sending what we had read: the job of that change may
    have finished before our older content reached Google, so look once more."""
    async with database.write() as db:
        event = await _locked_event(db, event_id)
        if event is None or event.sequence == sequence:
            return
        await enqueue(
            db,
            JOB,
            {"event_id": event_id},
            now=now,
            dedupe_key=f"{JOB}:{event_id}:{event.sequence}:after:{sequence}",
            max_attempts=MAX_ATTEMPTS,
        )
