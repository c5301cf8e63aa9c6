"""The live running order: moderators mark slots started, ended, extended or skipped; the
scheduler re-estimates every remaining slot from what actually happened (drift)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from internet10.errors import Conflict, Forbidden, NotAuthenticated, NotFound, ValidationFailed
from internet10.models import Chapter, Event, EventStatus, Slot
from internet10.services import live, livestreams
from internet10.services.auth import Principal
from internet10.services.events import event_slots, get_event
from scheduler.agenda import ActualTimes, PlannedSlot, SlotEstimate, estimate_running_order

LiveAction = Literal["start", "end", "extend", "skip", "unskip"]
MAX_EXTENSION_MINUTES = 120


@dataclass(frozen=True)
class RunningSlot:
    slot: Slot
    chapter: Chapter | None
    estimate: SlotEstimate


def estimates(slots: Sequence[Slot], *, now: dt.datetime) -> list[SlotEstimate]:
    planned = [PlannedSlot(s.position, s.starts_at, s.ends_at) for s in slots]
    actual = {
        s.position: ActualTimes(
            actual_start=s.actual_started_at,
            actual_end=s.actual_ended_at,
            skipped=s.skipped,
            extended_minutes=s.extended_minutes,
        )
        for s in slots
    }
    return estimate_running_order(planned, actual, now)


async def running_order(
    db: AsyncSession, principal: Principal | None, event_id: int, *, now: dt.datetime
) -> tuple[Event, list[RunningSlot]]:
    event = await get_event(db, principal, event_id)
    slots = list(await event_slots(db, event.id))
    chapter_ids = {s.chapter_id for s in slots if s.chapter_id is not None}
    chapters = {
        c.id: c
        for c in (await db.scalars(select(Chapter).where(Chapter.id.in_(chapter_ids)))).all()
    }
    by_position = {e.position: e for e in estimates(slots, now=now)}
    return event, [
        RunningSlot(s, chapters.get(s.chapter_id or -1), by_position[s.position]) for s in slots
    ]


async def act(
    db: AsyncSession,
    principal: Principal | None,
    slot_id: int,
    action: LiveAction,
    *,
    now: dt.datetime,
    minutes: int | None = None,
) -> Slot:
    """Apply one moderator action to a slot. Only the event's moderators and organisers may.

    Starting a slot ends the one still running before it (moderators forget; the drift must not).
    """
    slot = await db.scalar(select(Slot).where(Slot.id == slot_id).with_for_update())
    if slot is None:
        raise NotFound(f"No slot with id {slot_id}.")
    if principal is None:
        raise NotAuthenticated("Sign in or send an API token.")
    if not principal.moderates(slot.event_id):
        raise Forbidden("Only this event's moderators and organisers run its running order.")
    event = await db.scalar(select(Event).where(Event.id == slot.event_id).with_for_update())
    assert event is not None
    if event.status in (
        EventStatus.CANCELLED.value,
        EventStatus.ENDED.value,
        EventStatus.DRAFT.value,
    ):
        raise Conflict(f"The event is {event.status}.", code="EVENT_NOT_RUNNING")
    if action == "start":
        if slot.actual_started_at is not None:
            raise Conflict("This slot has already started.", code="SLOT_ALREADY_STARTED")
        for other in await event_slots(db, event.id):
            if other.id != slot.id and other.actual_started_at and not other.actual_ended_at:
                other.actual_ended_at = now
                other.updated_at = now
        slot.actual_started_at = now
        slot.skipped = False
        if event.status == EventStatus.PUBLISHED.value:
            event.status = EventStatus.LIVE.value
            await livestreams.event_went_live(db, event, now=now)
    elif action == "end":
        if slot.actual_started_at is None:
            raise Conflict("This slot has not started.", code="SLOT_NOT_STARTED")
        if slot.actual_ended_at is not None:
            raise Conflict("This slot has already ended.", code="SLOT_ALREADY_ENDED")
        slot.actual_ended_at = now
    elif action == "extend":
        if minutes is None or not 1 <= minutes <= MAX_EXTENSION_MINUTES:
            raise ValidationFailed(f"Give 1 to {MAX_EXTENSION_MINUTES} minutes.", field="minutes")
        if slot.actual_ended_at is not None:
            raise Conflict("This slot has already ended.", code="SLOT_ALREADY_ENDED")
        slot.extended_minutes += minutes
    elif action == "skip":
        if slot.actual_started_at is not None:
            raise Conflict(
                "A slot that has started cannot be skipped.", code="SLOT_ALREADY_STARTED"
            )
        slot.skipped = True
    else:
        slot.skipped = False
    slot.updated_at = now
    event.updated_at = now
    await live.record(db, event.id, "running", await _live_order(db, event, now=now), now=now)
    return slot


async def _live_order(db: AsyncSession, event: Event, *, now: dt.datetime) -> dict[str, Any]:
    """The running order as the live channel sends it: what ``GET .../running-order`` shows
    that a moderator's action can change (statuses and estimates)."""
    slots = await event_slots(db, event.id)
    by_position = {e.position: e for e in estimates(slots, now=now)}
    return {
        "event_status": event.status,
        "slots": [
            {
                "id": s.id,
                "position": s.position,
                "status": by_position[s.position].status,
                "estimated_start": _iso(by_position[s.position].estimated_start),
                "estimated_end": _iso(by_position[s.position].estimated_end),
                "drift_minutes": by_position[s.position].drift_minutes,
            }
            for s in slots
        ],
    }


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
