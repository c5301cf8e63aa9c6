"""Fair planning: choose a start time and a slot order for a multi-chapter event.

Every candidate start gets the exactly optimal assignment of chapters to slot
positions (minimum total presenter minutes outside the chapters' acceptable hours);
candidates are then ranked by that total, then by the whole-session minutes outside
summed over chapters, then by earlier start.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from scheduler.agenda import AgendaParams, build_agenda, total_minutes
from scheduler.errors import SchedulingError
from scheduler.timezones import (
    OffsetPiece,
    from_posix,
    inside_seconds,
    load_zone,
    minutes_outside,
    offset_pieces,
    seconds_of_day,
)

__all__ = [
    "DEFAULT_HOURS_END",
    "DEFAULT_HOURS_START",
    "ChapterWindow",
    "PlanResult",
    "Proposal",
    "ProposedSlot",
    "Unserved",
    "candidate_starts",
    "minutes_outside",
    "optimal_assignment",
    "parse_chapters_json",
    "parse_hours",
    "plan",
    "proposal_to_json",
]

DEFAULT_HOURS_START = time(8, 0)
DEFAULT_HOURS_END = time(22, 0)
_MINUTE = timedelta(minutes=1)
_HOURS_RE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


@dataclass(frozen=True)
class ChapterWindow:
    """A chapter and the local hours it can attend.

    ``hours_end <= hours_start`` (including ``00:00``) means the window wraps past
    midnight: ``20:00-02:00`` is 20:00 to 02:00 the next day.
    """

    code: str
    name: str
    timezone: str
    hours_start: time = DEFAULT_HOURS_START
    hours_end: time = DEFAULT_HOURS_END


@dataclass(frozen=True)
class ProposedSlot:
    """A chapter's slot: UTC bounds, the same bounds in the chapter's zone, and the
    whole minutes of the slot outside the chapter's acceptable hours."""

    position: int
    chapter: str
    starts_at: datetime
    ends_at: datetime
    local_start: datetime
    local_end: datetime
    minutes_outside: int


@dataclass(frozen=True)
class Unserved:
    """A chapter whose slot falls ``minutes_outside`` minutes outside its hours."""

    chapter: str
    minutes_outside: int


@dataclass(frozen=True)
class Proposal:
    """One candidate event.

    ``order`` lists chapter codes by slot position; when there are fewer chapters
    than slots, empty slots are omitted from ``order`` and ``slots`` (each
    :class:`ProposedSlot` keeps its real position). ``minutes_outside_total`` sums the
    slot minutes outside; ``session_minutes_outside_total`` sums, over every chapter,
    the minutes of the whole event ``[starts_at, ends_at)`` outside its hours.
    ``unserved`` lists, in slot order, each chapter with a slot partly or wholly
    outside its hours.
    """

    starts_at: datetime
    ends_at: datetime
    order: tuple[str, ...]
    minutes_outside_total: int
    session_minutes_outside_total: int
    slots: tuple[ProposedSlot, ...]
    unserved: tuple[Unserved, ...]


@dataclass(frozen=True)
class PlanResult:
    proposals: tuple[Proposal, ...]
    candidates_considered: int


# --------------------------------------------------------------------------- parsing


def _parse_clock(hours: str, minutes: str, *, allow_24: bool) -> time | None:
    hour, minute = int(hours), int(minutes)
    if allow_24 and hour == 24 and minute == 0:
        return time(0, 0)
    if hour > 23 or minute > 59:
        return None
    return time(hour, minute)


def parse_hours(value: str) -> tuple[time, time]:
    """Parse ``"HH:MM-HH:MM"`` (the end may be ``24:00``, same as ``00:00``)."""
    match = _HOURS_RE.match(value) if isinstance(value, str) else None
    if match is not None:
        start = _parse_clock(match[1], match[2], allow_24=False)
        end = _parse_clock(match[3], match[4], allow_24=True)
        if start is not None and end is not None:
            return start, end
    raise SchedulingError(
        "INVALID_HOURS",
        f'invalid hours {value!r}, expected "HH:MM-HH:MM" such as "08:00-22:00"',
        field="hours",
    )


_CHAPTER_KEYS = frozenset({"code", "name", "timezone", "hours"})


