"""What to write to an attendee about their registration, and whether to write at all.

The job handlers render and send a :class:`Letter`; these functions decide and gather. Every
letter that carries the personal link carries a fresh one, issued here inside the caller's write
transaction (only its hash is stored; no token ever sits in a job's payload).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from internet10.models import Event, EventStatus, Registration, RegistrationStatus
from internet10.services import calendar, registration, reminders

ICS_FILENAME = "internet10.ics"
ICS_CONTENT_TYPE = "text/calendar; method=PUBLISH"

# kind -> the status the registration must still have for the letter to be true when it leaves
# (None: any). A letter overtaken by events is dropped: the letter about the newer state follows.
KINDS: dict[str, str | None] = {
    "confirmed": RegistrationStatus.CONFIRMED.value,
    "waitlisted": RegistrationStatus.WAITLISTED.value,
    "promoted": RegistrationStatus.CONFIRMED.value,
    "cancelled": RegistrationStatus.CANCELLED.value,
    "link": None,
}
WITHOUT_LINK = frozenset({"cancelled"})  # a cancelled place has nothing left to open


class Undeliverable(Exception):
    """The letter can never be written: its registration or event is gone or cancelled."""


@dataclass(frozen=True)
class Letter:
    to: str
    language: str
    template: str
    key: str  # stable per logical message: a retried send keeps its Message-ID
    context: dict[str, Any]
    ics: bytes | None


@dataclass(frozen=True)
class NoLetter:
    reason: str


@dataclass(frozen=True)
class NotYet:
    reason: str
    not_before: dt.datetime


def personal_url(base_url: str, token: str) -> str:
    return f"{base_url}/me/{token}"


async def _context(
    db: AsyncSession,
    reg: Registration,
    event: Event,
    *,
    with_link: bool,
    base_url: str,
    now: dt.datetime,
) -> dict[str, Any]:
    url = None
    if with_link:
        url = personal_url(base_url, await registration.issue_link(db, reg.id, now=now))
    return {
        "name": reg.name,
        "title": event.title,
        "starts_at": event.starts_at,
        "zone": event.timezone,
        "venue": event.venue if reg.mode == "in_person" else None,
        "status": reg.status,
        "position": await registration.waitlist_position(db, reg),
        "url": url,
        "event_url": f"{base_url}/events/{event.id}",
    }


async def registration_letter(
    db: AsyncSession, registration_id: int, kind: str, *, base_url: str, now: dt.datetime
) -> Letter | NoLetter:
    """The letter a ``registration.mail`` job sends. Raises :class:`Undeliverable`."""
    if kind not in KINDS:
        raise Undeliverable(f"unknown registration mail kind {kind!r}")
    reg = await db.get(Registration, registration_id)
    if reg is None:
        raise Undeliverable(f"registration {registration_id} no longer exists")
    event = await db.get(Event, reg.event_id)
    if event is None:
        raise Undeliverable(f"event {reg.event_id} no longer exists")
    if event.status == EventStatus.CANCELLED.value:
        raise Undeliverable(f"event {event.id} is cancelled")
    wanted = KINDS[kind]
    if wanted is not None and reg.status != wanted:
        return NoLetter(f"registration {reg.id} is now {reg.status}; a newer letter follows")
    with_link = kind not in WITHOUT_LINK
    context = await _context(db, reg, event, with_link=with_link, base_url=base_url, now=now)
    ics = None
    if with_link:  # the calendar entry goes with letters about a place, not with a cancellation
        ics = await calendar.event_feed(db, None, event.id, base_url=base_url)
    return Letter(
        to=reg.email,
        language=reg.language,
        template=f"registration_{kind}.txt",
        key=f"registration-{kind}-{reg.id}",
        context=context,
        ics=ics,
    )


async def reminder_letter(
    db: AsyncSession, registration_id: int, which: str, *, base_url: str, now: dt.datetime
) -> Letter | NoLetter | NotYet:
    """The letter a ``registration.reminder`` job sends, if it is still due (see
    :func:`reminders.verdict`)."""
    if which not in reminders.LEADS:
        return NoLetter(f"unknown reminder {which!r}")
    reg = await db.get(Registration, registration_id)
    event = await db.get(Event, reg.event_id) if reg is not None else None
    decision = reminders.verdict(which=which, registration=reg, event=event, now=now)
    if decision.action == "skip":
        return NoLetter(decision.reason)
    if decision.action == "wait":
        assert decision.not_before is not None
        return NotYet(decision.reason, decision.not_before)
    assert reg is not None
    assert event is not None
    context = await _context(db, reg, event, with_link=True, base_url=base_url, now=now)
    context["which"] = which
    return Letter(
        to=reg.email,
        language=reg.language,
        template="reminder.txt",
        key=f"registration-reminder-{which}-{reg.id}",
        context=context,
        ics=await calendar.event_feed(db, None, event.id, base_url=base_url),
    )
