"""An event's attendance figures: reads intervals, registrations and slots, and hands them to the
pure arithmetic in ``scheduler.attendance``.

Who a person is: their registration when an interval is matched to one, otherwise an unmatched
guest by normalised name (a guest who rejoins from another device under the same name is one
person), or by participant key when the name is empty. Room check-ins (source ``checkin``) are
in-person visits that last until the event's end (or now, if sooner).

An event's people include those of the hubs that retransmit it (``Event.retransmits_id``: the
Internet10 session followed from a hub's room): their check-ins and online visits count toward the
event, once. A person registered both for the event and at a hub (same email, case aside) is one
person, known by the event's registration. The ``hub`` breakdown says where people followed from
(``""``: not through a hub); a hub's own figures name the hub itself.

Slots are measured on the times they actually ran when the running order recorded them,
otherwise on their estimates (planned times moved by the drift so far).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from internet10.errors import Forbidden, NotAuthenticated, NotFound
from internet10.models import (
    AttendanceInterval,
    Chapter,
    Event,
    EventKind,
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


def person_of(interval: AttendanceInterval, same: Mapping[int, int] | None = None) -> str:
    """Who an interval belongs to; ``same`` maps a registration to the one that stands for its
    person (see ``People``)."""
    if interval.registration_id is not None:
        rid = interval.registration_id
        return f"r:{same.get(rid, rid) if same else rid}"
    name = normalise_name(interval.name)
    return f"g:{name}" if name else f"k:{interval.participant_key}"


def visits_of(
    intervals: Sequence[AttendanceInterval],
    event: Event,
    *,
    now: dt.datetime,
    same: Mapping[int, int] | None = None,
    events: Mapping[int, Event] | None = None,
) -> list[Visit]:
    """The intervals as the arithmetic's visits: a room check-in without a recorded departure
    is still in the room until its event ends (present now, counted until now), then lasts
    until that event's end (``events``: the hubs' own events, for their intervals)."""
    found = []
    for i in intervals:
        own = events.get(i.event_id, event) if events else event
        left_at = i.left_at
        if left_at is None and i.source == ROOM_SOURCE and now >= own.ends_at:
            left_at = max(own.ends_at, i.joined_at)
        found.append(
            Visit(
                person=person_of(i, same),
                joined_at=i.joined_at,
                left_at=left_at,
                in_person=i.source == ROOM_SOURCE,
            )
        )
    return found


@dataclass(frozen=True)
class Registered:
    id: int
    event_id: int
    name: str
    status: str
    country: str
    language: str
    chapter: str | None
    clicked_join: bool


@dataclass(frozen=True)
class People:
    """Everything an event's attendance is made of: its intervals and those of the hubs that
    retransmit it, their registrations, and who is the same person across them."""

    event: Event
    hubs: dict[int, Event]  # the hubs retransmitting the event, by id
    intervals: list[AttendanceInterval]
    registrations: dict[int, Registered]
    same: dict[int, int]  # registration id -> the registration standing for that person

    def person(self, interval: AttendanceInterval) -> str:
        return person_of(interval, self.same)

    def visits(self, *, now: dt.datetime) -> list[Visit]:
        return visits_of(self.intervals, self.event, now=now, same=self.same, events=self.hubs)

    def hub_of(self, interval: AttendanceInterval) -> str:
        """The hub a visit came through: the hub's title (with its id when two hubs share a
        title), the event's own title when it is a hub, ``""`` when not through a hub."""
        if self.event.kind == EventKind.HUB.value:
            return self.event.title
        hub = self.hubs.get(interval.event_id)
        if hub is None:
            return ""
        twins = sum(1 for h in self.hubs.values() if h.title == hub.title)
        return hub.title if twins == 1 else f"{hub.title} #{hub.id}"

    def attributes(self) -> dict[str, dict[str, str]]:
        """Each person's breakdown values: chapter, country and language from their
        registration; place (room, online or both) and hub (where they first came through)
        from their visits."""
        found: dict[str, dict[str, str]] = {}
        for rid, r in self.registrations.items():
            if self.same.get(rid, rid) == rid:
                found[f"r:{rid}"] = {
                    "chapter": r.chapter or "",
                    "country": r.country or "",
                    "language": r.language or "",
                }
        places: dict[str, set[bool]] = {}
        for i in sorted(self.intervals, key=lambda i: (i.joined_at, i.id)):
            person = self.person(i)
            places.setdefault(person, set()).add(i.source == ROOM_SOURCE)
            values = found.setdefault(person, {})
            if not values.get("hub"):
                values["hub"] = self.hub_of(i)
        for person, kinds in places.items():
            found[person]["place"] = (
                "both" if len(kinds) == 2 else ("room" if True in kinds else "online")
            )
        return found


