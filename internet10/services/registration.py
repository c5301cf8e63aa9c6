"""Registration: exact capacity under bursts, a waitlist in arrival order, cancellation with
promotion, personal links.

Invariants:
- Capacity check and insert happen in one transaction that first locks the event row
  (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` already serialises
  writers), so confirmed registrations never exceed the capacity, whatever the concurrency.
- For hubs, in-person seats (``Event.seats``) and online places (``Event.capacity``) are counted
  and waitlisted separately.
- One registration per e-mail per event (a unique constraint backs the check).
- Personal-link tokens have 256 bits, are stored hashed, and may be many per registration (each
  mail carries a fresh one); revoking a registration's links revokes them all.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from internet10 import metrics
from internet10.errors import Conflict, Forbidden, NotAuthenticated, NotFound, ValidationFailed
from internet10.models import (
    Chapter,
    Event,
    EventKind,
    EventStatus,
    Registration,
    RegistrationLink,
    RegistrationStatus,
)
from internet10.security import hash_token, new_token
from internet10.services import meetings, reminders
from internet10.services.auth import Principal, normalise_email, require_organiser
from internet10.services.outbox import enqueue

OPEN_STATUSES = (EventStatus.PUBLISHED.value, EventStatus.LIVE.value)
ACTIVE = (RegistrationStatus.CONFIRMED.value, RegistrationStatus.WAITLISTED.value)


@dataclass(frozen=True)
class Applicant:
    name: str
    email: str
    country: str
    language: str
    mode: str = "online"
    chapter_code: str | None = None


@dataclass(frozen=True)
class Registered:
    registration: Registration
    access_token: str
    waitlist_position: int | None


class AlreadyRegistered(Conflict):
    code = "ALREADY_REGISTERED"


async def lock_open_event(db: AsyncSession, event_id: int) -> Event:
    event = await db.scalar(select(Event).where(Event.id == event_id).with_for_update())
    if event is None or event.status == EventStatus.DRAFT.value:
        raise NotFound(f"No event with id {event_id}.")
    if event.status not in OPEN_STATUSES:
        raise Conflict(
            f"The event is {event.status}: registration is closed.", code="REGISTRATION_CLOSED"
        )
    return event


def places(event: Event, mode: str) -> int:
    if mode == "in_person":
        return event.seats or 0
    return event.capacity


async def confirmed_count(db: AsyncSession, event_id: int, mode: str) -> int:
    count = await db.scalar(
        select(func.count())
        .select_from(Registration)
        .where(
            Registration.event_id == event_id,
            Registration.mode == mode,
            Registration.status == RegistrationStatus.CONFIRMED.value,
        )
    )
    return int(count or 0)


async def waitlist_position(db: AsyncSession, registration: Registration) -> int | None:
    """1-based place in the waitlist of the same event and mode; ``None`` when not waitlisted."""
    if registration.status != RegistrationStatus.WAITLISTED.value:
        return None
    ahead = await db.scalar(
        select(func.count())
        .select_from(Registration)
        .where(
            Registration.event_id == registration.event_id,
            Registration.mode == registration.mode,
            Registration.status == RegistrationStatus.WAITLISTED.value,
            Registration.id < registration.id,
        )
    )
    return int(ahead or 0) + 1


async def issue_link(db: AsyncSession, registration_id: int, *, now: dt.datetime) -> str:
    token = new_token()
    db.add(
        RegistrationLink(
            registration_id=registration_id, token_hash=hash_token(token), created_at=now
        )
    )
    await db.flush()
    return token


async def _notify(
    db: AsyncSession, registration: Registration, kind: str, *, now: dt.datetime, once: bool = True
) -> None:
    """Enqueue a mail about this registration (``kind`` names the template)."""
    await enqueue(
        db,
        "registration.mail",
        {"registration_id": registration.id, "kind": kind},
        now=now,
        dedupe_key=f"registration.mail:{kind}:{registration.id}" if once else None,
    )


async def register(
    db: AsyncSession, event: Event, applicant: Applicant, *, now: dt.datetime
) -> Registered:
    """Register on an event the caller has locked with :func:`lock_open_event`."""
    email = normalise_email(applicant.email)
    mode = applicant.mode
    if mode == "in_person" and event.kind != EventKind.HUB.value:
        raise ValidationFailed("Only hubs have seats in a room.", field="mode")
    if mode == "in_person" and not event.seats:
        raise ValidationFailed("This hub has no seats to book in the room.", field="mode")
    chapter_id: int | None = None
    if applicant.chapter_code:
        chapter_id = await db.scalar(
            select(Chapter.id).where(Chapter.code == applicant.chapter_code.upper())
        )
        if chapter_id is None:
            raise ValidationFailed(
                f"No chapter with code {applicant.chapter_code!r}.", field="chapter"
            )
    existing = await db.scalar(
        select(Registration).where(Registration.event_id == event.id, Registration.email == email)
    )
    if existing is not None:
        raise AlreadyRegistered(
            "This e-mail address is already registered; its personal link has been e-mailed "
            "to it again."
        )
    taken = await confirmed_count(db, event.id, mode)
    status = (
        RegistrationStatus.CONFIRMED
        if taken < places(event, mode)
        else RegistrationStatus.WAITLISTED
    )
    registration = Registration(
        event_id=event.id,
        name=applicant.name,
        email=email,
        country=applicant.country.upper(),
        language=applicant.language,
        chapter_id=chapter_id,
        mode=mode,
        status=status.value,
        created_at=now,
        updated_at=now,
    )
    try:
        async with db.begin_nested():
            db.add(registration)
            await db.flush()
    except IntegrityError:
        raise AlreadyRegistered(
            "This e-mail address is already registered; its personal link has been e-mailed "
            "to it again."
        ) from None
    metrics.after_commit(db, metrics.REGISTRATIONS.labels(status=status.value).inc)
    token = await issue_link(db, registration.id, now=now)
    await _notify(db, registration, status.value, now=now)
    await reminders.schedule(db, registration, event, now=now)
    if status is RegistrationStatus.CONFIRMED:
        await meetings.request_registrant_sync(db, registration, event, now=now)
    return Registered(registration, token, await waitlist_position(db, registration))


async def resend_link(db: AsyncSession, event_id: int, email: str, *, now: dt.datetime) -> None:
    """Mail the personal link again (a fresh one) to an address already registered.

    Runs in its own transaction after an ALREADY_REGISTERED refusal; at most one such mail per
    registration per hour, so the form cannot be used to flood someone's inbox."""
    registration = await db.scalar(
        select(Registration).where(
            Registration.event_id == event_id, Registration.email == normalise_email(email)
        )
    )
    if registration is None:
        return
    hour = now.strftime("%Y%m%d%H")
    await enqueue(
        db,
        "registration.mail",
        {"registration_id": registration.id, "kind": "link"},
        now=now,
        dedupe_key=f"registration.mail:link:{registration.id}:{hour}",
    )


