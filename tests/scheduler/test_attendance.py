"""Attendance arithmetic on constructed interval sets: exact counts and minutes."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scheduler.attendance import SlotWindow, Visit, Window, compute, length, merge

pytestmark = pytest.mark.unit

T0 = dt.datetime(2026, 12, 19, 12, 0, tzinfo=dt.UTC)
WINDOW = Window(T0, T0 + dt.timedelta(minutes=270))


def at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def visit(person: str, start: float, end: float | None, *, room: bool = False) -> Visit:
    return Visit(person, at(start), None if end is None else at(end), in_person=room)


def test_overlaps_rejoins_two_devices_phone_and_room_plus_online() -> None:
    visits = [
        visit("r:1", 0, 60),
        visit("r:1", 30, 90),  # a second device, overlapping: the union is 0..90
        visit("r:2", 0, 20),
        visit("r:2", 50, 70),  # re-joined: 20 + 20 minutes
        visit("g:phone 1", 10, 40),  # a phone participant, unmatched: counts as a person
        visit("r:3", 0, 120, room=True),  # in the hub's room ...
        visit("r:3", 100, 150),  # ... and online afterwards: one person, 0..150
        visit("r:4", 5, 5.5),  # 30 seconds: under the 1-minute minimum
    ]
    figures = compute(visits, WINDOW, now=at(300), target=150)
    assert figures.attended == 4
    assert figures.minutes == {"g:phone 1": 30.0, "r:1": 90.0, "r:2": 40.0, "r:3": 150.0}
    assert figures.total_minutes == 310.0
    assert figures.median_minutes == 65.0
    assert (figures.in_person, figures.online) == (1, 4)
    assert figures.present_now == 0
    assert figures.peak == 4  # at minute 10: r:1, r:2, phone, r:3
    assert figures.peak_at == at(10)
    assert figures.progress == pytest.approx(4 / 150)


def test_concurrency_never_counts_two_devices_twice() -> None:
    figures = compute(
        [visit("r:1", 0, 60), visit("r:1", 0, 60), visit("r:1", 10, 20)], WINDOW, now=at(300)
    )
    assert figures.peak == 1
    assert figures.timeline == [(at(0), 1), (at(60), 0)]


def test_open_intervals_last_until_now_and_are_present() -> None:
    figures = compute([visit("r:1", 0, None), visit("r:2", 0, 10)], WINDOW, now=at(45))
    assert figures.present_now == 1
    assert figures.minutes == {"r:1": 45.0, "r:2": 10.0}


def test_intervals_are_clipped_to_the_event_window() -> None:
    window = Window(T0, at(60), early=dt.timedelta(minutes=30), late=dt.timedelta(minutes=10))
    figures = compute([visit("r:1", -90, 200)], window, now=at(500))
    assert figures.minutes == {"r:1": 100.0}  # -30 .. 70


def test_slots_count_people_present_during_each_presentation() -> None:
    slots = [
        SlotWindow(1, at(0), at(25)),
        SlotWindow(2, at(25), at(50)),
        SlotWindow(3, at(50), at(50.5)),  # shorter than the minimum: any full presence counts
    ]
    visits = [
        visit("r:1", 0, 60),  # across every boundary
        visit("r:2", 24.5, 40),  # 30 s in slot 1: not counted there
        visit("r:3", 49, 51),  # 1 min in slot 2, the whole of slot 3
    ]
    figures = compute(visits, WINDOW, now=at(300), slots=slots)
    assert figures.by_slot == {1: 1, 2: 3, 3: 2}


def test_breakdowns_count_attended_people_once_per_value() -> None:
    visits = [visit("r:1", 0, 30), visit("r:1", 40, 50), visit("r:2", 0, 30), visit("g:x", 0, 30)]
    attributes = {
        "r:1": {"chapter": "BJ", "language": "fr"},
        "r:2": {"chapter": "KE", "language": "en"},
    }
    figures = compute(visits, WINDOW, now=at(300), attributes=attributes)
    assert figures.breakdowns == {
        "chapter": {"": 1, "BJ": 1, "KE": 1},
        "language": {"": 1, "en": 1, "fr": 1},
    }


minutes = st.integers(min_value=-60, max_value=400)


@given(st.lists(st.tuples(st.sampled_from("abc"), minutes, minutes), max_size=12))
def test_duplicating_and_reordering_visits_changes_nothing(
    raw: list[tuple[str, int, int]],
) -> None:
    visits = [visit(p, min(a, b), max(a, b)) for p, a, b in raw]
    once = compute(visits, WINDOW, now=at(500))
    twice = compute(list(reversed(visits * 2)), WINDOW, now=at(500))
    assert once == twice
    for person, spent in once.minutes.items():
        clipped = [
            (max(v.joined_at, WINDOW.first), min(v.left_at or at(500), WINDOW.last))
            for v in visits
            if v.person == person
        ]
        spans = merge((start, end) for start, end in clipped if start <= end)
        assert spent == length(spans).total_seconds() / 60