def parse_chapters_json(data: object) -> list[ChapterWindow]:
    """Parse ``[{"code", "name"?, "timezone", "hours"?}, ...]`` into chapter windows.

    ``name`` defaults to the code and ``hours`` to ``"08:00-22:00"``. Any problem
    raises :class:`SchedulingError` with a one-line message naming the entry, e.g.
    ``chapters[3] ("NG"): unknown time zone "Africa/Lagoss"``.
    """
    if not isinstance(data, list):
        raise SchedulingError(
            "INVALID_CHAPTERS",
            f"chapters: expected a list of chapter objects, got {type(data).__name__}",
            field="chapters",
        )
    chapters: list[ChapterWindow] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(data):
        where = f"chapters[{index}]"
        if not isinstance(entry, Mapping):
            raise SchedulingError(
                "INVALID_CHAPTER",
                f"{where}: expected an object, got {type(entry).__name__}",
                field=where,
            )
        code = entry.get("code")
        if not isinstance(code, str) or not code.strip():
            raise SchedulingError(
                "INVALID_CHAPTER",
                f'{where}: "code" must be a non-empty string',
                field=f"{where}.code",
            )
        label = f'{where} ("{code}")'
        unknown = sorted(str(key) for key in entry if key not in _CHAPTER_KEYS)
        if unknown:
            raise SchedulingError(
                "INVALID_CHAPTER",
                f"{label}: unknown field(s) {', '.join(unknown)}",
                field=where,
            )
        if code in seen:
            raise SchedulingError(
                "DUPLICATE_CHAPTER",
                f'{label}: duplicate chapter code "{code}" (already chapters[{seen[code]}])',
                field=f"{where}.code",
            )
        seen[code] = index
        name = entry.get("name", code)
        if not isinstance(name, str) or not name.strip():
            raise SchedulingError(
                "INVALID_CHAPTER",
                f'{label}: "name" must be a non-empty string',
                field=f"{where}.name",
            )
        if "timezone" not in entry:
            raise SchedulingError(
                "INVALID_TIMEZONE", f'{label}: missing "timezone"', field=f"{where}.timezone"
            )
        try:
            zone = load_zone(entry["timezone"], f"{where}.timezone")
        except SchedulingError as exc:
            raise SchedulingError(exc.code, f"{label}: {exc.message}", field=exc.field) from exc
        hours = entry.get("hours", "08:00-22:00")
        try:
            hours_start, hours_end = parse_hours(hours)
        except SchedulingError as exc:
            raise SchedulingError(
                exc.code, f"{label}: {exc.message}", field=f"{where}.hours"
            ) from exc
        chapters.append(ChapterWindow(code, name, zone.key, hours_start, hours_end))
    return chapters


# --------------------------------------------------------------------------- assignment


@functools.cache
def _mask_tables(n: int) -> tuple[tuple[int, ...], tuple[tuple[tuple[int, int], ...], ...]]:
    """Popcount of every ``n``-bit mask and its unset ``(index, bit)`` pairs."""
    popcount = [0] * (1 << n)
    for mask in range(1, 1 << n):
        popcount[mask] = popcount[mask >> 1] + (mask & 1)
    free_bits = tuple(
        tuple((i, 1 << i) for i in range(n) if not mask & (1 << i)) for mask in range(1 << n)
    )
    return tuple(popcount), free_bits


def optimal_assignment(
    costs: Sequence[Sequence[int]], positions: int
) -> tuple[int, tuple[int | None, ...]]:
    """Exact minimum-cost assignment of chapters to distinct positions.

    ``costs[i][j]`` is the (non-negative integer) cost of chapter ``i`` at position
    ``j``; there must be at most ``positions`` chapters and every chapter is placed.
    Returns ``(total cost, occupant)`` where ``occupant[j]`` is the chapter index at
    position ``j`` or ``None`` for an empty position. Among optimal assignments the
    occupant sequence is the lexicographically smallest, an empty position ranking
    after every chapter.

    Bitmask dynamic programme over (chapters placed, empty positions used):
    ``O(2^n * (positions - n + 1) * n)``.
    """
    n = len(costs)
    m = positions
    if n > m:
        raise SchedulingError("TOO_MANY_CHAPTERS", f"{n} chapters for {m} slots", field="chapters")
    if any(len(row) != m for row in costs):
        raise ValueError("every cost row must have one entry per position")
    if n == 0:
        return 0, (None,) * m
    # Encode the tie-break in the cost: weight digit d_j (chapter index, or n for empty)
    # at position j by radix**(m-1-j). Any two distinct occupant sequences then differ in
    # combined cost, and the real cost dominates because it is scaled by radix**m.
    radix = n + 1
    weights = [radix ** (m - 1 - j) for j in range(m)]
    scale = radix**m
    combined = [
        [costs[i][j] * scale + i * weights[j] for i in range(n)] for j in range(m)
    ]  # combined[j][i]
    empty_cost = [n * weights[j] for j in range(m)]
    max_cost = max((max(row) for row in costs), default=0)
    infinity = (m * max_cost + 1) * scale

    empties = m - n
    full = 1 << n
    popcount, free_bits = _mask_tables(n)
    best = [infinity] * (full * (empties + 1))
    choice = [-2] * (full * (empties + 1))  # chapter index, or -1 for "leave empty"
    best[0] = 0
    for used_empty in range(empties + 1):
        base = used_empty * full
        for mask in range(full):
            value = best[base + mask]
            if value == infinity:
                continue
            position = popcount[mask] + used_empty
            if position == m:
                continue
            column = combined[position]
            for i, bit in free_bits[mask]:
                state = base + (mask | bit)
                candidate = value + column[i]
                if candidate < best[state]:
                    best[state] = candidate
                    choice[state] = i
            if used_empty < empties:
                state = base + full + mask
                candidate = value + empty_cost[position]
                if candidate < best[state]:
                    best[state] = candidate
                    choice[state] = -1

    occupant: list[int | None] = [None] * m
    mask, used_empty = full - 1, empties
    for position in range(m - 1, -1, -1):
        picked = choice[used_empty * full + mask]
        if picked == -1:
            used_empty -= 1
        else:
            occupant[position] = picked
            mask ^= 1 << picked
    total = sum(costs[i][j] for j, i in enumerate(occupant) if i is not None)
    return total, tuple(occupant)


