"""Reminders before an event: one 24 hours and one 1 hour before it starts, to confirmed people.

Each reminder is a ``registration.reminder`` job whose ``run_after`` is the moment it is due.
Invariants:
- At most one job per (registration, reminder): the dedupe key names both, and the event, so
  the reminders of one event can be found again when it moves.
- A reminder already due when it would be enqueued (a registration or promotion less than 24 h
  or 1 h before the start) is not enqueued: it would arrive late.
- The job decides at run time, on the event as it is then (see :func:`verdict`): an event moved
  later makes its reminders wait, a cancelled place or event makes them finish without mail.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from internet10.models import Event, EventStatus, Job, JobStatus, Registration, RegistrationStatus
from internet10.services.outbox import enqueue

KIND = "registration.reminder"
LEADS: dict[str, dt.timedelta] = {"24h": dt.timedelta(hours=24), "1h": dt.timedelta(hours=1)}
# A reminder run this much before it is due is sent anyway (workers poll; clocks drift).
EARLY_TOLERANCE = dt.timedelta(minutes=5)
OPEN_STATUSES = (EventStatus.PUBLISHED.value, EventStatus.LIVE.value)


def dedupe_key(event_id: int, registration_id: int, which: str) -> str:
    return f"{KIND}:{event_id}:{registration_id}:{which}"


async def schedule(
    db: AsyncSession, registration: Registration, event: Event, *, now: dt.datetime
) -> None:
    """Enqueue the reminders of a confirmed place; call in the transaction that confirmed it.

    Calling again (a promotion, a restore) adds nothing already enqueued."""
    if registration.status != RegistrationStatus.CONFIRMED.value:
        return
    for which, lead in LEADS.items():
        due = event.starts_at - lead
        if due <= now:
            continue
        await enqueue(
            db,
            KIND,
            {"registration_id": registration.id, "which": which},
            now=now,
            run_after=due,
            dedupe_key=dedupe_key(event.id, registration.id, which),
        )


async def reschedule(db: AsyncSession, event_id: int, *, now: dt.datetime) -> int:
    """Move the event's waiting reminders to its current start; returns how many moved.

    Called when the programme changed. A reminder whose new moment has passed is left to run
    at once, where :func:`verdict` decides whether it is still worth sending."""
    event = await db.get(Event, event_id)
    if event is None or event.status not in OPEN_STATUSES:
        return 0
    jobs = (
        await db.scalars(
            select(Job).where(
                Job.kind == KIND,
                Job.status == JobStatus.PENDING.value,
                Job.dedupe_key.startswith(f"{KIND}:{event_id}:", autoescape=True),
            )
        )
    ).all()
    moved = 0
    for job in jobs:
        lead = LEADS.get(str(job.payload.get("which")))
        if lead is None:
            continue
        due = max(event.starts_at - lead, now)
        if job.run_after != due:
            job.run_after = due
            job.updated_at = now
            moved += 1
    return moved


@dataclass(frozen=True)
class Verdict:
    action: Literal["send", "skip", "wait"]
    reason: str
    not_before: dt.datetime | None = None


def verdict(
    *,
    which: str,
    registration: Registration | None,
    event: Event | None,
    now: dt.datetime,
) -> Verdict:
    """Whether a reminder run at ``now`` is sent, skipped for good, or waits.

    Precedence: a gone or cancelled place or event, then an event already started, then a
    reminder run early (the event moved later), then the 24-hour reminder overtaken by the
    1-hour one (sending both at once says "in 24 hours" about an event an hour away)."""
    lead = LEADS[which]
    if registration is None:
        return Verdict("skip", "the registration no longer exists")
    if registration.status != RegistrationStatus.CONFIRMED.value:
        return Verdict("skip", f"the registration is {registration.status}")
    if event is None:
        return Verdict("skip", "the event no longer exists")
    if event.status not in OPEN_STATUSES:
        return Verdict("skip", f"the event is {event.status}")
    if now >= event.starts_at:
        return Verdict("skip", "the event has already started")
    due = event.starts_at - lead
    if now < due - EARLY_TOLERANCE:
        return Verdict("wait", f"the event moved: the {which} reminder is due at {due}", due)
    shorter = [other for other in LEADS.values() if other < lead]
    if any(now >= event.starts_at - other for other in shorter):
        return Verdict("skip", "a later reminder is already due")
    return Verdict("send", "due")
