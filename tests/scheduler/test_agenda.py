from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.agenda import (
    ActualTimes,
    AgendaItem,
    AgendaParams,
    Break,
    PlannedSlot,
    SlotEstimate,
    build_agenda,
    estimate_running_order,
    planned_slots,
    slot_times,
    total_minutes,
)
from scheduler.errors import SchedulingError


def at(hour: int, minute: int, second: int = 0) -> datetime:
    return datetime(2026, 12, 5, hour, minute, second, tzinfo=UTC)


# --------------------------------------------------------------------------- agenda


def test_total_minutes_default_is_270() -> None:
    assert total_minutes(AgendaParams()) == 270


def test_build_agenda_default_has_exact_offsets() -> None:
    slot = [
        AgendaItem("slot", p, 15 + 23 * (p - 1), 38 + 23 * (p - 1), 30 + 23 * (p - 1))
        for p in range(1, 6)
    ]
    later = [
        AgendaItem("slot", p, 140 + 23 * (p - 6), 163 + 23 * (p - 6), 155 + 23 * (p - 6))
        for p in range(6, 11)
    ]
    assert build_agenda(AgendaParams(), 270) == (
        AgendaItem("opening", None, 0, 15),
        *slot,
        AgendaItem("break", None, 130, 140),
        *later,
        AgendaItem("closing", None, 255, 270),
    )


def test_build_agenda_default_spot_checks() -> None:
    items = build_agenda(AgendaParams(), 300)
    assert items[1] == AgendaItem("slot", 1, 15, 38, 30)
    assert items[6] == AgendaItem("break", None, 130, 140)
    assert items[7] == AgendaItem("slot", 6, 140, 163, 155)
    assert items[-2] == AgendaItem("slot", 10, 232, 255, 247)
    assert items[-1] == AgendaItem("closing", None, 255, 270)


def test_build_agenda_several_breaks_are_in_slot_order() -> None:
    params = AgendaParams(
        opening=5, slots=3, presentation=10, debate=5, breaks=(Break(2, 7), Break(1, 3)), closing=0
    )
    assert build_agenda(params, 60) == (
        AgendaItem("opening", None, 0, 5),
        AgendaItem("slot", 1, 5, 20, 15),
        AgendaItem("break", None, 20, 23),
        AgendaItem("slot", 2, 23, 38, 33),
        AgendaItem("break", None, 38, 45),
        AgendaItem("slot", 3, 45, 60, 55),
        AgendaItem("closing", None, 60, 60),
    )


def test_build_agenda_too_long_raises_agenda_too_long() -> None:
    with pytest.raises(SchedulingError) as caught:
        build_agenda(AgendaParams(), 240)
    assert caught.value.code == "AGENDA_TOO_LONG"
    assert caught.value.field == "duration_minutes"
    assert str(caught.value) == (
        "the agenda needs 270 minutes but the event lasts only 240 minutes"
    )


@pytest.mark.parametrize(
    "breaks",
    [
        (Break(after_slot=10, minutes=10),),
        (Break(after_slot=0, minutes=10),),
        (Break(after_slot=3, minutes=5), Break(after_slot=3, minutes=5)),
        (Break(after_slot=3, minutes=-1),),
    ],
)
def test_build_agenda_bad_break_raises_invalid_break(breaks: tuple[Break, ...]) -> None:
    with pytest.raises(SchedulingError) as caught:
        build_agenda(AgendaParams(breaks=breaks), 500)
    assert (caught.value.code, caught.value.field) == ("INVALID_BREAK", "breaks")


def test_build_agenda_break_after_last_slot_message() -> None:
    with pytest.raises(SchedulingError, match=r"^breaks\[0\]: after_slot must be between 1 and 9"):
        build_agenda(AgendaParams(breaks=(Break(10, 10),)), 500)


@pytest.mark.parametrize(
    ("params", "code", "field"),
    [
        (AgendaParams(opening=-1), "INVALID_MINUTES", "opening"),
        (AgendaParams(closing=-5), "INVALID_MINUTES", "closing"),
        (AgendaParams(debate=-1), "INVALID_MINUTES", "debate"),
        (AgendaParams(presentation=0), "INVALID_MINUTES", "presentation"),
        (AgendaParams(slots=0, breaks=()), "INVALID_SLOTS", "slots"),
    ],
)
def test_build_agenda_bad_minutes_raise_with_field(
    params: AgendaParams, code: str, field: str
) -> None:
    with pytest.raises(SchedulingError) as caught:
        build_agenda(params, 1000)
    assert (caught.value.code, caught.value.field) == (code, field)


