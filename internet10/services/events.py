"""Events: create, read, change, publish, cancel. Only organisers change events."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, fields

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from internet10.errors import Conflict, NotFound, ValidationFailed
from internet10.models import Event, EventKind, EventStatus, Slot
from internet10.services.auth import Principal, require_organiser
from internet10.services.google_sync import NO_GOOGLE, GooglePolicy, event_changed
from internet10.services.meetings import MeetingPolicy, Overflow, check_publish, request_sync
from internet10.services.notifications import programme_changed
from scheduler.agenda import AgendaParams, Break, build_agenda
from scheduler.errors import SchedulingError

PUBLIC_STATUSES = (
    EventStatus.PUBLISHED.value,
    EventStatus.LIVE.value,
    EventStatus.ENDED.value,
    EventStatus.CANCELLED.value,
)

# Changes that the online meeting shows (its topic, time, length, zone).
MEETING_FIELDS = frozenset({"title", "starts_at", "duration_minutes", "timezone"})
# Changes that Google Calendar entries and YouTube broadcasts show.
GOOGLE_FIELDS = MEETING_FIELDS | {"description", "venue"}

# Which status may follow which. Cancelling is allowed until the event has ended.
TRANSITIONS: dict[EventStatus, frozenset[EventStatus]] = {
    EventStatus.DRAFT: frozenset({EventStatus.PUBLISHED, EventStatus.CANCELLED}),
    EventStatus.PUBLISHED: frozenset({EventStatus.LIVE, EventStatus.CANCELLED}),
    EventStatus.LIVE: frozenset({EventStatus.ENDED, EventStatus.CANCELLED}),
    EventStatus.ENDED: frozenset(),
    EventStatus.CANCELLED: frozenset(),
}


@dataclass(frozen=True)
class EventFields:
    """Validated values for a new event (times aware, zone known: the edge checked the shapes)."""

    kind: EventKind
    title: str
    starts_at: dt.datetime
    duration_minutes: int
    timezone: str
    capacity: int
    participant_target: int
    description: str = ""
    upstream_event: str | None = None
    retransmits_id: int | None = None
    venue: str | None = None
    seats: int | None = None
    bookings_need_approval: bool = False


@dataclass(frozen=True)
class EventChanges:
    """A partial change: ``None`` means "leave as is"."""

    title: str | None = None
    description: str | None = None
    starts_at: dt.datetime | None = None
    duration_minutes: int | None = None
    timezone: str | None = None
    capacity: int | None = None
    participant_target: int | None = None
    upstream_event: str | None = None
    retransmits_id: int | None = None
    venue: str | None = None
    seats: int | None = None
    bookings_need_approval: bool | None = None


def _check_hub_fields(kind: str, upstream: str | None, seats: int | None) -> None:
    if kind != EventKind.HUB.value:
        if upstream is not None:
            raise ValidationFailed(
                "Only a hub retransmits an upstream event.", field="upstream_event"
            )
        if seats is not None:
            raise ValidationFailed("Only a hub has seats in a venue.", field="seats")


async def _check_retransmits(
    db: AsyncSession, kind: str, retransmits_id: int | None, *, self_id: int | None = None
) -> None:
    """A hub may retransmit one of our own events (not a hub, not itself); its people then
    count in that event's attendance."""
    if retransmits_id is None:
        return
    if kind != EventKind.HUB.value:
        raise ValidationFailed("Only a hub retransmits another event.", field="retransmits_id")
    target = await db.get(Event, retransmits_id)
    if target is None or retransmits_id == self_id:
        raise ValidationFailed(f"No other event with id {retransmits_id}.", field="retransmits_id")
    if target.kind == EventKind.HUB.value:
        raise ValidationFailed(
            "A hub retransmits an event, not another hub.", field="retransmits_id"
        )


async def create_event(
    db: AsyncSession, principal: Principal | None, data: EventFields, *, now: dt.datetime
) -> Event:
    require_organiser(principal)
    _check_hub_fields(data.kind.value, data.upstream_event, data.seats)
    await _check_retransmits(db, data.kind.value, data.retransmits_id)
    event = Event(
        kind=data.kind.value,
        title=data.title,
        description=data.description,
        starts_at=data.starts_at,
        duration_minutes=data.duration_minutes,
        timezone=data.timezone,
        capacity=data.capacity,
        participant_target=data.participant_target,
        status=EventStatus.DRAFT.value,
        upstream_event=data.upstream_event,
        retransmits_id=data.retransmits_id,
        venue=data.venue,
        seats=data.seats,
        bookings_need_approval=data.bookings_need_approval,
        sequence=0,
        created_at=now,
        updated_at=now,
    )
    db.add(event)
    await db.flush()
    if data.kind is EventKind.INTERNET10:
        await set_running_order(db, event, AgendaParams(), now=now)
    return event


