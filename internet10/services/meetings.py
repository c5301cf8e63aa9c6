"""Online meetings for events: one meeting per published event, one personal join link per
confirmed online registration, and the participants report read after the meeting.

The database says what should exist; jobs make the provider agree. Every job reads the current
state, calls the provider outside any transaction (a slow provider must never hold a database
lock), then records the outcome after re-reading under a lock. So each job is idempotent and any
number of them, in any order, converge:

- ``meeting.sync`` (enqueued when an event is published, its time, duration, time zone or title
  changes, or it is cancelled): creates the meeting if there is none, updates it if the settings
  sent last differ (``meeting_spec_digest``: Zoom allows 100 creates/updates per host per day),
  deletes it when the event is cancelled. After a create it enqueues ``meeting.registrant`` for
  every confirmed online registration still without a personal link, and, when the event has a
  YouTube stream, ``youtube.handoff`` (see ``livestreams``).
- ``meeting.registrant`` (enqueued when a registration is confirmed, promoted, restored or
  cancelled, once the event has a meeting): adds the registrant, or cancels them.
- ``meeting.reconcile`` (enqueued after ``meeting.ended``): reads the participants report and
  fills the attendance webhooks missed (see ``attendance.apply_report``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from integrations.zoom import MeetingProvider, MeetingSpec
from internet10.db import Database
from internet10.errors import Conflict
from internet10.models import (
    Event,
    EventStatus,
    Registration,
    RegistrationStatus,
    Role,
    RoleGrant,
    User,
)
from internet10.services import attendance, attendance_figures, livestreams
from internet10.services.outbox import enqueue

log = logging.getLogger(__name__)

SYNC_JOB = "meeting.sync"
REGISTRANT_JOB = "meeting.registrant"
RECONCILE_JOB = attendance.RECONCILE_JOB
MAX_ATTEMPTS = 25  # provider jobs: an outage must not exhaust them (see jobs.handlers' gate)
LIVE_STATUSES = (EventStatus.PUBLISHED.value, EventStatus.LIVE.value)

Overflow = Literal["none", "livestream"]


@dataclass(frozen=True)
class MeetingPolicy:
    """What the deployment offers: whether events get online meetings, and how many people one
    meeting host holds (a Zoom Pro host 100, Business 300, large-meeting add-ons 500/1000)."""

    enabled: bool
    host_capacity: int


def expected_people(event: Event) -> int:
    return max(event.capacity, event.participant_target)


def capacity_warning(event: Event, policy: MeetingPolicy) -> str | None:
    """The warning an organiser must see before publishing, or None."""
    if not policy.enabled or expected_people(event) <= policy.host_capacity:
        return None
    return (
        f"This event expects up to {expected_people(event)} people but one meeting host holds "
        f"{policy.host_capacity} (INTERNET10_ZOOM_HOST_CAPACITY). 150 people need a Business "
        "host or a large-meeting add-on. Publish with overflow 'livestream' to send the people "
        "beyond capacity to a YouTube livestream, or 'none' to publish as it is."
    )


def check_publish(event: Event, policy: MeetingPolicy, overflow: Overflow | None) -> None:
    """Refuse to publish past the host's capacity until the organiser has chosen an overflow."""
    warning = capacity_warning(event, policy)
    if warning is not None and overflow is None:
        raise Conflict(warning, code="HOST_CAPACITY", field="overflow")
    if overflow is not None:
        event.overflow_livestream = overflow == "livestream"


# -- enqueueing (inside the caller's transaction) -------------------------------------------------


async def request_sync(db: AsyncSession, event: Event, *, now: dt.datetime) -> None:
    await enqueue(
        db,
        SYNC_JOB,
        {"event_id": event.id},
        now=now,
        dedupe_key=f"{SYNC_JOB}:{event.id}:{event.sequence}",
        max_attempts=MAX_ATTEMPTS,
    )


async def request_registrant_sync(
    db: AsyncSession, registration: Registration, event: Event, *, now: dt.datetime
) -> None:
    """Ask for the registration's personal link to be added or cancelled; nothing to do while
    the event has no meeting (its creation enqueues the links)."""
    if event.meeting_id is None:
        return
    await enqueue(
        db, REGISTRANT_JOB, {"registration_id": registration.id}, now=now, max_attempts=MAX_ATTEMPTS
    )


# -- the meeting ------------------------------------------------------------------------------


async def _moderator_emails(db: AsyncSession, event_id: int) -> tuple[str, ...]:
    rows = await db.scalars(
        select(User.email)
        .join(RoleGrant, RoleGrant.user_id == User.id)
        .where(
            RoleGrant.role == Role.MODERATOR.value,
            RoleGrant.event_id == event_id,
            User.is_active.is_(True),
        )
        .order_by(User.email)
        .distinct()
    )
    return tuple(rows.all())


def spec_for(event: Event, alternative_hosts: tuple[str, ...]) -> MeetingSpec:
    return MeetingSpec(
        topic=event.title,
        starts_at=event.starts_at,
        duration_minutes=event.duration_minutes,
        timezone=event.timezone,
        alternative_hosts=alternative_hosts,
        waiting_room=True,
    )


def spec_digest(spec: MeetingSpec) -> str:
    shape = {
        "topic": spec.topic,
        "starts_at": spec.starts_at.astimezone(dt.UTC).isoformat(),
        "duration": spec.duration_minutes,
        "timezone": spec.timezone,
        "hosts": list(spec.alternative_hosts),
        "waiting_room": spec.waiting_room,
    }
    return hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()


async def _locked_event(db: AsyncSession, event_id: int) -> Event | None:
    return await db.scalar(select(Event).where(Event.id == event_id).with_for_update())