def test_build_agenda_negative_duration_raises_invalid_minutes() -> None:
    with pytest.raises(SchedulingError) as caught:
        build_agenda(AgendaParams(), -1)
    assert (caught.value.code, caught.value.field) == ("INVALID_MINUTES", "duration_minutes")


@st.composite
def agenda_params(draw: st.DrawFn) -> AgendaParams:
    slots = draw(st.integers(1, 12))
    after = draw(st.sets(st.integers(1, slots - 1), max_size=3)) if slots > 1 else set()
    breaks = tuple(Break(a, draw(st.integers(0, 30))) for a in sorted(after, reverse=True))
    return AgendaParams(
        opening=draw(st.integers(0, 30)),
        slots=slots,
        presentation=draw(st.integers(1, 40)),
        debate=draw(st.integers(0, 20)),
        breaks=breaks,
        closing=draw(st.integers(0, 30)),
    )


@settings(max_examples=200, deadline=None)
@given(params=agenda_params(), slack=st.integers(0, 60))
def test_build_agenda_random_params_are_contiguous_and_fit(
    params: AgendaParams, slack: int
) -> None:
    duration = total_minutes(params) + slack
    items = build_agenda(params, duration)
    assert items[0].start_offset == 0
    assert items[-1].end_offset == total_minutes(params)
    for before, after in itertools.pairwise(items):
        assert before.end_offset == after.start_offset
    assert all(item.start_offset <= item.end_offset for item in items)
    slots = [item for item in items if item.kind == "slot"]
    assert [item.position for item in slots] == list(range(1, params.slots + 1))
    for item in slots:
        assert item.end_offset - item.start_offset == params.presentation + params.debate
        assert item.presentation_end_offset == item.start_offset + params.presentation
        assert 0 <= item.start_offset < item.end_offset <= duration
    assert len(items) == params.slots + len(params.breaks) + 2


def test_slot_times_converts_to_utc() -> None:
    start = datetime(2026, 12, 5, 10, 0, tzinfo=timezone(timedelta(hours=1)))
    times = slot_times(AgendaParams(), start)
    assert len(times) == 10
    assert times[0] == (1, at(9, 15), at(9, 38))
    assert times[5] == (6, at(11, 20), at(11, 43))
    assert times[9] == (10, at(12, 52), at(13, 15))
    assert times[0][1].tzinfo is UTC


def test_slot_times_naive_start_raises() -> None:
    with pytest.raises(SchedulingError) as caught:
        slot_times(AgendaParams(), datetime(2026, 12, 5, 9, 0))
    assert (caught.value.code, caught.value.field) == ("NAIVE_DATETIME", "starts_at")


# --------------------------------------------------------------------------- running order

PLANNED = planned_slots(AgendaParams(), at(9, 0))


def estimate(position: int, actual: dict[int, ActualTimes], now: datetime) -> SlotEstimate:
    return estimate_running_order(PLANNED, actual, now)[position - 1]


def test_estimate_running_order_nothing_happened_before_start_is_the_plan() -> None:
    result = estimate_running_order(PLANNED, {}, at(8, 0))
    assert [(e.estimated_start, e.estimated_end) for e in result] == [
        (p.starts_at, p.ends_at) for p in PLANNED
    ]
    assert {e.status for e in result} == {"upcoming"}
    assert {e.drift_minutes for e in result} == {0}


def test_estimate_running_order_overrun_propagates_and_keeps_break() -> None:
    actual = {
        1: ActualTimes(actual_start=at(9, 17), actual_end=at(9, 42)),
        2: ActualTimes(actual_start=at(9, 44)),
    }
    result = estimate_running_order(PLANNED, actual, at(9, 50))
    assert result[0] == SlotEstimate(1, at(9, 15), at(9, 38), at(9, 17), at(9, 42), "done", 2)
    assert result[1] == SlotEstimate(2, at(9, 38), at(10, 1), at(9, 44), at(10, 7), "live", 6)
    assert result[2] == SlotEstimate(3, at(10, 1), at(10, 24), at(10, 7), at(10, 30), "upcoming", 6)
    assert result[4] == SlotEstimate(
        5, at(10, 47), at(11, 10), at(10, 53), at(11, 16), "upcoming", 6
    )
    # The 10-minute break after slot 5 is kept: slot 6 starts at 11:16 + 10.
    assert result[5] == SlotEstimate(
        6, at(11, 20), at(11, 43), at(11, 26), at(11, 49), "upcoming", 6
    )


