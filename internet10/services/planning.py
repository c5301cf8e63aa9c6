"""Fair planning of an Internet10 event: propose start times and running orders, apply one.

The scheduler computes (``scheduler.planner.plan``); this module finds the event, its agenda and
its chapters, decides who may plan, and writes the chosen proposal into the event's slots. It also
holds the small pure helpers the ``internet10 plan`` command shares with the API and the pages.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from internet10.errors import Conflict, NotFound, ValidationFailed
from internet10.models import Chapter, Event, EventKind, EventStatus, Slot, SlotSwap
from internet10.services.auth import Principal, require_organiser
from internet10.services.booking import BOOKING_COLUMNS
from internet10.services.events import agenda_from_json, event_slots, set_running_order
from internet10.services.notifications import programme_changed
from scheduler.agenda import AgendaParams, Break
from scheduler.errors import SchedulingError
from scheduler.planner import (
    ChapterWindow,
    PlanResult,
    Proposal,
    parse_chapters_json,
    parse_hours,
    plan,
)

DEFAULT_TOP = 3
MAX_TOP = 10
MIN_YEAR, MAX_YEAR = 2000, 2100
MAX_AGENDA_MINUTES = 24 * 60  # any one agenda block; keeps the command line's search bounded
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Booking details travel with the chapter when a proposal moves it to another slot.
_BOOKING_FIELDS = tuple(name for name in BOOKING_COLUMNS if name != "chapter_id")
ASSIGNED_STATUS = "confirmed"  # an organiser placing a chapter needs no further approval
CLOSED_STATUSES = (EventStatus.ENDED.value, EventStatus.CANCELLED.value)


# --------------------------------------------------------------------------- shared helpers


def parse_date(value: str, field: str = "date") -> dt.date:
    """``YYYY-MM-DD`` between 2000 and 2100, else ``ValidationFailed`` naming ``field``."""
    text = value.strip()
    try:
        if not _DATE_RE.match(text):
            raise ValueError(text)
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise ValidationFailed(
            f"{field}: expected a date as YYYY-MM-DD, got {value[:40]!r}",
            code="INVALID_DATE",
            field=field,
        ) from None
    return check_year(day, field)


def check_year(day: dt.date, field: str = "date") -> dt.date:
    if not MIN_YEAR <= day.year <= MAX_YEAR:
        raise ValidationFailed(
            f"{field}: must be between {MIN_YEAR} and {MAX_YEAR}, got {day.isoformat()}",
            code="INVALID_DATE",
            field=field,
        )
    return day


def agenda_from_options(
    *,
    opening: int,
    presentation: int,
    debate: int,
    break_after: int,
    break_minutes: int,
    closing: int,
) -> AgendaParams:
    """The command line's agenda: ``break_after`` or ``break_minutes`` of 0 means no break.

    Each block is bounded to a day so a typo cannot make the planner scan years of time zones.
    """
    given = {
        "opening": opening,
        "presentation": presentation,
        "debate": debate,
        "break-after": break_after,
        "break": break_minutes,
        "closing": closing,
    }
    for name, value in given.items():
        if not 0 <= value <= MAX_AGENDA_MINUTES:
            raise ValidationFailed(
                f"--{name}: must be between 0 and {MAX_AGENDA_MINUTES}, got {value}",
                field=name,
            )
    breaks = () if break_after == 0 or break_minutes == 0 else (Break(break_after, break_minutes),)
    return AgendaParams(
        opening=opening,
        presentation=presentation,
        debate=debate,
        breaks=breaks,
        closing=closing,
    )


class ChaptersFileError(ValueError):
    """The chapters file cannot be read or parsed; ``str(exc)`` is one line naming the problem."""


def read_chapters_file(path: Path) -> list[ChapterWindow]:
    """``[{"code", "name", "timezone", "hours"}, ...]`` from a JSON file, validated."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ChaptersFileError(exc.strerror or type(exc).__name__) from None
    except UnicodeDecodeError:
        raise ChaptersFileError("not UTF-8 text") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ChaptersFileError(
            f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    try:
        chapters = parse_chapters_json(data)
    except SchedulingError as exc:
        raise ChaptersFileError(exc.message) from None
    if not chapters:
        raise ChaptersFileError("the list of chapters is empty; give at least one chapter")
    return chapters


def utc_offset_label(value: dt.datetime) -> str:
    """``UTC+05:45`` for an aware datetime."""
    offset = value.utcoffset() or dt.timedelta(0)
    sign = "-" if offset < dt.timedelta(0) else "+"
    minutes = abs(offset) // dt.timedelta(minutes=1)
    return f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def _span(start: dt.datetime, end: dt.datetime) -> str:
    """``2026-12-05 09:15-09:38``, with the end's date too when it falls on another day."""
    tail = end.strftime("%H:%M" if end.date() == start.date() else "%Y-%m-%d %H:%M")
    return f"{start:%Y-%m-%d %H:%M}-{tail}"


def plan_table(result: PlanResult, reference_timezone: str) -> str:
    """The readable form of a plan (the command line without ``--json``)."""
    if not result.proposals:
        return "no proposal: the reference time zone skips this whole date\n"
    zone = ZoneInfo(reference_timezone)
    lines: list[str] = []
    for rank, proposal in enumerate(result.proposals, start=1):
        lines.extend(_proposal_lines(rank, proposal, zone))
    return "\n".join(lines) + "\n"


def _proposal_lines(rank: int, proposal: Proposal, zone: ZoneInfo) -> list[str]:
    start_utc, end_utc = proposal.starts_at, proposal.ends_at
    start_ref, end_ref = start_utc.astimezone(zone), end_utc.astimezone(zone)
    unserved = (
        "; ".join(f"{u.chapter}: {u.minutes_outside} min outside" for u in proposal.unserved)
        or "none"
    )
    rows = [
        (
            str(slot.position),
            slot.chapter,
            _span(slot.starts_at, slot.ends_at),
            f"{_span(slot.local_start, slot.local_end)} {utc_offset_label(slot.local_start)}",
            str(slot.minutes_outside),
        )
        for slot in proposal.slots
    ]
    header = ("#", "chapter", "UTC", "local", "min outside")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        first = [cell.ljust(width) for cell, width in zip(cells[:-1], widths, strict=False)]
        return "  " + "  ".join([*first, cells[-1].rjust(widths[-1])])

    return [
        f"Proposal {rank}: {_span(start_utc, end_utc)} UTC"
        f" = {_span(start_ref, end_ref)} {zone.key} ({utc_offset_label(start_ref)})",
        f"  minutes outside acceptable hours: {proposal.minutes_outside_total}",
        f"  unserved: {unserved}",
        line(header),
        *(line(row) for row in rows),
        "",
    ]


# --------------------------------------------------------------------------- use cases


async def _internet10(db: AsyncSession, event_id: int, *, lock: bool = False) -> Event:
    query = select(Event).where(Event.id == event_id)
    if lock:
        query = query.with_for_update()
    event = await db.scalar(query)
    if event is None:
        raise NotFound(f"No event with id {event_id}.")
    if event.kind != EventKind.INTERNET10.value:
        raise Conflict(
            "Only an Internet10 event has chapter slots to plan; this one is a hub.",
            code="NOT_INTERNET10",
        )
    return event


async def planning_event(db: AsyncSession, principal: Principal | None, event_id: int) -> Event:
    """The Internet10 event an organiser is planning (401/403/404/409 otherwise)."""
    require_organiser(principal)
    return await _internet10(db, event_id)


async def list_chapters(db: AsyncSession) -> Sequence[Chapter]:
    return (await db.scalars(select(Chapter).order_by(Chapter.code))).all()


async def _chapters(
    db: AsyncSession, codes: Sequence[str | None], field: str
) -> dict[str, Chapter]:
    """Chapters by code for the given codes (``None`` skipped); unknown or repeated -> 422."""
    wanted = [code for code in codes if code is not None]
    found = {
        c.code: c for c in (await db.scalars(select(Chapter).where(Chapter.code.in_(wanted)))).all()
    }
    seen: dict[str, int] = {}
    for index, code in enumerate(codes):
        if code is None:
            continue
        if code not in found:
            raise ValidationFailed(
                f"{field}[{index}]: no chapter with code {code!r}",
                code="UNKNOWN_CHAPTER",
                field=f"{field}[{index}]",
            )
        if code in seen:
            raise ValidationFailed(
                f"{field}[{index}]: chapter {code!r} is already {field}[{seen[code]}]",
                code="DUPLICATE_CHAPTER",
                field=f"{field}[{index}]",
            )
        seen[code] = index
    return found


def _window(chapter: Chapter, index: int) -> ChapterWindow:
    try:
        start, end = parse_hours(f"{chapter.hours_start}-{chapter.hours_end}")
    except SchedulingError:
        raise ValidationFailed(
            f"chapters[{index}] ({chapter.code!r}): its stored hours"
            f" {chapter.hours_start}-{chapter.hours_end} are not HH:MM-HH:MM",
            code="INVALID_HOURS",
            field=f"chapters[{index}].hours",
        ) from None
    return ChapterWindow(chapter.code, chapter.name, chapter.timezone, start, end)


async def propose(
    db: AsyncSession,
    principal: Principal | None,
    event_id: int,
    *,
    now: dt.datetime,
    date: dt.date | None = None,
    chapters: Sequence[str] | None = None,
    top: int = DEFAULT_TOP,
) -> PlanResult:
    """The ``top`` best start times on ``date`` (in the event's zone) with their slot orders.

    ``date`` defaults to the event's current local start date and may not be before today in
    the event's zone (``now``). ``chapters`` are codes, in the order that breaks ties (the first
    listed wins an otherwise equal slot); by default every chapter, by code.
    """
    require_organiser(principal)
    event = await _internet10(db, event_id)
    zone = ZoneInfo(event.timezone)
    if date is None:
        date = event.starts_at.astimezone(zone).date()
    else:
        check_year(date)
        today = now.astimezone(zone).date()
        if date < today:
            raise ValidationFailed(
                f"date: {date.isoformat()} is before today ({today.isoformat()} in"
                f" {event.timezone})",
                code="DATE_IN_PAST",
                field="date",
            )
    if not 1 <= top <= MAX_TOP:
        raise ValidationFailed(f"top: must be between 1 and {MAX_TOP}, got {top}", field="top")
    params = agenda_from_json(event.agenda)
    if chapters is None:
        rows = list(await list_chapters(db))
        if len(rows) > params.slots:
            raise ValidationFailed(
                f"chapters: there are {len(rows)} chapters but the event has {params.slots}"
                f" slots; choose at most {params.slots} by code",
                code="TOO_MANY_CHAPTERS",
                field="chapters",
            )
    else:
        found = await _chapters(db, chapters, "chapters")
        rows = [found[code] for code in chapters]
    if not rows:
        raise ValidationFailed(
            "chapters: there is no chapter to plan", code="NO_CHAPTERS", field="chapters"
        )
    windows = [_window(chapter, index) for index, chapter in enumerate(rows)]
    try:
        return plan(date, event.timezone, windows, params, top=top)
    except SchedulingError as exc:
        raise ValidationFailed(exc.message, code=exc.code, field=exc.field) from None


@dataclass(frozen=True)
class _Booking:
    chapter_id: int
    values: dict[str, Any]


def _take_booking(slot: Slot) -> _Booking:
    assert slot.chapter_id is not None
    booking = _Booking(slot.chapter_id, {name: getattr(slot, name) for name in _BOOKING_FIELDS})
    slot.chapter_id = None
    for name in _BOOKING_FIELDS:
        setattr(slot, name, [] if name == "speakers" else None)
    return booking


async def apply(
    db: AsyncSession,
    principal: Principal | None,
    event_id: int,
    *,
    starts_at: dt.datetime,
    order: Sequence[str | None],
    now: dt.datetime,
    force: bool = False,
) -> Event:
    """Move the event to ``starts_at`` and give slot ``i + 1`` to the chapter ``order[i]``.

    ``None`` in ``order`` and positions past its end leave a slot open. A slot already booked
    by another chapter is a 409 ``SLOTS_BOOKED`` unless ``force``; then booked chapters move
    with their booking details (title, speakers, ...). A booked chapter missing from ``order``
    is always a 409 ``CHAPTER_LEFT_OUT``: applying a plan never drops a booking. Pending slot
    swaps on slots whose chapter changes are withdrawn (they name slots that no longer hold
    those chapters). Bumps the event's sequence.
    """
    principal = require_organiser(principal)
    event = await _internet10(db, event_id, lock=True)
    if event.status in CLOSED_STATUSES:
        raise Conflict(
            f"The event is {event.status}; it can no longer change.", code="EVENT_CLOSED"
        )
    if event.status == EventStatus.LIVE.value:
        raise Conflict(
            "The event is live; its start and running order can no longer be planned.",
            code="EVENT_LIVE",
        )
    if starts_at.utcoffset() is None:
        raise ValidationFailed("starts_at: must carry a UTC offset", field="starts_at")
    if starts_at <= now:
        raise ValidationFailed(
            "starts_at: the proposal starts in the past", code="STARTS_IN_PAST", field="starts_at"
        )
    params = agenda_from_json(event.agenda)
    if not order or len(order) > params.slots:
        raise ValidationFailed(
            f"order: give 1 to {params.slots} chapter codes (the event has {params.slots}"
            f" slots), got {len(order)}",
            code="TOO_MANY_CHAPTERS" if order else "NO_CHAPTERS",
            field="order",
        )
    found = await _chapters(db, order, "order")
    if not found:
        raise ValidationFailed(
            "order: name at least one chapter", code="NO_CHAPTERS", field="order"
        )
    target = {
        position: found[code].id for position, code in enumerate(order, start=1) if code is not None
    }
    slots = list(await event_slots(db, event.id))
    placed = set(target.values())
    left_out = sorted(
        s.position for s in slots if s.chapter_id is not None and s.chapter_id not in placed
    )
    if left_out:
        raise Conflict(
            f"Slot(s) {', '.join(map(str, left_out))} are booked by chapters this proposal"
            " leaves out; include them in the planning.",
            code="CHAPTER_LEFT_OUT",
        )
    moving = [
        s for s in slots if s.chapter_id is not None and target.get(s.position) != s.chapter_id
    ]
    if moving and not force:
        raise Conflict(
            f"Slot(s) {', '.join(str(s.position) for s in moving)} are booked by other chapters;"
            " apply with force to move them.",
            code="SLOTS_BOOKED",
        )

    changed = [s.id for s in slots if target.get(s.position) != s.chapter_id]
    new_start = starts_at.astimezone(dt.UTC)
    if not changed and new_start == event.starts_at:
        return event  # applying the same proposal twice changes nothing
    event.starts_at = new_start
    slots = await set_running_order(db, event, params, now=now)
    by_position = {s.position: s for s in slots}
    bookings = {b.chapter_id: b for b in (_take_booking(s) for s in moving)}
    await db.flush()  # free the moved chapters first: (event_id, chapter_id) is unique
    for position, chapter_id in target.items():
        slot = by_position[position]
        if slot.chapter_id == chapter_id:
            continue
        booking = bookings.get(chapter_id)
        if booking is not None:
            for name, value in booking.values.items():
                setattr(slot, name, value)
        else:
            slot.booking_status = ASSIGNED_STATUS
            slot.booked_at = now
            slot.booked_by_user_id = principal.user_id
        slot.chapter_id = chapter_id
        slot.updated_at = now
    if changed:
        await _withdraw_swaps(db, event.id, changed, principal, now=now)
    event.updated_at = now
    event.sequence += 1  # iCalendar SEQUENCE and change notifications key on this
    await programme_changed(db, event, chapter_ids=None, now=now)
    await db.flush()
    return event


async def _withdraw_swaps(
    db: AsyncSession,
    event_id: int,
    slot_ids: Sequence[int],
    principal: Principal,
    *,
    now: dt.datetime,
) -> None:
    swaps = await db.scalars(
        select(SlotSwap).where(
            SlotSwap.event_id == event_id,
            SlotSwap.status == "pending",
            SlotSwap.from_slot_id.in_(slot_ids) | SlotSwap.to_slot_id.in_(slot_ids),
        )
    )
    for swap in swaps:
        swap.status = "withdrawn"
        swap.decided_at = now
        swap.decided_by_user_id = principal.user_id
