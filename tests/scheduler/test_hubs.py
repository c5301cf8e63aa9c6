"""Hub sessions placed in the hub's local time, with night minutes counted exactly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from scheduler.errors import SchedulingError
from scheduler.hubs import localise

pytestmark = pytest.mark.unit


def test_ietf_session_in_vancouver_falls_at_night_in_cotonou() -> None:
    # 09:30-11:30 in Vancouver (UTC-8) is 17:30-19:30 UTC, 18:30-20:30 in Cotonou (UTC+1):
    # inside the day; four hours later it is 22:30-00:30 in Cotonou: all night.
    start = datetime(2026, 11, 9, 9, 30, tzinfo=timezone(timedelta(hours=-8)))
    day = localise(start, start + timedelta(hours=2), "Africa/Porto-Novo")
    assert (day.local_start.hour, day.local_start.minute, day.night_minutes) == (18, 30, 0)
    late = localise(start + timedelta(hours=4), start + timedelta(hours=6), "Africa/Porto-Novo")
    assert late.local_start.isoformat() == "2026-11-09T22:30:00+01:00"
    assert (late.night_minutes, late.at_night) == (120, True)


def test_session_crossing_local_midnight_counts_both_sides() -> None:
    start = datetime(2026, 6, 1, 20, 0, tzinfo=UTC)  # 21:00-01:00 in Cotonou
    session = localise(start, start + timedelta(hours=4), "Africa/Porto-Novo")
    assert session.local_end.date().isoformat() == "2026-06-02"
    assert session.night_minutes == 180


def test_naive_or_backwards_times_are_refused() -> None:
    with pytest.raises(SchedulingError) as naive:
        localise(datetime(2026, 1, 1, 9), datetime(2026, 1, 1, 10), "Africa/Porto-Novo")
    assert naive.value.code == "NAIVE_DATETIME"
    start = datetime(2026, 1, 1, 9, tzinfo=UTC)
    with pytest.raises(SchedulingError) as backwards:
        localise(start, start, "Africa/Porto-Novo")
    assert backwards.value.code == "INVALID_SESSION"