def agenda_to_json(params: AgendaParams) -> dict[str, object]:
    return {
        "opening": params.opening,
        "slots": params.slots,
        "presentation": params.presentation,
        "debate": params.debate,
        "breaks": [{"after_slot": b.after_slot, "minutes": b.minutes} for b in params.breaks],
        "closing": params.closing,
    }


def agenda_from_json(data: dict[str, object] | None) -> AgendaParams:
    if not data:
        return AgendaParams()
    raw_breaks = data.get("breaks", [])
    assert isinstance(raw_breaks, list)
    return AgendaParams(
        opening=int(str(data["opening"])),
        slots=int(str(data["slots"])),
        presentation=int(str(data["presentation"])),
        debate=int(str(data["debate"])),
        breaks=tuple(Break(int(b["after_slot"]), int(b["minutes"])) for b in raw_breaks),
        closing=int(str(data["closing"])),
    )


async def set_running_order(
    db: AsyncSession, event: Event, params: AgendaParams, *, now: dt.datetime
) -> list[Slot]:
    """Lay out the event's chapter slots from agenda parameters (replacing empty ones).

    The agenda must fit the event's duration; the scheduler says why when it does not.
    """
    try:
        items = build_agenda(params, event.duration_minutes)
    except SchedulingError as exc:
        field = "duration_minutes" if exc.code == "AGENDA_TOO_LONG" else exc.field
        raise ValidationFailed(exc.message, code=exc.code, field=field) from None
    existing = {s.position: s for s in await event_slots(db, event.id)}
    slots: list[Slot] = []
    for item in items:
        if item.kind != "slot" or item.position is None:
            continue
        assert item.presentation_end_offset is not None
        slot = existing.pop(item.position, None)
        if slot is None:
            slot = Slot(
                event_id=event.id,
                position=item.position,
                speakers=[],
                skipped=False,
                extended_minutes=0,
            )
            db.add(slot)
        slot.starts_at = event.starts_at + dt.timedelta(minutes=item.start_offset)
        slot.presentation_minutes = item.presentation_end_offset - item.start_offset
        slot.debate_minutes = item.end_offset - item.presentation_end_offset
        slot.updated_at = now
        slots.append(slot)
    for leftover in existing.values():
        if leftover.chapter_id is not None:
            raise Conflict(
                f"Slot {leftover.position} is booked; move its chapter before removing it.",
                code="SLOT_BOOKED",
            )
        await db.delete(leftover)
    event.agenda = agenda_to_json(params)
    await db.flush()
    return slots


def _visible(event: Event, principal: Principal | None) -> bool:
    if event.status in PUBLIC_STATUSES:
        return True
    return principal is not None and (principal.is_organiser or principal.moderates(event.id))


async def get_event(db: AsyncSession, principal: Principal | None, event_id: int) -> Event:
    """Drafts are visible to organisers and the event's moderators; to others they do not exist."""
    event = await db.get(Event, event_id)
    if event is None or not _visible(event, principal):
        raise NotFound(f"No event with id {event_id}.")
    return event


async def list_events(
    db: AsyncSession,
    principal: Principal | None,
    *,
    kind: EventKind | None = None,
    upcoming_after: dt.datetime | None = None,
) -> Sequence[Event]:
    query = select(Event).order_by(Event.starts_at, Event.id)
    if principal is None or not principal.is_organiser:
        query = query.where(Event.status.in_(PUBLIC_STATUSES))
    if kind is not None:
        query = query.where(Event.kind == kind.value)
    if upcoming_after is not None:
        query = query.where(Event.starts_at >= upcoming_after - dt.timedelta(days=1))
    return (await db.scalars(query)).all()