# --------------------------------------------------------------------------- planning


def candidate_starts(day: date, zone: ZoneInfo, step_minutes: int) -> list[datetime]:
    """UTC instants whose local wall time on ``day`` is ``00:00 + k * step_minutes``.

    Nonexistent local times (spring forward) are skipped; ambiguous ones (fall back)
    yield both instants. Sorted, without duplicates.
    """
    found: set[datetime] = set()
    for k in range((24 * 60 + step_minutes - 1) // step_minutes):
        wall = datetime.combine(day, time(0, 0)) + k * step_minutes * _MINUTE
        if wall.date() != day:
            break
        for fold in (0, 1):
            instant = wall.replace(tzinfo=zone, fold=fold).astimezone(UTC)
            if instant.astimezone(zone).replace(tzinfo=None) == wall:
                found.add(instant)
    return sorted(found)


def _validate_chapters(chapters: Sequence[ChapterWindow]) -> list[ZoneInfo]:
    if len(chapters) == 0:
        raise SchedulingError("NO_CHAPTERS", "at least one chapter is required", field="chapters")
    zones: list[ZoneInfo] = []
    seen: dict[str, int] = {}
    for index, chapter in enumerate(chapters):
        where = f"chapters[{index}]"
        if not isinstance(chapter.code, str) or not chapter.code:
            raise SchedulingError(
                "INVALID_CHAPTER",
                f"{where}: code must be a non-empty string",
                field=f"{where}.code",
            )
        label = f'{where} ("{chapter.code}")'
        if chapter.code in seen:
            raise SchedulingError(
                "DUPLICATE_CHAPTER",
                f'{label}: duplicate chapter code "{chapter.code}"'
                f" (already chapters[{seen[chapter.code]}])",
                field=f"{where}.code",
            )
        seen[chapter.code] = index
        for attribute in ("hours_start", "hours_end"):
            value = getattr(chapter, attribute)
            if not isinstance(value, time) or value.tzinfo is not None:
                raise SchedulingError(
                    "INVALID_HOURS",
                    f"{label}: {attribute} must be a naive datetime.time",
                    field=f"{where}.{attribute}",
                )
        try:
            zones.append(load_zone(chapter.timezone, f"{where}.timezone"))
        except SchedulingError as exc:
            raise SchedulingError(exc.code, f"{label}: {exc.message}", field=exc.field) from exc
    return zones


def plan(
    date: date,
    reference_timezone: str,
    chapters: Sequence[ChapterWindow],
    params: AgendaParams,
    top: int = 3,
    step_minutes: int = 15,
) -> PlanResult:
    """Best ``top`` proposals for an event starting on ``date`` in the reference zone.

    Candidate starts are :func:`candidate_starts`; each gets an exactly optimal slot
    order (see :func:`optimal_assignment`) and candidates are ranked by
    ``(minutes_outside_total, session_minutes_outside_total, starts_at)``.
    """
    reference = load_zone(reference_timezone, "timezone")
    zones = _validate_chapters(chapters)
    duration = total_minutes(params)
    slots = [
        (item.position, item.start_offset * 60, item.end_offset * 60)
        for item in build_agenda(params, duration)
        if item.kind == "slot" and item.position is not None
    ]
    if len(chapters) > params.slots:
        raise SchedulingError(
            "TOO_MANY_CHAPTERS",
            f"{len(chapters)} chapters but the agenda has only {params.slots} slots",
            field="chapters",
        )
    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise SchedulingError("INVALID_TOP", f"top must be >= 1, got {top!r}", field="top")
    if (
        isinstance(step_minutes, bool)
        or not isinstance(step_minutes, int)
        or not 1 <= step_minutes <= 1440
    ):
        raise SchedulingError(
            "INVALID_MINUTES",
            f"step_minutes must be between 1 and 1440, got {step_minutes!r}",
            field="step_minutes",
        )

    starts = [
        (instant - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(seconds=1)
        for instant in candidate_starts(date, reference, step_minutes)
    ]
    if not starts:  # a date the reference zone skipped entirely (e.g. Pacific/Apia 2011-12-30)
        return PlanResult(proposals=(), candidates_considered=0)
    session = duration * 60
    span_start, span_end = starts[0], starts[-1] + session
    # One offset profile per distinct zone, covering every candidate event.
    pieces_by_zone: dict[str, list[OffsetPiece]] = {}
    for zone in zones:
        if zone.key not in pieces_by_zone:
            pieces_by_zone[zone.key] = offset_pieces(zone, span_start, span_end)
    profiles = [
        (
            zone.key,
            seconds_of_day(chapter.hours_start),
            seconds_of_day(chapter.hours_end),
        )
        for chapter, zone in zip(chapters, zones, strict=True)
    ]
    cache: dict[tuple[str, int, int, int, int], int] = {}

    def outside(profile: tuple[str, int, int], start: int, end: int) -> int:
        key = (*profile, start, end)
        cached = cache.get(key)
        if cached is None:
            zone_key, window_start, window_end = profile
            inside = inside_seconds(pieces_by_zone[zone_key], start, end, window_start, window_end)
            cached = (end - start - inside) // 60
            cache[key] = cached
        return cached

    ranked: list[tuple[int, int, int, tuple[int | None, ...], list[list[int]]]] = []
    for start in starts:
        costs = [
            [outside(profile, start + begin, start + finish) for _, begin, finish in slots]
            for profile in profiles
        ]
        total, occupant = optimal_assignment(costs, params.slots)
        session_total = sum(outside(profile, start, start + session) for profile in profiles)
        ranked.append((total, session_total, start, occupant, costs))
    ranked.sort(key=lambda entry: entry[:3])

    proposals: list[Proposal] = []
    for total, session_total, start, occupant, costs in ranked[:top]:
        proposed: list[ProposedSlot] = []
        for (position, begin, finish), index in zip(slots, occupant, strict=True):
            if index is None:
                continue
            slot_start, slot_end = from_posix(start + begin), from_posix(start + finish)
            proposed.append(
                ProposedSlot(
                    position=position,
                    chapter=chapters[index].code,
                    starts_at=slot_start,
                    ends_at=slot_end,
                    local_start=slot_start.astimezone(zones[index]),
                    local_end=slot_end.astimezone(zones[index]),
                    minutes_outside=costs[index][position - 1],
                )
            )
        proposals.append(
            Proposal(
                starts_at=from_posix(start),
                ends_at=from_posix(start + session),
                order=tuple(slot.chapter for slot in proposed),
                minutes_outside_total=total,
                session_minutes_outside_total=session_total,
                slots=tuple(proposed),
                unserved=tuple(
                    Unserved(slot.chapter, slot.minutes_outside)
                    for slot in proposed
                    if slot.minutes_outside > 0
                ),
            )
        )
    return PlanResult(proposals=tuple(proposals), candidates_considered=len(starts))


# --------------------------------------------------------------------------- JSON


def _utc_iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def proposal_to_json(proposal: Proposal) -> dict[str, Any]:
    """JSON-ready dict; UTC times end in ``Z``, local times carry their offset."""
    return {
        "starts_at": _utc_iso(proposal.starts_at),
        "ends_at": _utc_iso(proposal.ends_at),
        "order": list(proposal.order),
        "minutes_outside_total": proposal.minutes_outside_total,
        "session_minutes_outside_total": proposal.session_minutes_outside_total,
        "slots": [
            {
                "position": slot.position,
                "chapter": slot.chapter,
                "starts_at": _utc_iso(slot.starts_at),
                "ends_at": _utc_iso(slot.ends_at),
                "local_start": slot.local_start.isoformat(),
                "local_end": slot.local_end.isoformat(),
                "minutes_outside": slot.minutes_outside,
            }
            for slot in proposal.slots
        ],
        "unserved": [
            {"chapter": item.chapter, "minutes_outside": item.minutes_outside}
            for item in proposal.unserved
        ],
    }