async def _enqueue_missing_links(db: AsyncSession, event: Event, *, now: dt.datetime) -> int:
    rows = (
        await db.scalars(
            select(Registration).where(
                Registration.event_id == event.id,
                Registration.status == RegistrationStatus.CONFIRMED.value,
                Registration.mode == "online",
                Registration.zoom_registrant_id.is_(None),
            )
        )
    ).all()
    for registration in rows:
        await request_registrant_sync(db, registration, event, now=now)
    return len(rows)


async def sync_meeting(
    database: Database, provider: MeetingProvider, event_id: int, *, now: dt.datetime
) -> str:
    """Make the provider's meeting match the event. Returns what was done (for logs and tests):
    ``created``, ``updated``, ``deleted`` or ``unchanged``."""
    async with database.read() as db:
        event = await db.get(Event, event_id)
        if event is None:
            return "unchanged"
        status, meeting_id = event.status, event.meeting_id
        spec = spec_for(event, await _moderator_emails(db, event_id))
        sent = event.meeting_spec_digest
    digest = spec_digest(spec)

    if status == EventStatus.CANCELLED.value:
        if meeting_id is None:
            return "unchanged"
        await provider.delete_meeting(meeting_id)
        async with database.write() as db:
            event = await _locked_event(db, event_id)
            if event is not None and event.meeting_id == meeting_id:
                event.meeting_id = event.meeting_join_url = event.meeting_start_url = None
                event.meeting_spec_digest = None
        return "deleted"
    if status not in LIVE_STATUSES:
        return "unchanged"  # a draft has no meeting yet; an ended one keeps its record

    if meeting_id is None:
        meeting = await provider.create_meeting(spec)
        orphan = None
        async with database.write() as db:
            event = await _locked_event(db, event_id)
            if event is None or event.meeting_id is not None or event.status not in LIVE_STATUSES:
                orphan = meeting.provider_id  # cancelled meanwhile, or another job won the race
            else:
                event.meeting_id = meeting.provider_id
                event.meeting_uuid = meeting.uuid
                event.meeting_join_url = meeting.join_url
                event.meeting_start_url = meeting.start_url
                event.meeting_spec_digest = digest
                queued = await _enqueue_missing_links(db, event, now=now)
                await livestreams.request_handoff(db, event, now=now)
                log.info(
                    "meeting %s for event %s; %d links queued",
                    meeting.provider_id,
                    event_id,
                    queued,
                )
        if orphan is not None:
            await provider.delete_meeting(orphan)
            return "unchanged"
        return "created"

    if digest == sent:
        return "unchanged"
    await provider.update_meeting(meeting_id, spec)
    async with database.write() as db:
        event = await _locked_event(db, event_id)
        if event is not None and event.meeting_id == meeting_id:
            event.meeting_spec_digest = digest
    return "updated"


# -- personal links ---------------------------------------------------------------------------


def _wants_link(registration: Registration, event: Event) -> bool:
    return (
        registration.status == RegistrationStatus.CONFIRMED.value
        and registration.mode == "online"
        and event.status in LIVE_STATUSES
    )


async def sync_registrant(
    database: Database,
    provider: MeetingProvider,
    registration_id: int,
    *,
    now: dt.datetime,
) -> str:
    """Make the provider's registrant match the registration: ``added``, ``cancelled`` or
    ``unchanged``."""
    async with database.read() as db:
        registration = await db.get(Registration, registration_id)
        if registration is None:
            return "unchanged"
        event = await db.get(Event, registration.event_id)
        assert event is not None
        meeting_id, registrant_id = event.meeting_id, registration.zoom_registrant_id
        wants = _wants_link(registration, event)
        email, name = registration.email, registration.name
        event_cancelled = event.status == EventStatus.CANCELLED.value
    if meeting_id is None or event_cancelled:
        return "unchanged"  # no meeting yet (its creation queues the links), or deleted
    if wants and registrant_id is None:
        # The whole name as the first name: splitting names is wrong for many of our people.
        added = await provider.add_registrant(meeting_id, email, name, "")
        async with database.write() as db:
            registration = await db.get(Registration, registration_id, with_for_update=True)
            event = await db.get(Event, registration.event_id) if registration else None
            if registration is None or event is None or event.meeting_id != meeting_id:
                return "unchanged"
            registration.zoom_registrant_id = added.provider_id
            registration.join_url = added.join_url
            registration.updated_at = now
            if not _wants_link(registration, event):  # cancelled while we were adding
                await request_registrant_sync(db, registration, event, now=now)
        return "added"
    if not wants and registrant_id is not None:
        await provider.cancel_registrant(meeting_id, registrant_id)
        async with database.write() as db:
            registration = await db.get(Registration, registration_id, with_for_update=True)
            if registration is not None and registration.zoom_registrant_id == registrant_id:
                registration.zoom_registrant_id = None
                registration.join_url = None
                registration.updated_at = now
        return "cancelled"
    return "unchanged"


# -- after the meeting --------------------------------------------------------------------------


async def reconcile(
    database: Database,
    provider: MeetingProvider,
    event_id: int,
    meeting_uuid: str,
    *,
    now: dt.datetime,
    min_minutes: float,
) -> int:
    """Read the participants report and add what webhooks missed. Returns the spans added."""
    participants = await provider.participants(meeting_uuid)
    async with database.write() as db:
        event = await _locked_event(db, event_id)
        if event is None:
            return 0
        added = await attendance.apply_report(db, event_id, participants, now=now)
        await attendance_figures.announce(db, event_id, now=now, min_minutes=min_minutes)
        return added
