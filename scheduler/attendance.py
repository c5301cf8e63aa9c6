"""Attendance arithmetic: one de-duplicated count from join..leave intervals. Pure: no I/O,
``now`` is an argument.

A *person* is whoever the caller says (a registration, or an unmatched guest); each of their
intervals (online from Zoom webhooks or its report, in the room from a hub check-in) is merged
with the others, so a person who joined twice, from two devices, or both in the room and online,
counts once and their minutes are the union of their intervals, never the sum.

Definitions (all times aware UTC):
- an interval still open (``left_at`` None) lasts until ``now``;
- intervals are clipped to the event's window ``[starts_at - early, ends_at + late]``;
- a person *attended* when the union of their clipped intervals lasts at least ``min_minutes``;
- *present now*: an open interval, or one covering ``now`` (even outside the window);
- *concurrent*: how many distinct people are present at an instant (merged per person first, so
  two devices never count twice); the *peak* is its maximum and the first instant it was reached;
- per slot: attended people whose union overlaps the slot's ``[start, end)`` for at least
  ``min_minutes`` (or the whole slot, when it is shorter).
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

ZERO = dt.timedelta(0)


@dataclass(frozen=True)
class Visit:
    person: str  # e.g. "r:12" for registration 12, "g:aicha zinsou" for a guest
    joined_at: dt.datetime
    left_at: dt.datetime | None
    in_person: bool = False


@dataclass(frozen=True)
class SlotWindow:
    slot_id: int
    starts_at: dt.datetime
    ends_at: dt.datetime


@dataclass(frozen=True)
class Window:
    starts_at: dt.datetime
    ends_at: dt.datetime
    early: dt.timedelta = dt.timedelta(minutes=30)  # people join the waiting room early
    late: dt.timedelta = dt.timedelta(minutes=60)  # and debates overrun

    @property
    def first(self) -> dt.datetime:
        return self.starts_at - self.early

    @property
    def last(self) -> dt.datetime:
        return self.ends_at + self.late


Span = tuple[dt.datetime, dt.datetime]


@dataclass(frozen=True)
class Figures:
    attended: int
    present_now: int
    peak: int
    peak_at: dt.datetime | None
    total_minutes: float
    median_minutes: float
    target: int
    in_person: int  # attended people with at least one in-room visit
    online: int  # attended people with at least one online visit
    minutes: Mapping[str, float]  # per attended person
    by_slot: Mapping[int, int]
    timeline: Sequence[tuple[dt.datetime, int]]  # (instant, concurrent from then on)
    breakdowns: Mapping[str, Mapping[str, int]] = field(default_factory=dict)

    @property
    def progress(self) -> float:
        """Share of the participant target reached (1.0 = reached; may exceed 1)."""
        return self.attended / self.target if self.target else 0.0


def merge(spans: Iterable[Span]) -> list[Span]:
    """The union of spans as disjoint, sorted spans (touching spans join)."""
    merged: list[Span] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def length(spans: Iterable[Span]) -> dt.timedelta:
    return sum((end - start for start, end in spans), ZERO)


def overlap(spans: Iterable[Span], start: dt.datetime, end: dt.datetime) -> dt.timedelta:
    return sum(
        (min(e, end) - max(s, start) for s, e in spans if s < end and e > start),
        ZERO,
    )


def _clip(visit: Visit, window: Window, now: dt.datetime) -> Span | None:
    end = visit.left_at if visit.left_at is not None else max(now, visit.joined_at)
    start, end = max(visit.joined_at, window.first), min(end, window.last)
    return (start, end) if start <= end else None


def minutes_by_person(
    visits: Iterable[Visit], window: Window, *, now: dt.datetime
) -> dict[str, float]:
    """Every person's minutes, the union of their visits clipped to the window, whether or not
    they reached the minimum to count as attended (exports list everyone seen)."""
    spans: dict[str, list[Span]] = {}
    for visit in visits:
        clipped = _clip(visit, window, now)
        spans.setdefault(visit.person, [])
        if clipped is not None:
            spans[visit.person].append(clipped)
    return {p: length(merge(found)).total_seconds() / 60 for p, found in sorted(spans.items())}


def compute(
    visits: Iterable[Visit],
    window: Window,
    *,
    now: dt.datetime,
    min_minutes: float = 1.0,
    target: int = 0,
    slots: Sequence[SlotWindow] = (),
    attributes: Mapping[str, Mapping[str, str]] | None = None,
) -> Figures:
    """The event's figures. ``attributes`` maps a person to their breakdown values, e.g.
    ``{"r:12": {"chapter": "BJ", "country": "BJ", "language": "fr"}}``; each breakdown counts
    attended people per value (people without the attribute under ``""``)."""
    spans: dict[str, list[Span]] = {}
    in_person: set[str] = set()
    online: set[str] = set()
    present: set[str] = set()
    for visit in visits:
        if visit.joined_at <= now and (visit.left_at is None or visit.left_at > now):
            present.add(visit.person)  # in the room now, even outside the event's window
        clipped = _clip(visit, window, now)
        if clipped is None:
            continue
        spans.setdefault(visit.person, []).append(clipped)
        (in_person if visit.in_person else online).add(visit.person)
    union = {person: merge(found) for person, found in spans.items()}
    threshold = dt.timedelta(minutes=min_minutes)
    attended = {p for p, found in union.items() if length(found) >= threshold}
    minutes = {p: length(union[p]).total_seconds() / 60 for p in sorted(attended)}

    by_slot: dict[int, int] = {}
    for slot in slots:
        need = min(threshold, slot.ends_at - slot.starts_at)
        by_slot[slot.slot_id] = sum(
            1 for p in attended if overlap(union[p], slot.starts_at, slot.ends_at) >= need
        )

    timeline = _timeline(union[p] for p in attended)
    peak, peak_at = 0, None
    for instant, count in timeline:
        if count > peak:
            peak, peak_at = count, instant

    known = attributes or {}
    names = sorted({name for values in known.values() for name in values})
    breakdowns: dict[str, Counter[str]] = {name: Counter() for name in names}
    for person in attended:
        for name in names:
            breakdowns[name][known.get(person, {}).get(name, "")] += 1

    return Figures(
        attended=len(attended),
        present_now=len(present),
        peak=peak,
        peak_at=peak_at,
        total_minutes=round(sum(minutes.values()), 2),
        median_minutes=round(statistics.median(minutes.values()), 2) if minutes else 0.0,
        target=target,
        in_person=len(attended & in_person),
        online=len(attended & online),
        minutes=minutes,
        by_slot=by_slot,
        timeline=timeline,
        breakdowns={name: dict(sorted(counts.items())) for name, counts in breakdowns.items()},
    )


def _timeline(unions: Iterable[list[Span]]) -> list[tuple[dt.datetime, int]]:
    """Concurrent people as steps: each instant where the count changes, and the new count."""
    delta: Counter[dt.datetime] = Counter()
    for found in unions:
        for start, end in found:
            if end > start:
                delta[start] += 1
                delta[end] -= 1
    steps: list[tuple[dt.datetime, int]] = []
    current = 0
    for instant in sorted(delta):
        if delta[instant] == 0:
            continue
        current += delta[instant]
        steps.append((instant, current))
    return steps