async def by_token(db: AsyncSession, token: str) -> Registration:
    """The registration a personal link opens; unknown and revoked links are refused alike."""
    if not token or len(token) > 200:
        raise NotAuthenticated("This personal link is not valid.")
    row = await db.execute(
        select(Registration)
        .join(RegistrationLink, RegistrationLink.registration_id == Registration.id)
        .where(
            RegistrationLink.token_hash == hash_token(token),
            RegistrationLink.revoked_at.is_(None),
        )
    )
    registration = row.scalar_one_or_none()
    if registration is None:
        raise NotAuthenticated("This personal link is not valid.")
    return registration


async def _promote(db: AsyncSession, event: Event, mode: str, *, now: dt.datetime) -> list[int]:
    """Fill free places from the waitlist, first come first served."""
    promoted: list[int] = []
    free = places(event, mode) - await confirmed_count(db, event.id, mode)
    if free <= 0:
        return promoted
    waiting = (
        await db.scalars(
            select(Registration)
            .where(
                Registration.event_id == event.id,
                Registration.mode == mode,
                Registration.status == RegistrationStatus.WAITLISTED.value,
            )
            .order_by(Registration.id)
            .limit(free)
        )
    ).all()
    for registration in waiting:
        registration.status = RegistrationStatus.CONFIRMED.value
        registration.promoted_at = now
        registration.updated_at = now
        promoted.append(registration.id)
        await _notify(db, registration, "promoted", now=now)
        await reminders.schedule(db, registration, event, now=now)
        await meetings.request_registrant_sync(db, registration, event, now=now)
    return promoted


async def _locked_registration(
    db: AsyncSession, registration_id: int
) -> tuple[Registration, Event]:
    registration = await db.get(Registration, registration_id)
    if registration is None:
        raise NotFound(f"No registration with id {registration_id}.")
    event = await db.scalar(
        select(Event).where(Event.id == registration.event_id).with_for_update()
    )
    assert event is not None
    await db.refresh(registration)  # re-read after the lock: another cancel may have won
    return registration, event


