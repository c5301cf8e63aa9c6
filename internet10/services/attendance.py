"""Zoom webhook deliveries and the attendance intervals derived from them.

Intervals are derived state. A delivery is stored once (its digest, the SHA-256 of the raw body,
is unique) and never changed except for ``processed_at``; a participant's intervals are recomputed
from every stored delivery about them, ordered by the payload's own times, and replace that
participant's rows of source ``zoom``. So duplicated, late and out-of-order deliveries give the
same intervals as a clean sequence: the result depends only on the set of stored deliveries.

Interval rules (for one participant of one meeting, times after deduplication):
- sweep the distinct join, leave and meeting-end times in order; a join opens an interval when
  none is open (a second join while open is a missed leave: the person stays in, one interval);
- a leave, or the meeting's end, closes the open interval; a leave with nothing open is ignored
  (its join never arrived: the participants report fills that gap);
- at one instant, a close is applied before a join when an interval is open (leave and re-join
  in the same second give two intervals), after it otherwise (a zero-length visit);
- an interval still open after the last event has ``left_at`` None (the person is in the room).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from integrations.zoom import Participant
from internet10.models import AttendanceInterval, Event, Registration, WebhookDelivery
from internet10.services.outbox import enqueue

log = logging.getLogger(__name__)

PROVIDER = "zoom"
SOURCE = "zoom"
REPORT_SOURCE = "report"  # spans only the participants report knew of (see apply_report)
JOB_KIND = "zoom.webhook"
RECONCILE_JOB = "meeting.reconcile"
# Zoom's report of a meeting is complete a few minutes after it ends.
RECONCILE_DELAY = dt.timedelta(minutes=5)
# Report and webhook times of one visit differ by a few seconds; closer than this, they are one.
SAME_VISIT = dt.timedelta(seconds=60)
STARTED = "meeting.started"
ENDED = "meeting.ended"
JOINED = "meeting.participant_joined"
LEFT = "meeting.participant_left"
HANDLED = frozenset({STARTED, ENDED, JOINED, LEFT})
PARTICIPANT_EVENTS = (JOINED, LEFT)
_ID_PATHS = ("participant_uuid", "user_id", "id")


class MalformedDelivery(ValueError):
    """A signed body that is not a webhook we can process (missing meeting id, time, ...)."""


@dataclasses.dataclass(frozen=True)
class Span:
    joined_at: dt.datetime
    left_at: dt.datetime | None


# -- reading Zoom's envelope ---------------------------------------------------------------------


def _text(value: Any) -> str:
    if value is None or isinstance(value, dict | list | bool):
        return ""
    return str(value).strip()


def zoom_time(value: Any) -> dt.datetime | None:
    """Zoom's ``2026-11-28T09:00:00Z`` as an aware UTC datetime; None when absent or unreadable."""
    text = _text(value)
    if not text:
        return None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


def _object(envelope: Mapping[str, Any]) -> dict[str, Any]:
    payload = envelope.get("payload")
    obj = payload.get("object") if isinstance(payload, dict) else None
    return obj if isinstance(obj, dict) else {}


def _participant(envelope: Mapping[str, Any]) -> dict[str, Any]:
    participant = _object(envelope).get("participant")
    return participant if isinstance(participant, dict) else {}


def participant_key(participant: Mapping[str, Any]) -> str:
    """Who a participant is within a meeting: Zoom's ``participant_uuid``, else ``user_id``,
    else ``id``; empty when Zoom sent none of them."""
    for name in _ID_PATHS:
        value = _text(participant.get(name))
        if value:
            return value
    return ""


def event_time(kind: str, envelope: Mapping[str, Any]) -> dt.datetime | None:
    """The moment a delivery reports, from the payload's own times (never the arrival time)."""
    obj = _object(envelope)
    if kind == JOINED:
        return zoom_time(_participant(envelope).get("join_time"))
    if kind == LEFT:
        return zoom_time(_participant(envelope).get("leave_time"))
    if kind == ENDED:
        return zoom_time(obj.get("end_time"))
    if kind == STARTED:
        return zoom_time(obj.get("start_time"))
    return None


