"""Reports on attendance: an event's report (registrations, attendance, the programme as run,
per-slot Q&A), the organisers' exports of intervals and per-person totals, and the year's events
against their targets.

Q&A figures per slot (every question of the slot, whoever asked it, hub relays included):
- *asked*: every question, whatever became of it (pending, approved, dismissed, merged);
- *approved*: questions approved (answered ones included; merged duplicates are not);
- *answered*: approved questions marked answered;
- *top voted*: the approved question with the most votes (at least one), the oldest on a tie.
Only its text is reported, never its asker.

Exports carry the least that makes them useful to organisers: a person number local to the
export, the registration id (none for guests), the name (registered, else as shown in Zoom), the
chapter, country and language given at registration; never an e-mail address nor Zoom's ids.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from internet10.errors import NotFound
from internet10.models import (
    AttendanceInterval,
    Chapter,
    Event,
    EventStatus,
    Question,
    QuestionStatus,
    Registration,
    RegistrationStatus,
    Slot,
    Vote,
)
from internet10.services.attendance_figures import (
    EventFigures,
    figures_of,
    people_of,
    people_of_events,
    require_viewer,
)
from internet10.services.auth import Principal, require_organiser
from scheduler.attendance import Window, compute, minutes_by_person

# -- an event's report ---------------------------------------------------------------------------


@dataclass(frozen=True)
class QAFigures:
    asked: int = 0
    approved: int = 0
    answered: int = 0
    top_text: str | None = None
    top_votes: int = 0


@dataclass(frozen=True)
class ProgrammeLine:
    """One slot as planned and as run. ``people``: attended people present during the slot
    (None for a skipped slot)."""

    slot_id: int
    position: int
    chapter: str | None
    chapter_name: str | None
    title: str | None
    planned_start: dt.datetime
    planned_end: dt.datetime
    actual_start: dt.datetime | None
    actual_end: dt.datetime | None
    skipped: bool
    extended_minutes: int
    people: int | None
    qa: QAFigures

    @property
    def start_delay_minutes(self) -> int | None:
        """Minutes the slot started after its planned time (negative: early)."""
        if self.actual_start is None:
            return None
        return round((self.actual_start - self.planned_start).total_seconds() / 60)

    @property
    def planned_minutes(self) -> int:
        return round((self.planned_end - self.planned_start).total_seconds() / 60)

    @property
    def actual_minutes(self) -> int | None:
        if self.actual_start is None or self.actual_end is None:
            return None
        return round((self.actual_end - self.actual_start).total_seconds() / 60)


@dataclass(frozen=True)
class RegistrationCounts:
    confirmed: int
    waitlisted: int
    cancelled: int
    online: int  # confirmed or waitlisted, by the mode they chose
    in_person: int
    checked_in: int
    clicked_join: int

    @property
    def registered(self) -> int:
        return self.confirmed + self.waitlisted


@dataclass(frozen=True)
class EventReport:
    found: EventFigures
    registrations: RegistrationCounts
    programme: list[ProgrammeLine]
    final: bool  # the event has ended: the figures will not change

    @property
    def event(self) -> Event:
        return self.found.event

    @property
    def qa_totals(self) -> QAFigures:
        lines = [line.qa for line in self.programme]
        return QAFigures(
            asked=sum(q.asked for q in lines),
            approved=sum(q.approved for q in lines),
            answered=sum(q.answered for q in lines),
        )


async def event_report(
    db: AsyncSession,
    principal: Principal | None,
    event_id: int,
    *,
    now: dt.datetime,
    min_minutes: float,
) -> EventReport:
    """The event's report (its moderators and organisers)."""
    require_viewer(principal, event_id)
    event = await db.get(Event, event_id)
    if event is None:
        raise NotFound(f"No event with id {event_id}.")
    return await report_of(db, event, now=now, min_minutes=min_minutes)


async def report_of(
    db: AsyncSession, event: Event, *, now: dt.datetime, min_minutes: float
) -> EventReport:
    """The report of one event, with no permission check."""
    found = await figures_of(db, event, now=now, min_minutes=min_minutes)
    slots = (
        await db.scalars(select(Slot).where(Slot.event_id == event.id).order_by(Slot.position))
    ).all()
    chapter_ids = [s.chapter_id for s in slots if s.chapter_id is not None]
    chapters = (
        {
            c.id: c
            for c in (await db.scalars(select(Chapter).where(Chapter.id.in_(chapter_ids)))).all()
        }
        if chapter_ids
        else {}
    )
    qa = await qa_figures(db, [s.id for s in slots])
    people = {line.slot_id: line.people for line in found.slots}
    programme = [
        ProgrammeLine(
            slot_id=s.id,
            position=s.position,
            chapter=chapters[s.chapter_id].code if s.chapter_id in chapters else None,
            chapter_name=chapters[s.chapter_id].name if s.chapter_id in chapters else None,
            title=s.title,
            planned_start=s.starts_at,
            planned_end=s.ends_at,
            actual_start=s.actual_started_at,
            actual_end=s.actual_ended_at,
            skipped=s.skipped,
            extended_minutes=s.extended_minutes,
            people=people.get(s.id),
            qa=qa.get(s.id, QAFigures()),
        )
        for s in slots
    ]
    final = event.status == EventStatus.ENDED.value or now >= event.ends_at
    return EventReport(found, await registration_counts(db, event.id), programme, final)


