"""Hubs: import the upstream event's agenda (.ics), keep the chosen sessions in the hub's local
time with night sessions flagged, and list the year's hubs."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from icalendar import Calendar
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from internet10.errors import Conflict, ValidationFailed
from internet10.models import Event, EventKind, HubSession
from internet10.services import google_sync
from internet10.services.auth import Principal, require_organiser
from internet10.services.events import PUBLIC_STATUSES, get_event
from internet10.services.google_sync import NO_GOOGLE, GooglePolicy
from scheduler.errors import SchedulingError
from scheduler.hubs import LocalSession, localise

MAX_ICS_BYTES = 2_000_000
MAX_SESSIONS = 2_000


@dataclass(frozen=True)
class UpstreamSession:
    uid: str
    title: str
    description: str
    local: LocalSession


def _as_datetime(value: object, field: str) -> dt.datetime:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ValidationFailed(
                f"{field} has a floating time (no time zone); the agenda must say its zone.",
                field="ics",
            )
        return value
    raise ValidationFailed(f"{field} is a whole day, not a timed session.", field="ics")


def parse_agenda(ics: bytes, hub_timezone: str) -> list[UpstreamSession]:
    """Read an upstream agenda. Whole-day entries are skipped; anything malformed is a 422."""
    if len(ics) > MAX_ICS_BYTES:
        raise ValidationFailed("The agenda file is larger than 2 MB.", field="ics")
    try:
        calendar = Calendar.from_ical(ics)
    except (ValueError, IndexError, KeyError, TypeError) as exc:
        raise ValidationFailed(f"Not an iCalendar file: {exc}"[:300], field="ics") from None
    sessions: list[UpstreamSession] = []
    for component in calendar.walk("VEVENT"):
        uid = str(component.get("uid", "")).strip()[:300]
        title = str(component.get("summary", "")).strip()[:300]
        if not uid or not title:
            raise ValidationFailed("Every session needs a UID and a SUMMARY.", field="ics")
        start_prop, end_prop = component.get("dtstart"), component.get("dtend")
        if start_prop is None:
            raise ValidationFailed(f"Session {uid!r} has no DTSTART.", field="ics")
        if not isinstance(start_prop.dt, dt.datetime):
            continue  # a whole-day entry ("IETF week") is not a session to retransmit
        start = _as_datetime(start_prop.dt, f"Session {uid!r} DTSTART")
        if end_prop is not None:
            end = _as_datetime(end_prop.dt, f"Session {uid!r} DTEND")
        elif component.get("duration") is not None:
            end = start + component.get("duration").dt
        else:
            raise ValidationFailed(f"Session {uid!r} has no DTEND or DURATION.", field="ics")
        try:
            local = localise(start, end, hub_timezone)
        except SchedulingError as exc:
            raise ValidationFailed(f"Session {uid!r}: {exc.message}", field="ics") from None
        description = str(component.get("description", "")).strip()[:5000]
        sessions.append(UpstreamSession(uid, title, description, local))
        if len(sessions) > MAX_SESSIONS:
            raise ValidationFailed("The agenda has more than 2,000 sessions.", field="ics")
    sessions.sort(key=lambda s: (s.local.starts_at, s.uid))
    return sessions


def require_importer(principal: Principal | None) -> Principal:
    """Who may preview and import a hub's upstream agenda: organisers. Edges check it before
    they read an upload or fetch an agenda's URL (a fetch is made on the caller's behalf)."""
    return require_organiser(principal)


async def _hub(db: AsyncSession, principal: Principal | None, hub_id: int) -> Event:
    require_importer(principal)
    hub = await db.scalar(select(Event).where(Event.id == hub_id).with_for_update())
    if hub is None:
        hub = await get_event(db, principal, hub_id)  # raises the 404
    if hub.kind != EventKind.HUB.value:
        raise Conflict("Only a hub retransmits upstream sessions.", code="NOT_A_HUB")
    return hub


async def preview(
    db: AsyncSession, principal: Principal | None, hub_id: int, ics: bytes
) -> list[UpstreamSession]:
    hub = await _hub(db, principal, hub_id)
    return parse_agenda(ics, hub.timezone)


async def import_sessions(
    db: AsyncSession,
    principal: Principal | None,
    hub_id: int,
    ics: bytes,
    *,
    uids: Collection[str] | None,
    now: dt.datetime,
    google: GooglePolicy = NO_GOOGLE,
) -> list[HubSession]:
    """Keep the chosen sessions (all when ``uids`` is None). Importing again updates them in
    place (same UID), so re-importing a revised agenda never duplicates a session."""
    hub = await _hub(db, principal, hub_id)
    sessions = parse_agenda(ics, hub.timezone)
    if uids is not None:
        known = {s.uid for s in sessions}
        unknown = sorted(set(uids) - known)
        if unknown:
            raise ValidationFailed(f"Unknown session UID {unknown[0]!r}.", field="uids")
        sessions = [s for s in sessions if s.uid in uids]
    existing = {
        s.uid: s
        for s in (await db.scalars(select(HubSession).where(HubSession.event_id == hub.id))).all()
    }
    kept: list[HubSession] = []
    for session in sessions:
        row = existing.get(session.uid)
        if row is None:
            row = HubSession(event_id=hub.id, uid=session.uid, created_at=now)
            db.add(row)
        row.title = session.title
        row.description = session.description
        row.starts_at = session.local.starts_at
        row.ends_at = session.local.ends_at
        row.at_night = session.local.at_night
        row.updated_at = now
        kept.append(row)
    if kept:
        hub.sequence += 1
        hub.updated_at = now
        await google_sync.programme_changed(db, hub, google, now=now)
    await db.flush()
    return kept


async def hub_sessions(db: AsyncSession, hub_id: int) -> Sequence[HubSession]:
    return (
        await db.scalars(
            select(HubSession)
            .where(HubSession.event_id == hub_id)
            .order_by(HubSession.starts_at, HubSession.id)
        )
    ).all()


@dataclass(frozen=True)
class HubOfTheYear:
    hub: Event
    sessions: Sequence[HubSession]


async def hubs_of_year(
    db: AsyncSession, principal: Principal | None, year: int
) -> list[HubOfTheYear]:
    start = dt.datetime(year, 1, 1, tzinfo=dt.UTC)
    end = dt.datetime(year + 1, 1, 1, tzinfo=dt.UTC)
    query = (
        select(Event)
        .where(Event.kind == EventKind.HUB.value, Event.starts_at >= start, Event.starts_at < end)
        .order_by(Event.starts_at, Event.id)
    )
    if principal is None or not principal.is_organiser:
        query = query.where(Event.status.in_(PUBLIC_STATUSES))
    hubs = (await db.scalars(query)).all()
    by_hub: dict[int, list[HubSession]] = {h.id: [] for h in hubs}
    if by_hub:
        rows = await db.scalars(
            select(HubSession)
            .where(HubSession.event_id.in_(by_hub))
            .order_by(HubSession.starts_at, HubSession.id)
        )
        for row in rows:
            by_hub[row.event_id].append(row)
    return [HubOfTheYear(h, by_hub[h.id]) for h in hubs]