def check_delivery(kind: str, envelope: Mapping[str, Any]) -> tuple[str, dt.datetime]:
    """(meeting id, event time) of a handled delivery, or ``MalformedDelivery`` naming the gap."""
    meeting_id = _text(_object(envelope).get("id"))
    if not meeting_id or len(meeting_id) > 32:
        raise MalformedDelivery("payload.object.id (the meeting id) is missing or too long")
    moment = event_time(kind, envelope)
    if moment is None:
        raise MalformedDelivery(f"{kind} carries no readable time")
    if kind in PARTICIPANT_EVENTS and not participant_key(_participant(envelope)):
        raise MalformedDelivery(f"{kind} names no participant")
    return meeting_id, moment


# -- receiving ------------------------------------------------------------------------------------


async def record_delivery(
    db: AsyncSession, raw: bytes, kind: str, envelope: dict[str, Any], *, now: dt.datetime
) -> int | None:
    """Store a verified delivery and enqueue its processing, in the caller's transaction.

    Returns the new delivery's id, or None for a redelivery (same raw bytes) already stored: the
    unique digest decides, inside a savepoint, so concurrent redeliveries cannot both insert."""
    meeting_id, moment = check_delivery(kind, envelope)
    delivery = WebhookDelivery(
        provider=PROVIDER,
        digest=hashlib.sha256(raw).hexdigest(),
        kind=kind,
        meeting_id=meeting_id,
        payload=envelope,
        event_time=moment,
        received_at=now,
        processed_at=None,
    )
    try:
        async with db.begin_nested():
            db.add(delivery)
            await db.flush()
    except IntegrityError:
        return None
    await enqueue(
        db,
        JOB_KIND,
        {"delivery_id": delivery.id},
        now=now,
        dedupe_key=f"{JOB_KIND}:{delivery.id}",
    )
    return delivery.id


# -- deriving intervals ---------------------------------------------------------------------------


def build_spans(
    joins: Iterable[dt.datetime], leaves: Iterable[dt.datetime], ends: Iterable[dt.datetime]
) -> list[Span]:
    """One participant's intervals from the sets of their join and leave times and the meeting's
    end times (the rules are in the module docstring). Depends on the sets only."""
    join_set, close_set = set(joins), set(leaves) | set(ends)
    spans: list[Span] = []
    open_at: dt.datetime | None = None
    for moment in sorted(join_set | close_set):
        closes = moment in close_set
        if open_at is not None and closes:
            spans.append(Span(open_at, moment))
            open_at = None
            closes = False  # used
        if moment in join_set and open_at is None:
            if closes:
                spans.append(Span(moment, moment))
            else:
                open_at = moment
    if open_at is not None:
        spans.append(Span(open_at, None))
    return spans


_SPACES = re.compile(r"\s+")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def normalise_name(name: str) -> str:
    """Case-, accent- and spacing-insensitive form: ``" Aïcha  ZINSOU "`` -> ``"aicha zinsou"``."""
    decomposed = unicodedata.normalize("NFKD", name)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _SPACES.sub(" ", stripped.casefold()).strip()


@dataclasses.dataclass(frozen=True)
class _Identity:
    registrant_id: str
    email: str
    name: str


def _identity(deliveries: Sequence[WebhookDelivery]) -> _Identity:
    """The participant's first non-empty registrant id, email and name, in payload-time order
    (ties broken by digest), so the choice does not depend on arrival order."""
    ordered = sorted(deliveries, key=lambda d: (d.event_time or _EPOCH, d.digest))
    found = {"registrant_id": "", "email": "", "user_name": ""}
    for delivery in ordered:
        participant = _participant(delivery.payload)
        for name, value in found.items():
            if not value:
                found[name] = _text(participant.get(name))
    return _Identity(found["registrant_id"], found["email"].lower(), found["user_name"])


async def _match(db: AsyncSession, event_id: int, who: _Identity) -> int | None:
    """The registration a participant is: by registrant id, then email, then a normalised name
    that matches exactly one of the event's registrations; None for a guest."""
    if who.registrant_id:
        found = await db.scalar(
            select(Registration.id)
            .where(
                Registration.event_id == event_id,
                Registration.zoom_registrant_id == who.registrant_id,
            )
            .order_by(Registration.id)
            .limit(1)
        )
        if found is not None:
            return found
    if who.email:
        found = await db.scalar(
            select(Registration.id).where(
                Registration.event_id == event_id, Registration.email == who.email
            )
        )
        if found is not None:
            return found
    wanted = normalise_name(who.name)
    if wanted:
        rows = await db.execute(
            select(Registration.id, Registration.name).where(Registration.event_id == event_id)
        )
        same = [rid for rid, name in rows.all() if normalise_name(name) == wanted]
        if len(same) == 1:
            return same[0]
    return None


