"""Arrivals: attendees following their Join link, and people checked in at a hub's door.

Invariants:
- Only the coordinators of a hub (and organisers) see its registrations or check anyone in.
- A registration is checked in at most once: ``checked_in_at`` is set once, under a lock on the
  registration row, and the same transaction records the one ``checkin`` attendance interval.
- A check-in code (printed as a QR code on the attendee's personal page) is the registration id
  and an HMAC of it with the service's secret, so codes cannot be forged or guessed; it names
  nothing else and never expires.
- ``join_clicked_at`` keeps the first click on the Join link; only confirmed places join.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from internet10.errors import Conflict, Forbidden, NotAuthenticated, NotFound, ValidationFailed
from internet10.models import (
    AttendanceInterval,
    Event,
    EventKind,
    EventStatus,
    Registration,
    RegistrationStatus,
)
from internet10.services import registration as registrations
from internet10.services.auth import Principal

CODE_PREFIX = "I10"
MAC_CHARS = 20
SEARCH_LIMIT = 30
_CODE = re.compile(rf"^{CODE_PREFIX}-([0-9]{{1,10}})-([0-9a-fA-F]{{{MAC_CHARS}}})$")


def _mac(secret: str, registration_id: int) -> str:
    digest = hmac.new(
        secret.encode("utf-8"), f"checkin:{registration_id}".encode(), hashlib.sha256
    ).hexdigest()
    return digest[:MAC_CHARS]


def checkin_code(secret: str, registration_id: int) -> str:
    """``I10-<id>-<MAC>``, upper case so a QR code can use its compact alphanumeric mode."""
    return f"{CODE_PREFIX}-{registration_id}-{_mac(secret, registration_id).upper()}"


def registration_of_code(secret: str, code: str) -> int:
    """The registration id a check-in code names; a malformed or forged code is a 422."""
    match = _CODE.match(code.strip().upper())
    if match is None:
        raise ValidationFailed("This is not an Internet10 check-in code.", field="code")
    registration_id = int(match.group(1))
    expected = _mac(secret, registration_id)
    if not hmac.compare_digest(expected.encode(), match.group(2).lower().encode()):
        raise ValidationFailed("This check-in code is not valid.", field="code")
    return registration_id


def require_coordinator(principal: Principal | None, hub_id: int) -> Principal:
    if principal is None:
        raise NotAuthenticated("Sign in to check people in.")
    if not principal.coordinates(hub_id):
        raise Forbidden("Only this hub's coordinators and the organisers check people in.")
    return principal


async def _hub(db: AsyncSession, principal: Principal | None, hub_id: int) -> Event:
    require_coordinator(principal, hub_id)
    hub = await db.get(Event, hub_id)
    if hub is None or hub.kind != EventKind.HUB.value:
        raise NotFound(f"No hub with id {hub_id}.")
    return hub


def folded(text: str) -> str:
    """Case- and accent-insensitive form: ``"Adéla ÇAKIR"`` -> ``"adela cakir"``."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


@dataclass(frozen=True)
class Board:
    """What the door sees: the hub, its room's figures and the people matching a search."""

    hub: Event
    in_person_confirmed: int
    checked_in: int
    results: Sequence[Registration]
    shown: Registration | None


async def board(
    db: AsyncSession,
    principal: Principal | None,
    hub_id: int,
    *,
    query: str = "",
    shown_id: int | None = None,
) -> Board:
    """Search the hub's places (not cancelled) by name or e-mail, every word matching, case and
    accents ignored; in-person places first. ``shown_id`` picks one registration of this hub
    to report on (the one just checked in)."""
    hub = await _hub(db, principal, hub_id)
    counts = await db.execute(
        select(
            func.count().filter(
                Registration.mode == "in_person",
                Registration.status == RegistrationStatus.CONFIRMED.value,
            ),
            func.count().filter(Registration.checked_in_at.is_not(None)),
        ).where(Registration.event_id == hub.id)
    )
    in_person_confirmed, checked_in = counts.one()
    words = folded(query).split()
    results: list[Registration] = []
    if words:
        rows = await db.scalars(
            select(Registration).where(
                Registration.event_id == hub.id,
                Registration.status != RegistrationStatus.CANCELLED.value,
            )
        )
        for row in rows:
            haystack = f"{folded(row.name)} {row.email}"
            if all(word in haystack for word in words):
                results.append(row)
        results.sort(key=lambda r: (r.mode != "in_person", folded(r.name), r.id))
    shown = None
    if shown_id is not None:
        shown = await db.get(Registration, shown_id)
        if shown is not None and shown.event_id != hub.id:
            shown = None
    return Board(
        hub=hub,
        in_person_confirmed=int(in_person_confirmed or 0),
        checked_in=int(checked_in or 0),
        results=results[:SEARCH_LIMIT],
        shown=shown,
    )


@dataclass(frozen=True)
class CheckIn:
    registration: Registration
    already: bool  # checked in earlier: nothing was changed


