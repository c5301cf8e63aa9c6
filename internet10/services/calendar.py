"""iCalendar (RFC 5545) feeds: per event, per chapter. Times are written in UTC, so no VTIMEZONE
is needed; UIDs are stable and SEQUENCE follows the event's change counter, so calendar clients
update entries in place when the programme changes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from icalendar import Calendar
from icalendar import Event as VEvent
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from internet10.errors import NotFound
from internet10.models import Chapter, Event, EventStatus, HubSession, Slot
from internet10.services.auth import Principal
from internet10.services.events import PUBLIC_STATUSES, event_slots, get_event

UID_DOMAIN = "internet10"


def _calendar(name: str) -> Calendar:
    cal = Calendar()
    cal.add("prodid", "-//Internet Society Benin//Internet10//FR")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", name)
    return cal


def _vevent(
    *,
    uid: str,
    summary: str,
    start: dt.datetime,
    end: dt.datetime,
    sequence: int,
    stamp: dt.datetime,
    url: str,
    description: str = "",
    cancelled: bool = False,
) -> VEvent:
    item = VEvent()
    item.add("uid", uid)
    item.add("dtstamp", stamp.astimezone(dt.UTC))
    item.add("dtstart", start.astimezone(dt.UTC))
    item.add("dtend", end.astimezone(dt.UTC))
    item.add("summary", summary)
    item.add("sequence", sequence)
    item.add("url", url)
    item.add("location", url)
    if description:
        item.add("description", description)
    item.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    return item


def _slot_summary(event: Event, slot: Slot, chapter: Chapter | None) -> str:
    who = chapter.name if chapter else f"#{slot.position}"
    title = f" — {slot.title}" if slot.title else ""
    return f"{event.title} · {who}{title}"


def _slot_vevent(event: Event, slot: Slot, chapter: Chapter | None, base_url: str) -> VEvent:
    """One slot, with the same UID in every feed it appears in."""
    return _vevent(
        uid=f"slot-{slot.id}@{UID_DOMAIN}",
        summary=_slot_summary(event, slot, chapter),
        start=slot.starts_at,
        end=slot.ends_at,
        sequence=event.sequence,
        stamp=event.updated_at,
        url=f"{base_url}/events/{event.id}",
        description=slot.abstract or "",
        cancelled=event.status == EventStatus.CANCELLED.value or slot.skipped,
    )


async def _chapters(db: AsyncSession, ids: Iterable[int | None]) -> dict[int, Chapter]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = await db.scalars(select(Chapter).where(Chapter.id.in_(wanted)))
    return {c.id: c for c in rows}


def _event_items(
    event: Event,
    slots: Sequence[Slot],
    sessions: Sequence[HubSession],
    chapters: dict[int, Chapter],
    base_url: str,
) -> list[VEvent]:
    url = f"{base_url}/events/{event.id}"
    cancelled = event.status == EventStatus.CANCELLED.value
    items = [
        _vevent(
            uid=f"event-{event.id}@{UID_DOMAIN}",
            summary=event.title,
            start=event.starts_at,
            end=event.ends_at,
            sequence=event.sequence,
            stamp=event.updated_at,
            url=url,
            description=event.description,
            cancelled=cancelled,
        )
    ]
    for slot in slots:
        items.append(_slot_vevent(event, slot, chapters.get(slot.chapter_id or -1), base_url))
    for session in sessions:
        items.append(
            _vevent(
                uid=f"hub-session-{session.id}@{UID_DOMAIN}",
                summary=f"{event.title} · {session.title}",
                start=session.starts_at,
                end=session.ends_at,
                sequence=event.sequence,
                stamp=session.updated_at,
                url=url,
                description=session.description,
                cancelled=cancelled,
            )
        )
    return items


async def event_feed(
    db: AsyncSession, principal: Principal | None, event_id: int, *, base_url: str
) -> bytes:
    event = await get_event(db, principal, event_id)
    slots = await event_slots(db, event.id)
    sessions = (
        await db.scalars(
            select(HubSession).where(HubSession.event_id == event.id).order_by(HubSession.starts_at)
        )
    ).all()
    chapters = await _chapters(db, (s.chapter_id for s in slots))
    cal = _calendar(event.title)
    for item in _event_items(event, slots, sessions, chapters, base_url):
        cal.add_component(item)
    return bytes(cal.to_ical())


async def chapter_feed(db: AsyncSession, code: str, *, base_url: str) -> bytes:
    """Every published slot the chapter holds, across events."""
    chapter = await db.scalar(select(Chapter).where(Chapter.code == code.upper()))
    if chapter is None:
        raise NotFound(f"No chapter with code {code!r}.")
    rows = (
        await db.execute(
            select(Slot, Event)
            .join(Event, Event.id == Slot.event_id)
            .where(Slot.chapter_id == chapter.id, Event.status.in_(PUBLIC_STATUSES))
            .order_by(Slot.starts_at)
        )
    ).all()
    cal = _calendar(f"Internet10 · {chapter.name}")
    for slot, event in rows:
        cal.add_component(_slot_vevent(event, slot, chapter, base_url))
    return bytes(cal.to_ical())