async def registration_counts(db: AsyncSession, event_id: int) -> RegistrationCounts:
    rows = await db.execute(
        select(
            Registration.status,
            Registration.mode,
            func.count(),
            func.count(Registration.checked_in_at),
            func.count(Registration.join_clicked_at),
        )
        .where(Registration.event_id == event_id)
        .group_by(Registration.status, Registration.mode)
    )
    by_status: Counter[str] = Counter()
    by_mode: Counter[str] = Counter()
    checked_in = clicked = 0
    for status, mode, n, checked, joined in rows.all():
        by_status[status] += n
        if status != RegistrationStatus.CANCELLED.value:
            by_mode[mode] += n
            checked_in += checked
            clicked += joined
    return RegistrationCounts(
        confirmed=by_status[RegistrationStatus.CONFIRMED.value],
        waitlisted=by_status[RegistrationStatus.WAITLISTED.value],
        cancelled=by_status[RegistrationStatus.CANCELLED.value],
        online=by_mode["online"],
        in_person=by_mode["in_person"],
        checked_in=checked_in,
        clicked_join=clicked,
    )


async def qa_figures(db: AsyncSession, slot_ids: Sequence[int]) -> dict[int, QAFigures]:
    """Each slot's Q&A figures (see the module's definitions), in one query."""
    if not slot_ids:
        return {}
    votes = (
        select(Vote.question_id, func.count().label("votes")).group_by(Vote.question_id).subquery()
    )
    rows = await db.execute(
        select(
            Question.id,
            Question.slot_id,
            Question.status,
            Question.answered_at,
            Question.text,
            Question.created_at,
            func.coalesce(votes.c.votes, 0),
        )
        .outerjoin(votes, votes.c.question_id == Question.id)
        .where(Question.slot_id.in_(slot_ids))
        .order_by(Question.slot_id, Question.created_at, Question.id)
    )
    asked: Counter[int] = Counter()
    approved: Counter[int] = Counter()
    answered: Counter[int] = Counter()
    top: dict[int, tuple[int, str]] = {}
    for _qid, slot_id, status, answered_at, text, _created, n in rows.all():
        asked[slot_id] += 1
        if status != QuestionStatus.APPROVED.value:
            continue
        approved[slot_id] += 1
        if answered_at is not None:
            answered[slot_id] += 1
        # Rows come oldest first: a later question must have strictly more votes to win.
        if n > 0 and n > top.get(slot_id, (0, ""))[0]:
            top[slot_id] = (int(n), text)
    return {
        slot_id: QAFigures(
            asked=asked[slot_id],
            approved=approved[slot_id],
            answered=answered[slot_id],
            top_text=top[slot_id][1] if slot_id in top else None,
            top_votes=top[slot_id][0] if slot_id in top else 0,
        )
        for slot_id in slot_ids
    }


# -- exports -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PersonTotal:
    person: int  # a number local to this export, by first arrival
    registration_id: int | None
    name: str
    chapter: str
    country: str
    language: str
    place: str  # online, room or both
    hub: str  # the hub they first came through ("" when not through a hub)
    visits: int
    first_joined_at: dt.datetime
    minutes: float  # the union of their visits within the event's window
    attended: bool  # at least the minimum minutes


@dataclass(frozen=True)
class IntervalLine:
    person: int
    registration_id: int | None
    name: str
    source: str  # zoom (webhooks), report (Zoom's report), checkin (the room)
    hub: str  # the hub this visit came through ("" when not through a hub)
    joined_at: dt.datetime
    left_at: dt.datetime | None


@dataclass(frozen=True)
class AttendanceExport:
    event: Event
    min_minutes: float
    people: list[PersonTotal]
    intervals: list[IntervalLine]