async def _mark(db: AsyncSession, registration: Registration, *, now: dt.datetime) -> CheckIn:
    if registration.status == RegistrationStatus.CANCELLED.value:
        raise Conflict("This registration is cancelled.", code="REGISTRATION_CANCELLED")
    if registration.status == RegistrationStatus.WAITLISTED.value:
        raise Conflict("This person is on the waitlist.", code="REGISTRATION_WAITLISTED")
    if registration.checked_in_at is not None:
        return CheckIn(registration, already=True)
    registration.checked_in_at = now
    registration.updated_at = now
    db.add(
        AttendanceInterval(
            event_id=registration.event_id,
            registration_id=registration.id,
            source="checkin",
            participant_key=f"registration:{registration.id}",
            name=registration.name,
            email=registration.email,
            joined_at=now,
            left_at=None,
            created_at=now,
        )
    )
    await db.flush()
    return CheckIn(registration, already=False)


async def check_in(
    db: AsyncSession,
    principal: Principal | None,
    hub_id: int,
    registration_id: int,
    *,
    now: dt.datetime,
) -> CheckIn:
    """Check a confirmed place of this hub in; checking in twice changes nothing."""
    hub = await _hub(db, principal, hub_id)
    if hub.status == EventStatus.CANCELLED.value:
        raise Conflict("This hub is cancelled.", code="EVENT_CANCELLED")
    registration = await db.scalar(
        select(Registration)
        .where(Registration.id == registration_id, Registration.event_id == hub.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if registration is None:
        raise NotFound(f"No registration with id {registration_id} at this hub.")
    return await _mark(db, registration, now=now)


async def check_in_by_code(
    db: AsyncSession,
    principal: Principal | None,
    hub_id: int,
    code: str,
    *,
    secret: str,
    now: dt.datetime,
) -> CheckIn:
    """Check in the place a code names (typed, or scanned by a reader that types it)."""
    require_coordinator(principal, hub_id)
    return await check_in(db, principal, hub_id, registration_of_code(secret, code), now=now)


async def walk_in(
    db: AsyncSession,
    principal: Principal | None,
    hub_id: int,
    applicant: registrations.Applicant,
    *,
    now: dt.datetime,
) -> CheckIn:
    """Register someone at the door for a seat in the room and check them in, while seats
    remain (the hub's row is locked, so two doors never give the last seat twice)."""
    require_coordinator(principal, hub_id)
    hub = await registrations.lock_open_event(db, hub_id)
    if hub.kind != EventKind.HUB.value:
        raise NotFound(f"No hub with id {hub_id}.")
    seats = hub.seats or 0
    if seats == 0:
        raise Conflict("This hub has no seats in a room.", code="NO_SEATS")
    if await registrations.confirmed_count(db, hub.id, "in_person") >= seats:
        raise Conflict("Every seat in the room is taken.", code="HUB_FULL")
    done = await registrations.register(db, hub, replace(applicant, mode="in_person"), now=now)
    return await _mark(db, done.registration, now=now)


@dataclass(frozen=True)
class Join:
    """The outcome of a click on the Join link. ``refused`` says why the holder cannot join
    (``"waitlisted"``, ``"cancelled"``, ``"event-cancelled"``, ``"event-ended"``), else
    ``None``; ``join_url`` is ``None`` until the meeting link is ready."""

    registration: Registration
    event: Event
    refused: str | None
    waitlist_position: int | None
    join_url: str | None


async def join(db: AsyncSession, token: str, *, now: dt.datetime) -> Join:
    """Follow a personal Join link: a confirmed place records its first click."""
    registration = await registrations.by_token(db, token)
    event = await db.get(Event, registration.event_id)
    assert event is not None  # a registration's event is never deleted
    refused: str | None = None
    if event.status == EventStatus.CANCELLED.value:
        refused = "event-cancelled"
    elif event.status == EventStatus.ENDED.value:
        refused = "event-ended"
    elif registration.status == RegistrationStatus.CANCELLED.value:
        refused = "cancelled"
    elif registration.status == RegistrationStatus.WAITLISTED.value:
        refused = "waitlisted"
    position = await registrations.waitlist_position(db, registration)
    if refused is not None:
        return Join(registration, event, refused, position, None)
    if registration.join_clicked_at is None:
        # Conditional, so two clicks at once still keep the first.
        await db.execute(
            update(Registration)
            .where(Registration.id == registration.id, Registration.join_clicked_at.is_(None))
            .values(join_clicked_at=now, updated_at=now)
        )
    url = registration.join_url
    if url is not None and not followable(url):
        url = None  # only a meeting address is followed, never a script or another scheme
    return Join(registration, event, None, None, url)


LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def followable(url: str) -> bool:
    """A join address we redirect to: https, or plain http on loopback (the demo's stand-in)."""
    parts = urlsplit(url)
    return parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOOPBACK)