async def update_event(
    db: AsyncSession,
    principal: Principal | None,
    event_id: int,
    changes: EventChanges,
    *,
    now: dt.datetime,
    meetings: MeetingPolicy,
    google: GooglePolicy = NO_GOOGLE,
) -> Event:
    require_organiser(principal)
    event = await _locked(db, event_id)
    if event.status in (EventStatus.ENDED.value, EventStatus.CANCELLED.value):
        raise Conflict(
            f"The event is {event.status}; it can no longer change.", code="EVENT_CLOSED"
        )
    given = {f.name: getattr(changes, f.name) for f in fields(changes)}
    given = {k: v for k, v in given.items() if v is not None}
    _check_hub_fields(event.kind, given.get("upstream_event"), given.get("seats"))
    await _check_retransmits(db, event.kind, given.get("retransmits_id"), self_id=event.id)
    changed = set()
    for name, value in given.items():
        if getattr(event, name) != value:
            changed.add(name)
            setattr(event, name, value)
    if changed & {"starts_at", "duration_minutes"} and event.agenda is not None:
        await set_running_order(db, event, agenda_from_json(event.agenda), now=now)
    if changed:
        event.updated_at = now
        event.sequence += 1  # iCalendar SEQUENCE and change notifications key on this
    if changed & {"starts_at", "duration_minutes", "timezone"}:
        await programme_changed(db, event, chapter_ids=None, now=now)
    if (
        meetings.enabled
        and changed & MEETING_FIELDS
        and event.status in (EventStatus.PUBLISHED.value, EventStatus.LIVE.value)
    ):
        await request_sync(db, event, now=now)
    if changed & GOOGLE_FIELDS and event.status != EventStatus.DRAFT.value:
        await event_changed(db, event, google, now=now)
    return event


async def _locked(db: AsyncSession, event_id: int) -> Event:
    event = await db.scalar(select(Event).where(Event.id == event_id).with_for_update())
    if event is None:
        raise NotFound(f"No event with id {event_id}.")
    return event


async def change_status(
    db: AsyncSession,
    principal: Principal | None,
    event_id: int,
    target: EventStatus,
    *,
    now: dt.datetime,
    meetings: MeetingPolicy,
    overflow: Overflow | None = None,
    google: GooglePolicy = NO_GOOGLE,
) -> Event:
    """Publish, start, end or cancel. Publishing past the meeting host's capacity needs the
    organiser's choice of ``overflow`` (see ``meetings.check_publish``)."""
    require_organiser(principal)
    event = await _locked(db, event_id)
    current = EventStatus(event.status)
    if target is current:
        return event  # publishing twice is not an error: the outcome is already true
    if target not in TRANSITIONS[current]:
        raise Conflict(
            f"An event that is {current.value} cannot become {target.value}.",
            code="INVALID_STATUS_CHANGE",
        )
    if target is EventStatus.PUBLISHED:
        check_publish(event, meetings, overflow)
    event.status = target.value
    event.updated_at = now
    event.sequence += 1
    if meetings.enabled and (
        target is EventStatus.PUBLISHED
        or (target is EventStatus.CANCELLED and current is not EventStatus.DRAFT)
    ):
        await request_sync(db, event, now=now)
    if target is EventStatus.CANCELLED and current is not EventStatus.DRAFT:
        await programme_changed(db, event, chapter_ids=None, now=now)
    if current is not EventStatus.DRAFT or target is EventStatus.PUBLISHED:
        # published: on the calendar, broadcast created; live, ended: the broadcast follows;
        # cancelled: both removed
        await event_changed(db, event, google, now=now)
    return event


async def event_slots(db: AsyncSession, event_id: int) -> Sequence[Slot]:
    return (
        await db.scalars(select(Slot).where(Slot.event_id == event_id).order_by(Slot.position))
    ).all()


async def change_agenda(
    db: AsyncSession,
    principal: Principal | None,
    event_id: int,
    params: AgendaParams,
    *,
    now: dt.datetime,
) -> Event:
    """Re-lay the running order with new parameters (organisers); booked slots keep their
    chapters by position, and a booked slot that would disappear is refused."""
    require_organiser(principal)
    event = await _locked(db, event_id)
    if event.status in (EventStatus.ENDED.value, EventStatus.CANCELLED.value):
        raise Conflict(
            f"The event is {event.status}; it can no longer change.", code="EVENT_CLOSED"
        )
    await set_running_order(db, event, params, now=now)
    event.updated_at = now
    event.sequence += 1
    await programme_changed(db, event, chapter_ids=None, now=now)
    return event