async def _replace(
    db: AsyncSession,
    event_id: int,
    key: str,
    deliveries: Sequence[WebhookDelivery],
    ends: Sequence[dt.datetime],
    *,
    now: dt.datetime,
) -> None:
    joins = [d.event_time for d in deliveries if d.kind == JOINED and d.event_time]
    leaves = [d.event_time for d in deliveries if d.kind == LEFT and d.event_time]
    who = _identity(deliveries)
    registration_id = await _match(db, event_id, who)
    await db.execute(
        delete(AttendanceInterval).where(
            AttendanceInterval.event_id == event_id,
            AttendanceInterval.source == SOURCE,
            AttendanceInterval.participant_key == key,
        )
    )
    for span in build_spans(joins, leaves, ends):
        db.add(
            AttendanceInterval(
                event_id=event_id,
                registration_id=registration_id,
                source=SOURCE,
                participant_key=key[:200],
                name=who.name[:200],
                email=who.email[:320] or None,
                joined_at=span.joined_at,
                left_at=span.left_at,
                created_at=now,
            )
        )
    await db.flush()


async def _ends(db: AsyncSession, meeting_id: str) -> list[dt.datetime]:
    rows = await db.scalars(
        select(WebhookDelivery.event_time).where(
            WebhookDelivery.provider == PROVIDER,
            WebhookDelivery.meeting_id == meeting_id,
            WebhookDelivery.kind == ENDED,
        )
    )
    return [moment for moment in rows if moment is not None]


def _participant_field(name: str) -> Any:
    return WebhookDelivery.payload[("payload", "object", "participant", name)].as_string()


async def _participant_deliveries(
    db: AsyncSession, meeting_id: str, key: str | None
) -> dict[str, list[WebhookDelivery]]:
    """The meeting's join/leave deliveries grouped by participant key (only ``key``'s if given)."""
    query = select(WebhookDelivery).where(
        WebhookDelivery.provider == PROVIDER,
        WebhookDelivery.meeting_id == meeting_id,
        WebhookDelivery.kind.in_(PARTICIPANT_EVENTS),
    )
    if key is not None:  # a superset in SQL, made exact below
        query = query.where(or_(*(_participant_field(name) == key for name in _ID_PATHS)))
    grouped: dict[str, list[WebhookDelivery]] = defaultdict(list)
    for delivery in await db.scalars(query):
        found = participant_key(_participant(delivery.payload))
        if found and (key is None or found == key):
            grouped[found].append(delivery)
    return grouped


async def rebuild(
    db: AsyncSession, meeting_id: str, *, key: str | None = None, now: dt.datetime
) -> list[int]:
    """Recompute the intervals of one participant (``key``) or of every participant of the
    meeting, for each event holding that meeting. Returns the events rebuilt.

    The events' rows are locked first (PostgreSQL), so two workers rebuilding the same meeting
    run one after the other and the later one reads every delivery the earlier one did."""
    events = (
        await db.scalars(
            select(Event.id)
            .where(Event.meeting_id == meeting_id)
            .order_by(Event.id)
            .with_for_update()
        )
    ).all()
    if not events:
        return []
    ends = await _ends(db, meeting_id)
    grouped = await _participant_deliveries(db, meeting_id, key)
    for event_id in events:
        for participant, deliveries in sorted(grouped.items()):
            await _replace(db, event_id, participant, deliveries, ends, now=now)
    return list(events)


async def process_delivery(db: AsyncSession, delivery_id: int, *, now: dt.datetime) -> list[int]:
    """Apply one stored delivery (the ``zoom.webhook`` job). Safe to run any number of times.
    Returns the events whose attendance it changed (their rows are locked)."""
    delivery = await db.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.meeting_id is None:
        log.info("zoom webhook delivery %s: nothing to process", delivery_id)
        return []
    rebuilt: list[int]
    if delivery.kind in PARTICIPANT_EVENTS:
        key = participant_key(_participant(delivery.payload))
        rebuilt = await rebuild(db, delivery.meeting_id, key=key, now=now)
    elif delivery.kind == ENDED:
        rebuilt = await rebuild(db, delivery.meeting_id, now=now)
        await _request_reconcile(db, delivery, now=now)
    else:  # meeting.started: remember the occurrence; intervals come from participants
        await _remember_occurrence(db, delivery)
        rebuilt = []
    if not rebuilt and delivery.kind != STARTED:
        log.info("zoom webhook %s: no event holds meeting %s", delivery_id, delivery.meeting_id)
    delivery.processed_at = now
    return rebuilt