async def attendance_export(
    db: AsyncSession,
    principal: Principal | None,
    event_id: int,
    *,
    now: dt.datetime,
    min_minutes: float,
) -> AttendanceExport:
    """Intervals and per-person totals of an event (organisers only)."""
    require_organiser(principal)
    event = await db.get(Event, event_id)
    if event is None:
        raise NotFound(f"No event with id {event_id}.")
    found = await people_of(db, event)
    intervals = sorted(found.intervals, key=lambda i: (i.joined_at, i.id))
    minutes = minutes_by_person(
        found.visits(now=now), Window(event.starts_at, event.ends_at), now=now
    )
    attributes = found.attributes()
    threshold = min_minutes - 1e-9  # minutes are floats; the arithmetic compares timedeltas
    numbers: dict[str, int] = {}
    seen: dict[str, list[AttendanceInterval]] = defaultdict(list)
    for interval in intervals:  # by first arrival
        key = found.person(interval)
        numbers.setdefault(key, len(numbers) + 1)
        seen[key].append(interval)
    people: list[PersonTotal] = []
    names: dict[str, str] = {}
    for key, visits in seen.items():
        rid = found.same.get(visits[0].registration_id or -1, visits[0].registration_id)
        registered = found.registrations.get(rid or -1)
        names[key] = (registered.name if registered else "") or next(
            (v.name for v in visits if v.name), ""
        )
        values = attributes.get(key, {})
        people.append(
            PersonTotal(
                person=numbers[key],
                registration_id=rid,
                name=names[key],
                chapter=values.get("chapter", ""),
                country=values.get("country", ""),
                language=values.get("language", ""),
                place=values.get("place", "online"),
                hub=values.get("hub", ""),
                visits=len(visits),
                first_joined_at=visits[0].joined_at,
                minutes=round(minutes.get(key, 0.0), 2),
                attended=minutes.get(key, 0.0) >= threshold,
            )
        )
    lines = [
        IntervalLine(
            person=numbers[found.person(i)],
            registration_id=i.registration_id,
            name=names[found.person(i)],
            source=i.source,
            hub=found.hub_of(i),
            joined_at=i.joined_at,
            left_at=i.left_at,
        )
        for i in intervals
    ]
    return AttendanceExport(event, min_minutes, people, lines)


# -- the year ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class YearLine:
    event: Event
    registered: int  # confirmed or waitlisted
    attended: int
    peak: int
    in_person: int
    online: int

    @property
    def counted(self) -> bool:
        """Cancelled events, and hubs retransmitting one of our events (whose figures count
        them), are listed but left out of the year's totals."""
        return (
            self.event.status != EventStatus.CANCELLED.value and self.event.retransmits_id is None
        )

    @property
    def progress(self) -> float:
        target = self.event.participant_target
        return self.attended / target if target else 0.0


@dataclass(frozen=True)
class YearView:
    year: int
    lines: list[YearLine]

    @property
    def target(self) -> int:
        return sum(line.event.participant_target for line in self.lines if line.counted)

    @property
    def attended(self) -> int:
        return sum(line.attended for line in self.lines if line.counted)

    @property
    def registered(self) -> int:
        return sum(line.registered for line in self.lines if line.counted)

    @property
    def progress(self) -> float:
        return self.attended / self.target if self.target else 0.0


async def year_view(
    db: AsyncSession,
    principal: Principal | None,
    year: int,
    *,
    now: dt.datetime,
    min_minutes: float,
) -> YearView:
    """Every event of a year (by its date in its own zone) with its attendance against its
    target (organisers only). An event's figures count the hubs that retransmit it, so those
    hubs are listed but left out of the year's totals (their people are already counted)."""
    require_organiser(principal)
    first = dt.datetime(year, 1, 1, tzinfo=dt.UTC) - dt.timedelta(days=1)
    last = dt.datetime(year + 1, 1, 1, tzinfo=dt.UTC) + dt.timedelta(days=1)
    candidates = (
        await db.scalars(
            select(Event)
            .where(Event.starts_at >= first, Event.starts_at < last)
            .order_by(Event.starts_at, Event.id)
        )
    ).all()
    events = [e for e in candidates if e.starts_at.astimezone(ZoneInfo(e.timezone)).year == year]
    ids = [e.id for e in events]
    if not ids:
        return YearView(year, [])
    everyone = await people_of_events(db, events)
    lines = []
    for event in events:
        people = everyone[event.id]
        registered = sum(
            1
            for r in people.registrations.values()
            if r.event_id == event.id and r.status != RegistrationStatus.CANCELLED.value
        )
        figures = compute(
            people.visits(now=now),
            Window(event.starts_at, event.ends_at),
            now=now,
            min_minutes=min_minutes,
            target=event.participant_target,
        )
        lines.append(
            YearLine(
                event=event,
                registered=registered,
                attended=figures.attended,
                peak=figures.peak,
                in_person=figures.in_person,
                online=figures.online,
            )
        )
    return YearView(year, lines)