def test_estimate_running_order_live_slot_past_its_end_ends_now() -> None:
    actual = {
        1: ActualTimes(actual_start=at(9, 15), actual_end=at(9, 38)),
        2: ActualTimes(actual_start=at(9, 44), extended_minutes=5),
        3: ActualTimes(skipped=True),
    }
    result = estimate_running_order(PLANNED, actual, at(10, 20))
    assert result[1] == SlotEstimate(2, at(9, 38), at(10, 1), at(9, 44), at(10, 20), "live", 6)
    assert result[2] == SlotEstimate(
        3, at(10, 1), at(10, 24), at(10, 20), at(10, 20), "skipped", 19
    )
    # Skipping slot 3 absorbs the overrun: slot 4 is back on time.
    assert result[3] == SlotEstimate(
        4, at(10, 24), at(10, 47), at(10, 24), at(10, 47), "upcoming", 0
    )


def test_estimate_running_order_extension_lengthens_live_slot() -> None:
    actual = {1: ActualTimes(actual_start=at(9, 15), extended_minutes=4)}
    result = estimate_running_order(PLANNED, actual, at(9, 20))
    assert (result[0].estimated_end, result[0].status) == (at(9, 42), "live")
    assert (result[1].estimated_start, result[1].drift_minutes) == (at(9, 42), 4)


def test_estimate_running_order_early_finish_never_pulls_slots_earlier() -> None:
    actual = {1: ActualTimes(actual_start=at(9, 15), actual_end=at(9, 30))}
    result = estimate_running_order(PLANNED, actual, at(9, 31))
    assert result[1] == SlotEstimate(2, at(9, 38), at(10, 1), at(9, 38), at(10, 1), "upcoming", 0)


def test_estimate_running_order_upcoming_slot_cannot_start_in_the_past() -> None:
    result = estimate_running_order(PLANNED, {}, at(9, 20))
    assert result[0] == SlotEstimate(1, at(9, 15), at(9, 38), at(9, 20), at(9, 43), "upcoming", 5)
    assert result[1].estimated_start == at(9, 43)


@pytest.mark.parametrize(
    ("started", "drift"),
    [(at(9, 15, 29), 0), (at(9, 15, 30), 1), (at(9, 14, 30), 0), (at(9, 14, 29), -1)],
)
def test_estimate_running_order_drift_rounds_half_up(started: datetime, drift: int) -> None:
    result = estimate_running_order(PLANNED, {1: ActualTimes(actual_start=started)}, at(9, 16))
    assert result[0].drift_minutes == drift


def test_estimate_running_order_unknown_slot_raises() -> None:
    with pytest.raises(SchedulingError) as caught:
        estimate_running_order(PLANNED, {11: ActualTimes(skipped=True)}, at(9, 0))
    assert caught.value.code == "UNKNOWN_SLOT"


def test_estimate_running_order_end_before_start_raises() -> None:
    actual = {1: ActualTimes(actual_start=at(9, 30), actual_end=at(9, 20))}
    with pytest.raises(SchedulingError) as caught:
        estimate_running_order(PLANNED, actual, at(9, 40))
    assert (caught.value.code, caught.value.field) == ("INVALID_ACTUAL_TIMES", "actual[1]")


def test_estimate_running_order_naive_now_raises() -> None:
    with pytest.raises(SchedulingError) as caught:
        estimate_running_order(PLANNED, {}, datetime(2026, 12, 5, 9, 0))
    assert (caught.value.code, caught.value.field) == ("NAIVE_DATETIME", "now")


def test_estimate_running_order_uses_position_order() -> None:
    shuffled = [PLANNED[2], PLANNED[0], PlannedSlot(2, PLANNED[1].starts_at, PLANNED[1].ends_at)]
    result = estimate_running_order(shuffled, {}, at(8, 0))
    assert [e.position for e in result] == [1, 2, 3]