# -- the participants report --------------------------------------------------------------------


def _occurrence(delivery: WebhookDelivery) -> str:
    return _text(_object(delivery.payload).get("uuid"))


async def _remember_occurrence(db: AsyncSession, delivery: WebhookDelivery) -> int:
    """``meeting.started`` names the occurrence (its uuid): the report is read by it."""
    uuid = _occurrence(delivery)
    events = (await db.scalars(select(Event).where(Event.meeting_id == delivery.meeting_id))).all()
    for event in events:
        if uuid:
            event.meeting_uuid = uuid[:100]
    return len(events)


async def _request_reconcile(
    db: AsyncSession, delivery: WebhookDelivery, *, now: dt.datetime
) -> None:
    events = (await db.scalars(select(Event).where(Event.meeting_id == delivery.meeting_id))).all()
    for event in events:
        uuid = _occurrence(delivery) or event.meeting_uuid
        if not uuid:
            continue
        await enqueue(
            db,
            RECONCILE_JOB,
            {"event_id": event.id, "meeting_uuid": uuid},
            now=now,
            run_after=now + RECONCILE_DELAY,
            dedupe_key=f"{RECONCILE_JOB}:{event.id}:{uuid}"[:200],
            max_attempts=25,
        )


def _overlaps(start: dt.datetime, end: dt.datetime | None, other: AttendanceInterval) -> bool:
    far = dt.datetime.max.replace(tzinfo=dt.UTC)
    other_end = (other.left_at or far) + SAME_VISIT
    return start <= other_end and other.joined_at - SAME_VISIT <= (end or far)


async def apply_report(
    db: AsyncSession, event_id: int, participants: Sequence[Participant], *, now: dt.datetime
) -> int:
    """Fill what webhooks missed from the provider's participants report, without counting a
    visit twice. Returns how many report spans were kept.

    A report span is kept (source ``report``) only when no webhook interval of the same person
    overlaps it (within ``SAME_VISIT``). The same person: the same registration when the span
    matches one (registrant id, e-mail, then name, as webhooks are matched), else the same
    participant key or normalised name among guests. Every run replaces the event's ``report``
    rows, so running it twice, or after late webhooks, gives the same result."""
    await db.execute(
        delete(AttendanceInterval).where(
            AttendanceInterval.event_id == event_id,
            AttendanceInterval.source == REPORT_SOURCE,
        )
    )
    known = (
        await db.scalars(
            select(AttendanceInterval).where(
                AttendanceInterval.event_id == event_id,
                AttendanceInterval.source == SOURCE,
            )
        )
    ).all()
    kept: set[tuple[str, dt.datetime]] = set()
    for span in sorted(participants, key=lambda p: (p.joined_at, p.key)):
        who = _Identity(span.registrant_id or "", (span.email or "").lower(), span.name)
        registration_id = await _match(db, event_id, who)
        if registration_id is not None:
            same = [i for i in known if i.registration_id == registration_id]
        else:
            wanted = normalise_name(span.name)
            same = [
                i
                for i in known
                if i.registration_id is None
                and (i.participant_key == span.key or (wanted and normalise_name(i.name) == wanted))
            ]
        if any(_overlaps(span.joined_at, span.left_at, i) for i in same):
            continue
        key = (span.key[:200] or f"report:{normalise_name(span.name)}"[:200], span.joined_at)
        if key in kept:
            continue
        kept.add(key)
        db.add(
            AttendanceInterval(
                event_id=event_id,
                registration_id=registration_id,
                source=REPORT_SOURCE,
                participant_key=key[0],
                name=span.name[:200],
                email=(span.email or "").lower()[:320] or None,
                joined_at=span.joined_at,
                left_at=span.left_at,
                created_at=now,
            )
        )
    await db.flush()
    return len(kept)


# -- reading ------------------------------------------------------------------------------------


async def intervals_of(db: AsyncSession, event_id: int) -> Sequence[AttendanceInterval]:
    """The event's intervals, in the order they began (callers check who may see them)."""
    return (
        await db.scalars(
            select(AttendanceInterval)
            .where(AttendanceInterval.event_id == event_id)
            .order_by(AttendanceInterval.joined_at, AttendanceInterval.id)
        )
    ).all()
