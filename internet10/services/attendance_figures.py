"""An event's attendance figures: reads intervals, registrations and slots, and hands them to the
pure arithmetic in ``scheduler.attendance``.

Who a person is: their registration when an interval is matched to one, otherwise an unmatched
guest by normalised name (a guest who rejoins from another device under the same name is one
person), or by participant key when the name is empty. Room check-ins (source ``checkin``) are
in-person visits that last until the event's end (or now, if sooner).

Slots are measured on the times they actually ran when the running order recorded them,
otherwise on their estimates (planned times moved by the drift so far).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from internet10.errors import Forbidden, NotAuthenticated, NotFound
from internet10.models import (
    AttendanceInterval,
    Chapter,
    Event,
    Registration,
    RegistrationStatus,
    Slot,
)
from internet10.services import live
from internet10.services.attendance import normalise_name
from internet10.services.auth import Principal
from internet10.services.running import estimates
from scheduler.attendance import Figures, SlotWindow, Visit, Window, compute

ROOM_SOURCE = "checkin"


@dataclass(frozen=True)
class SlotLine:
    slot_id: int
    position: int
    chapter: str | None
    title: str | None
    starts_at: dt.datetime
    ends_at: dt.datetime
    people: int


@dataclass(frozen=True)
class Funnel:
    registered: int  # not cancelled
    confirmed: int
    clicked_join: int
    attended: int


@dataclass(frozen=True)
class EventFigures:
    event: Event
    figures: Figures
    funnel: Funnel
    slots: list[SlotLine]
    min_minutes: float


def require_viewer(principal: Principal | None, event_id: int) -> Principal:
    if principal is None:
        raise NotAuthenticated("Sign in or send an API token.")
    if not principal.moderates(event_id):
        raise Forbidden("Only this event's moderators and organisers see its attendance.")
    return principal


def person_of(interval: AttendanceInterval) -> str:
    if interval.registration_id is not None:
        return f"r:{interval.registration_id}"
    name = normalise_name(interval.name)
    return f"g:{name}" if name else f"k:{interval.participant_key}"


def visits_of(
    intervals: Sequence[AttendanceInterval], event: Event, *, now: dt.datetime
) -> list[Visit]:
    """The event's intervals as the arithmetic's visits: a room check-in without a recorded
    departure is still in the room until the event ends (present now, counted until now), then
    lasts until the event's end."""
    ended = now >= event.ends_at
    return [
        Visit(
            person=person_of(i),
            joined_at=i.joined_at,
            left_at=max(event.ends_at, i.joined_at)
            if ended and i.left_at is None and i.source == ROOM_SOURCE
            else i.left_at,
            in_person=i.source == ROOM_SOURCE,
        )
        for i in intervals
    ]


async def event_figures(
    db: AsyncSession,
    principal: Principal | None,
    event_id: int,
    *,
    now: dt.datetime,
    min_minutes: float,
) -> EventFigures:
    require_viewer(principal, event_id)
    event = await db.get(Event, event_id)
    if event is None:
        raise NotFound(f"No event with id {event_id}.")
    return await figures_of(db, event, now=now, min_minutes=min_minutes)


async def figures_of(
    db: AsyncSession, event: Event, *, now: dt.datetime, min_minutes: float
) -> EventFigures:
    """The figures of one event, with no permission check (reports, live updates)."""
    intervals = (
        await db.scalars(
            select(AttendanceInterval)
            .where(AttendanceInterval.event_id == event.id)
            .order_by(AttendanceInterval.id)
        )
    ).all()
    visits = visits_of(intervals, event, now=now)
    rows = (
        await db.execute(
            select(
                Registration.id,
                Registration.status,
                Registration.country,
                Registration.language,
                Registration.join_clicked_at,
                Chapter.code,
            )
            .outerjoin(Chapter, Chapter.id == Registration.chapter_id)
            .where(Registration.event_id == event.id)
        )
    ).all()
    attributes: dict[str, dict[str, str]] = {}
    for rid, _status, country, language, _clicked, chapter in rows:
        attributes[f"r:{rid}"] = {
            "chapter": chapter or "",
            "country": country or "",
            "language": language or "",
        }
    in_room = {person_of(i) for i in intervals if i.source == ROOM_SOURCE}
    online = {person_of(i) for i in intervals if i.source != ROOM_SOURCE}
    for person in in_room | online:
        where = (
            "both"
            if person in in_room and person in online
            else ("room" if person in in_room else "online")
        )
        attributes.setdefault(person, {})["place"] = where

    slots = (
        await db.scalars(select(Slot).where(Slot.event_id == event.id).order_by(Slot.position))
    ).all()
    windows = _slot_windows(slots, now=now)
    figures = compute(
        visits,
        Window(event.starts_at, event.ends_at),
        now=now,
        min_minutes=min_minutes,
        target=event.participant_target,
        slots=[w for w, _slot in windows],
        attributes=attributes,
    )
    chapters = await _chapter_codes(db, [s.chapter_id for s in slots if s.chapter_id])
    lines = [
        SlotLine(
            slot_id=slot.id,
            position=slot.position,
            chapter=chapters.get(slot.chapter_id) if slot.chapter_id else None,
            title=slot.title,
            starts_at=window.starts_at,
            ends_at=window.ends_at,
            people=figures.by_slot.get(slot.id, 0),
        )
        for window, slot in windows
    ]
    live = [r for r in rows if r[1] != RegistrationStatus.CANCELLED.value]
    funnel = Funnel(
        registered=len(live),
        confirmed=sum(1 for r in live if r[1] == RegistrationStatus.CONFIRMED.value),
        clicked_join=sum(1 for r in live if r[4] is not None),
        attended=figures.attended,
    )
    return EventFigures(event, figures, funnel, lines, min_minutes)


def _slot_windows(slots: Sequence[Slot], *, now: dt.datetime) -> list[tuple[SlotWindow, Slot]]:
    if not slots:
        return []
    found = []
    for slot, estimate in zip(slots, estimates(slots, now=now), strict=True):
        if slot.skipped:
            continue
        start = slot.actual_started_at or estimate.estimated_start
        end = slot.actual_ended_at or estimate.estimated_end
        found.append((SlotWindow(slot.id, start, max(start, end)), slot))
    return found


async def _chapter_codes(db: AsyncSession, ids: Sequence[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = await db.execute(select(Chapter.id, Chapter.code).where(Chapter.id.in_(ids)))
    return {cid: code for cid, code in rows.all()}


LIVE_KIND = "attendance"


async def announce(
    db: AsyncSession, event_id: int, *, now: dt.datetime, min_minutes: float
) -> None:
    """Tell the event's live pages the new counts, inside the transaction that changed its
    attendance (the event's row is locked, so its live events commit in order). Counts only:
    nothing personal goes live."""
    event = await db.scalar(select(Event).where(Event.id == event_id).with_for_update())
    if event is None:
        return
    f = (await figures_of(db, event, now=now, min_minutes=min_minutes)).figures
    await live.record(
        db,
        event_id,
        LIVE_KIND,
        {
            "attended": f.attended,
            "present_now": f.present_now,
            "peak": f.peak,
            "target": f.target,
            "progress": round(f.progress, 4),
        },
        now=now,
    )