async def cancel(
    db: AsyncSession,
    registration_id: int,
    *,
    now: dt.datetime,
    token: str | None = None,
    principal: Principal | None = None,
) -> list[int]:
    """Cancel a place (its holder, by personal link; or an organiser) and promote the first
    waitlisted people into the freed places. Returns the ids promoted. Cancelling twice is
    harmless."""
    if token is not None:
        holder = await by_token(db, token)
        if holder.id != registration_id:
            raise Forbidden("This personal link belongs to another registration.")
    elif principal is None:
        raise NotAuthenticated("Use your personal link, or sign in as an organiser.")
    else:
        require_organiser(principal)
    registration, event = await _locked_registration(db, registration_id)
    if registration.status == RegistrationStatus.CANCELLED.value:
        return []
    registration.status = RegistrationStatus.CANCELLED.value
    registration.cancelled_at = now
    registration.updated_at = now
    await db.flush()
    await _notify(db, registration, "cancelled", now=now)
    if registration.zoom_registrant_id is not None:
        await meetings.request_registrant_sync(db, registration, event, now=now)
    if event.status in OPEN_STATUSES:
        return await _promote(db, event, registration.mode, now=now)
    return []


async def restore(
    db: AsyncSession, principal: Principal | None, registration_id: int, *, now: dt.datetime
) -> Registration:
    """Give a cancelled registration its place back if one is free, else the waitlist's end."""
    require_organiser(principal)
    registration, event = await _locked_registration(db, registration_id)
    if registration.status != RegistrationStatus.CANCELLED.value:
        raise Conflict("This registration is not cancelled.", code="NOT_CANCELLED")
    taken = await confirmed_count(db, event.id, registration.mode)
    registration.status = (
        RegistrationStatus.CONFIRMED.value
        if taken < places(event, registration.mode)
        else RegistrationStatus.WAITLISTED.value
    )
    registration.cancelled_at = None
    registration.updated_at = now
    await _notify(db, registration, registration.status, now=now, once=False)
    await reminders.schedule(db, registration, event, now=now)
    await meetings.request_registrant_sync(db, registration, event, now=now)
    return registration


async def revoke_links(db: AsyncSession, registration: Registration, *, now: dt.datetime) -> None:
    await db.execute(
        update(RegistrationLink)
        .where(
            RegistrationLink.registration_id == registration.id,
            RegistrationLink.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )


@dataclass(frozen=True)
class Summary:
    capacity: int
    confirmed: int
    waitlisted: int
    cancelled: int
    seats: int | None
    in_person_confirmed: int


async def summary(db: AsyncSession, principal: Principal | None, event_id: int) -> Summary:
    require_organiser(principal)
    event = await db.get(Event, event_id)
    if event is None:
        raise NotFound(f"No event with id {event_id}.")
    rows = await db.execute(
        select(Registration.status, Registration.mode, func.count())
        .where(Registration.event_id == event_id)
        .group_by(Registration.status, Registration.mode)
    )
    counts = {(status, mode): int(n) for status, mode, n in rows}

    def total(status: RegistrationStatus) -> int:
        return sum(n for (s, _m), n in counts.items() if s == status.value)

    return Summary(
        capacity=event.capacity,
        confirmed=total(RegistrationStatus.CONFIRMED),
        waitlisted=total(RegistrationStatus.WAITLISTED),
        cancelled=total(RegistrationStatus.CANCELLED),
        seats=event.seats,
        in_person_confirmed=counts.get((RegistrationStatus.CONFIRMED.value, "in_person"), 0),
    )


async def registrations_of(
    db: AsyncSession, principal: Principal | None, event_id: int
) -> Sequence[Registration]:
    require_organiser(principal)
    return (
        await db.scalars(
            select(Registration).where(Registration.event_id == event_id).order_by(Registration.id)
        )
    ).all()


async def visible_registration(
    db: AsyncSession,
    registration_id: int,
    *,
    attendee: Registration | None,
    principal: Principal | None,
) -> Registration:
    """A registration as its holder or an organiser may see it; to others it does not exist."""
    if attendee is not None:
        if attendee.id != registration_id:
            raise Forbidden("This personal link belongs to another registration.")
        return attendee
    require_organiser(principal)
    registration = await db.get(Registration, registration_id)
    if registration is None:
        raise NotFound(f"No registration with id {registration_id}.")
    return registration


async def replace_links(
    db: AsyncSession,
    registration_id: int,
    *,
    now: dt.datetime,
    holder: Registration | None = None,
    principal: Principal | None = None,
) -> None:
    """Revoke every personal link of a registration (a link leaked, a phone was lost) and mail
    a fresh one to its address. Its holder or an organiser may."""
    if holder is not None:
        if holder.id != registration_id:
            raise Forbidden("This personal link belongs to another registration.")
    else:
        require_organiser(principal)
    registration = await db.get(Registration, registration_id)
    if registration is None:
        raise NotFound(f"No registration with id {registration_id}.")
    await revoke_links(db, registration, now=now)
    await enqueue(
        db,
        "registration.mail",
        {"registration_id": registration.id, "kind": "link"},
        now=now,
        dedupe_key=f"registration.mail:link:{registration.id}:revoked:{now.isoformat()}",
    )