async def people_of(db: AsyncSession, event: Event) -> People:
    """Read an event's attendance material (three queries, however many hubs)."""
    return (await people_of_events(db, [event]))[event.id]


async def people_of_events(db: AsyncSession, events: Sequence[Event]) -> dict[int, People]:
    """Read the attendance material of several events at once (three queries, however many
    events and hubs)."""
    if not events:
        return {}
    ids = [e.id for e in events]
    hubs: dict[int, dict[int, Event]] = {e.id: {} for e in events}
    for hub in (
        await db.scalars(select(Event).where(Event.retransmits_id.in_(ids)).order_by(Event.id))
    ).all():
        if hub.retransmits_id is not None:  # always, by the query; narrows the type
            hubs[hub.retransmits_id][hub.id] = hub
    every = {*ids, *(h for found in hubs.values() for h in found)}
    intervals: dict[int, list[AttendanceInterval]] = {i: [] for i in every}
    for interval in (
        await db.scalars(
            select(AttendanceInterval)
            .where(AttendanceInterval.event_id.in_(every))
            .order_by(AttendanceInterval.id)
        )
    ).all():
        intervals[interval.event_id].append(interval)
    rows = (
        await db.execute(
            select(
                Registration.id,
                Registration.event_id,
                Registration.name,
                Registration.email,
                Registration.status,
                Registration.country,
                Registration.language,
                Registration.join_clicked_at,
                Chapter.code,
            )
            .outerjoin(Chapter, Chapter.id == Registration.chapter_id)
            .where(Registration.event_id.in_(every))
            .order_by(Registration.id)
        )
    ).all()
    found: dict[int, People] = {}
    for event in events:
        mine = {event.id, *hubs[event.id]}
        registrations: dict[int, Registered] = {}
        standing: dict[str, int] = {}  # email -> the registration standing for its person
        same: dict[int, int] = {}
        # The event's own registrations first: a person known to it is known by that one.
        for row in sorted(
            (r for r in rows if r.event_id in mine), key=lambda r: (r.event_id != event.id, r.id)
        ):
            registrations[row.id] = Registered(
                id=row.id,
                event_id=row.event_id,
                name=row.name,
                status=row.status,
                country=row.country,
                language=row.language,
                chapter=row.code,
                clicked_join=row.join_clicked_at is not None,
            )
            same[row.id] = standing.setdefault(row.email.strip().casefold(), row.id)
        visits = sorted((i for e in mine for i in intervals[e]), key=lambda i: i.id)
        found[event.id] = People(event, hubs[event.id], visits, registrations, same)
    return found


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
    people = await people_of(db, event)
    visits = people.visits(now=now)
    attributes = people.attributes()

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
    standing: dict[int, Registered] = {}  # one registration per person, confirmed if any
    for r in people.registrations.values():
        if r.status == RegistrationStatus.CANCELLED.value:
            continue
        key = people.same.get(r.id, r.id)
        if key not in standing or r.status == RegistrationStatus.CONFIRMED.value:
            standing[key] = r
    clicked = {
        people.same.get(r.id, r.id)
        for r in people.registrations.values()
        if r.clicked_join and r.status != RegistrationStatus.CANCELLED.value
    }
    funnel = Funnel(
        registered=len(standing),
        confirmed=sum(
            1 for r in standing.values() if r.status == RegistrationStatus.CONFIRMED.value
        ),
        clicked_join=len(clicked),
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
    if event.retransmits_id is not None:  # the hub's people count there too
        await announce(db, event.retransmits_id, now=now, min_minutes=min_minutes)
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
