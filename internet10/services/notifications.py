"""Who is told what, once: programme changes reach the affected delegates and the registrants.

A change enqueues one ``programme.changed`` job per (event, sequence); its handler enqueues one
``mail.send`` job per recipient with a dedupe key, so a recipient gets each notice once even if
the change is reported twice or a worker restarts mid-batch.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from internet10.i18n import translator
from internet10.models import (
    Chapter,
    Event,
    EventStatus,
    Registration,
    RegistrationStatus,
    Role,
    RoleGrant,
    Slot,
    User,
)
from internet10.services.outbox import enqueue

NOTIFIED_STATUSES = (EventStatus.PUBLISHED.value, EventStatus.LIVE.value)


async def programme_changed(
    db: AsyncSession, event: Event, *, chapter_ids: Collection[int] | None, now: dt.datetime
) -> None:
    """Call inside the transaction that changed the programme (after ``event.sequence`` rose).

    ``chapter_ids``: the chapters whose slots moved; ``None`` means every booked chapter (the
    whole programme moved). Drafts notify nobody: nobody was told anything yet.
    """
    if event.status not in (*NOTIFIED_STATUSES, EventStatus.CANCELLED.value):
        return
    await enqueue(
        db,
        "programme.changed",
        {
            "event_id": event.id,
            "sequence": event.sequence,
            "chapter_ids": None if chapter_ids is None else sorted(chapter_ids),
        },
        now=now,
        dedupe_key=f"programme.changed:{event.id}:{event.sequence}",
    )


@dataclass(frozen=True)
class Recipient:
    email: str
    name: str
    language: str


async def _slots(db: AsyncSession, event_id: int) -> list[Slot]:
    query = select(Slot).where(Slot.event_id == event_id).order_by(Slot.position)
    return list((await db.scalars(query)).all())


async def recipients(
    db: AsyncSession, event: Event, chapter_ids: Collection[int] | None
) -> list[Recipient]:
    """Delegates of the affected chapters, then every registrant still holding a place."""
    if chapter_ids is None:
        chapter_ids = {s.chapter_id for s in await _slots(db, event.id) if s.chapter_id}
    found: dict[str, Recipient] = {}
    if chapter_ids:
        delegates = await db.execute(
            select(User)
            .join(RoleGrant, RoleGrant.user_id == User.id)
            .where(
                RoleGrant.role == Role.DELEGATE.value,
                RoleGrant.chapter_id.in_(chapter_ids),
                User.is_active.is_(True),
            )
            .order_by(User.id)
        )
        for (user,) in delegates:
            found.setdefault(user.email, Recipient(user.email, user.name, user.language))
    registrants = await db.scalars(
        select(Registration)
        .where(
            Registration.event_id == event.id,
            Registration.status.in_(
                (RegistrationStatus.CONFIRMED.value, RegistrationStatus.WAITLISTED.value)
            ),
        )
        .order_by(Registration.id)
    )
    for reg in registrants:
        found.setdefault(reg.email, Recipient(reg.email, reg.name, reg.language))
    return list(found.values())


async def fan_out(
    db: AsyncSession,
    event_id: int,
    sequence: int,
    chapter_ids: Collection[int] | None,
    *,
    now: dt.datetime,
) -> int:
    """Enqueue one mail per recipient (once each); returns how many recipients there are."""
    event = await db.get(Event, event_id)
    if event is None:
        return 0
    people = await recipients(db, event, chapter_ids)
    for person in people:
        key = f"mail:programme:{event.id}:{sequence}:{person.email}"
        await enqueue(
            db,
            "mail.send",
            {
                "template": "programme_changed.txt",
                "event_id": event.id,
                "sequence": sequence,
                "to": person.email,
                "name": person.name,
                "language": person.language,
            },
            now=now,
            dedupe_key=key,
        )
    return len(people)


async def programme_lines(db: AsyncSession, event: Event, language: str) -> list[str]:
    """One line per slot, in the event's zone: "1. 13:15 ISOC Benin — title"."""
    zone = ZoneInfo(event.timezone)
    slots = await _slots(db, event.id)
    wanted = {s.chapter_id for s in slots if s.chapter_id}
    names = {
        c.id: c.name
        for c in (await db.scalars(select(Chapter).where(Chapter.id.in_(wanted)))).all()
    }
    _ = translator(language)
    lines = []
    for s in slots:
        who = names.get(s.chapter_id or -1, _("Open slot"))
        title = f" — {s.title}" if s.title else ""
        lines.append(f"{s.position}. {s.starts_at.astimezone(zone):%H:%M} {who}{title}")
    return lines
