from __future__ import annotations

import itertools
import time as clock
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.agenda import AgendaParams, Break, slot_times, total_minutes
from scheduler.errors import SchedulingError
from scheduler.planner import (
    ChapterWindow,
    Proposal,
    ProposedSlot,
    Unserved,
    candidate_starts,
    optimal_assignment,
    parse_chapters_json,
    parse_hours,
    plan,
    proposal_to_json,
)
from scheduler.timezones import minutes_outside

DAY_HOURS = (time(8, 0), time(22, 0))
NIGHT_HOURS = (time(20, 0), time(2, 0))  # wraps past midnight


def utc(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def outside(start: datetime, minutes: int, zone: str, hours: tuple[time, time]) -> int:
    return minutes_outside(start, start + timedelta(minutes=minutes), zone, *hours)


# --------------------------------------------------------------------------- minutes_outside


def test_minutes_outside_kolkata_half_hour_offset() -> None:
    # 16:15Z-16:38Z is 21:45-22:08 IST (+05:30): 8 minutes after 22:00.
    assert outside(utc(2026, 12, 5, 16, 15), 23, "Asia/Kolkata", DAY_HOURS) == 8
    # 16:00Z-16:23Z is 21:30-21:53 IST: inside.
    assert outside(utc(2026, 12, 5, 16, 0), 23, "Asia/Kolkata", DAY_HOURS) == 0


def test_minutes_outside_kathmandu_45_minute_offset() -> None:
    # 02:00Z-02:23Z is 07:45-08:08 NPT (+05:45): 15 minutes before 08:00.
    assert outside(utc(2026, 12, 5, 2, 0), 23, "Asia/Kathmandu", DAY_HOURS) == 15


def test_minutes_outside_st_johns_standard_and_daylight_offsets() -> None:
    # Winter -03:30: 11:20Z-11:43Z is 07:50-08:13.
    assert outside(utc(2026, 12, 5, 11, 20), 23, "America/St_Johns", DAY_HOURS) == 10
    # Summer -02:30: 10:20Z-10:43Z is 07:50-08:13.
    assert outside(utc(2026, 7, 1, 10, 20), 23, "America/St_Johns", DAY_HOURS) == 10


def test_minutes_outside_st_johns_spring_forward_with_wrapping_window() -> None:
    # 2026-03-08 02:00 NST (05:30Z) jumps to 03:00 NDT. 05:00Z-06:00Z is 01:30-02:00 NST
    # (inside 20:00-02:00) then 03:00-03:30 NDT (outside).
    assert outside(utc(2026, 3, 8, 5, 0), 60, "America/St_Johns", NIGHT_HOURS) == 30


def test_minutes_outside_porto_novo() -> None:
    # +01:00 all year: 20:45Z-21:08Z is 21:45-22:08.
    assert outside(utc(2026, 12, 5, 20, 45), 23, "Africa/Porto-Novo", DAY_HOURS) == 8


def test_minutes_outside_porto_novo_wrapping_window() -> None:
    # 00:30Z-01:30Z is 01:30-02:30 local; 20:00-02:00 accepts only 01:30-02:00.
    assert outside(utc(2026, 12, 5, 0, 30), 60, "Africa/Porto-Novo", NIGHT_HOURS) == 30
    # 18:30Z-20:30Z is 19:30-21:30 local: 30 minutes before 20:00.
    assert outside(utc(2026, 12, 5, 18, 30), 120, "Africa/Porto-Novo", NIGHT_HOURS) == 30


def test_minutes_outside_paris_fall_back_day_has_25_hours() -> None:
    # 2026-10-25 00:00 CEST (22:00Z on the 24th) to 23:00 CET (22:00Z): 24 real hours.
    # 00:00-08:00 local lasts 9 hours that day (540) and 22:00-23:00 adds 60.
    assert outside(utc(2026, 10, 24, 22), 24 * 60, "Europe/Paris", DAY_HOURS) == 600


def test_minutes_outside_paris_spring_forward_day_has_23_hours() -> None:
    # 2026-03-29 00:00 CET (23:00Z on the 28th) to 24:00 CEST (22:00Z): 23 real hours.
    # 00:00-08:00 local lasts 7 hours (420) plus 22:00-24:00 (120).
    assert outside(utc(2026, 3, 28, 23), 23 * 60, "Europe/Paris", DAY_HOURS) == 540


def test_minutes_outside_paris_repeated_hour_counts_both_passes() -> None:
    # 00:00Z-01:30Z on 2026-10-25 is 02:00-03:00 CEST then 02:00-02:30 CET. With hours
    # from 02:30, both 02:00-02:30 passes are outside: 60 minutes.
    hours = (time(2, 30), time(22, 0))
    assert outside(utc(2026, 10, 25, 0), 90, "Europe/Paris", hours) == 60


def test_minutes_outside_new_york_fall_back_day() -> None:
    # 2026-11-01 00:00 EDT (04:00Z) to 2026-11-02 00:00 EST (05:00Z) is 25 hours; 08:00-22:00
    # EST is 840 minutes inside, so 1500 - 840 = 660 outside.
    assert outside(utc(2026, 11, 1, 4), 25 * 60, "America/New_York", DAY_HOURS) == 660


def test_minutes_outside_new_york_fall_back_with_wrapping_window() -> None:
    # 04:00Z-08:00Z on 2026-11-01: 00:00-02:00 EDT inside, then 01:00-02:00 EST inside again
    # and 02:00-03:00 EST outside.
    assert outside(utc(2026, 11, 1, 4), 240, "America/New_York", NIGHT_HOURS) == 60


def test_minutes_outside_auckland() -> None:
    # NZDT +13: 08:50Z-09:13Z is 21:50-22:13.
    assert outside(utc(2026, 12, 5, 8, 50), 23, "Pacific/Auckland", DAY_HOURS) == 13
    # NZST +12 after 2026-04-05 03:00 NZDT -> 02:00 NZST (14:00Z on the 4th):
    # 19:50Z-20:13Z on the 5th is 07:50-08:13.
    assert outside(utc(2026, 4, 5, 19, 50), 23, "Pacific/Auckland", DAY_HOURS) == 10


def test_minutes_outside_los_angeles() -> None:
    # PST -08:00: 15:45Z-16:08Z is 07:45-08:08.
    assert outside(utc(2026, 12, 5, 15, 45), 23, "America/Los_Angeles", DAY_HOURS) == 15
    # PDT -07:00: 14:45Z-15:08Z is 07:45-08:08.
    assert outside(utc(2026, 7, 1, 14, 45), 23, "America/Los_Angeles", DAY_HOURS) == 15


def test_minutes_outside_tokyo() -> None:
    # +09:00: 12:50Z-13:13Z is 21:50-22:13.
    assert outside(utc(2026, 12, 5, 12, 50), 23, "Asia/Tokyo", DAY_HOURS) == 13


def test_minutes_outside_nairobi() -> None:
    # +03:00: 04:40Z-05:03Z is 07:40-08:03.
    assert outside(utc(2026, 12, 5, 4, 40), 23, "Africa/Nairobi", DAY_HOURS) == 20


def test_minutes_outside_slot_crossing_local_midnight() -> None:
    # 14:50Z-15:13Z is 23:50 on the 5th to 00:13 on the 6th in Tokyo.
    start = utc(2026, 12, 5, 14, 50)
    assert outside(start, 23, "Asia/Tokyo", DAY_HOURS) == 23
    assert outside(start, 23, "Asia/Tokyo", NIGHT_HOURS) == 0
    # A window ending at 00:00 wraps: 22:00-24:00 accepts 23:50-24:00 only.
    assert outside(start, 23, "Asia/Tokyo", (time(22, 0), time(0, 0))) == 13


def test_minutes_outside_whole_day_window_is_never_outside() -> None:
    hours = (time(8, 0), time(8, 0))
    assert outside(utc(2026, 10, 24, 20), 600, "Europe/Paris", hours) == 0


def test_minutes_outside_empty_interval_is_zero() -> None:
    assert outside(utc(2026, 12, 5, 3), 0, "Asia/Tokyo", DAY_HOURS) == 0


def test_minutes_outside_reversed_interval_raises() -> None:
    with pytest.raises(SchedulingError) as caught:
        minutes_outside(utc(2026, 12, 5, 3), utc(2026, 12, 5, 2), "Asia/Tokyo", *DAY_HOURS)
    assert caught.value.code == "INVALID_INTERVAL"


ZONES = [
    "Europe/Paris",
    "America/New_York",
    "America/St_Johns",
    "America/Los_Angeles",
    "America/Sao_Paulo",
    "America/Santiago",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Asia/Tokyo",
    "Asia/Tehran",
    "Africa/Porto-Novo",
    "Africa/Nairobi",
    "Pacific/Auckland",
    "Pacific/Chatham",
    "Australia/Lord_Howe",
    "Pacific/Kiritimati",
]


def outside_by_the_minute(
    start: datetime, end: datetime, zone: str, hours_start: time, hours_end: time
) -> int:
    """Reference: test every minute's local wall time."""
    tz = ZoneInfo(zone)
    count = 0
    moment = start
    while moment < end:
        wall = moment.astimezone(tz).time()
        if hours_start < hours_end:
            inside = hours_start <= wall < hours_end
        else:
            inside = wall >= hours_start or wall < hours_end
        count += not inside
        moment += timedelta(minutes=1)
    return count


TRANSITION_DAYS = [
    utc(2026, 3, 8, 0),  # United States / Canada spring forward
    utc(2026, 3, 29, 0),  # European Union spring forward
    utc(2026, 4, 4, 0),  # Chile, Lord Howe, New Zealand fall back
    utc(2026, 9, 5, 0),  # Chile spring forward
    utc(2026, 9, 26, 0),  # New Zealand spring forward
    utc(2026, 10, 4, 0),  # Lord Howe spring forward
    utc(2026, 10, 25, 0),  # European Union fall back
    utc(2026, 11, 1, 0),  # United States / Canada fall back
]


@settings(max_examples=300, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    day=st.sampled_from(TRANSITION_DAYS),
    offset=st.integers(-36 * 60, 60 * 60),
    length=st.integers(0, 30 * 60),
    start_minute=st.integers(0, 24 * 60 - 1),
    end_minute=st.integers(0, 24 * 60 - 1),
)
def test_minutes_outside_matches_minute_by_minute_reference(
    zone: str, day: datetime, offset: int, length: int, start_minute: int, end_minute: int
) -> None:
    start = day + timedelta(minutes=offset)
    end = start + timedelta(minutes=length)
    hours_start = time(start_minute // 60, start_minute % 60)
    hours_end = time(end_minute // 60, end_minute % 60)
    assert minutes_outside(start, end, zone, hours_start, hours_end) == outside_by_the_minute(
        start, end, zone, hours_start, hours_end
    )


# --------------------------------------------------------------------------- parse_hours


def test_parse_hours_accepts_wrapping_and_24() -> None:
    assert parse_hours("08:00-22:00") == (time(8, 0), time(22, 0))
    assert parse_hours("20:00-02:00") == (time(20, 0), time(2, 0))
    assert parse_hours(" 7:30 - 24:00 ") == (time(7, 30), time(0, 0))


@pytest.mark.parametrize(
    "value", ["", "8-22", "08:00", "25:00-02:00", "08:60-22:00", "24:00-08:00"]
)
def test_parse_hours_malformed_raises_invalid_hours(value: str) -> None:
    with pytest.raises(SchedulingError) as caught:
        parse_hours(value)
    assert (caught.value.code, caught.value.field) == ("INVALID_HOURS", "hours")


# --------------------------------------------------------------------------- candidates


def test_plan_normal_day_considers_96_candidates() -> None:
    chapters = [ChapterWindow("FR", "France", "Europe/Paris")]
    result = plan(date(2026, 12, 5), "Europe/Paris", chapters, AgendaParams())
    assert result.candidates_considered == 96


def test_plan_fall_back_day_considers_100_candidates() -> None:
    chapters = [ChapterWindow("FR", "France", "Europe/Paris")]
    result = plan(date(2026, 10, 25), "Europe/Paris", chapters, AgendaParams())
    assert result.candidates_considered == 100


def test_plan_spring_forward_day_considers_92_candidates() -> None:
    chapters = [ChapterWindow("FR", "France", "Europe/Paris")]
    result = plan(date(2026, 3, 29), "Europe/Paris", chapters, AgendaParams())
    assert result.candidates_considered == 92


def test_candidate_starts_fall_back_day_has_both_0200() -> None:
    starts = candidate_starts(date(2026, 10, 25), ZoneInfo("Europe/Paris"), 60)
    assert starts[:5] == [
        utc(2026, 10, 24, 22),  # 00:00 CEST
        utc(2026, 10, 24, 23),  # 01:00 CEST
        utc(2026, 10, 25, 0),  # 02:00 CEST
        utc(2026, 10, 25, 1),  # 02:00 CET
        utc(2026, 10, 25, 2),  # 03:00 CET
    ]
    assert len(starts) == 25
    assert starts[-1] == utc(2026, 10, 25, 22)  # 23:00 CET


def test_candidate_starts_spring_forward_day_skips_0200() -> None:
    starts = candidate_starts(date(2026, 3, 29), ZoneInfo("Europe/Paris"), 60)
    assert starts[:3] == [utc(2026, 3, 28, 23), utc(2026, 3, 29, 0), utc(2026, 3, 29, 1)]
    assert len(starts) == 23


# --------------------------------------------------------------------------- plan

TWO_SLOTS = AgendaParams(opening=0, slots=2, presentation=15, debate=8, breaks=(), closing=0)
FRANCE = ChapterWindow("FR", "France", "Europe/Paris")
KIRIBATI = ChapterWindow("KI", "Kiribati", "Pacific/Kiritimati", time(9, 0), time(9, 10))


def test_plan_unservable_chapter_is_listed_with_exact_minutes() -> None:
    # Kiritimati (+14) accepts only 09:00-09:10; a 23-minute slot is at least 13 minutes out.
    result = plan(date(2026, 12, 5), "Europe/Paris", [FRANCE, KIRIBATI], TWO_SLOTS)
    best, second, third = result.proposals
    assert (best.starts_at, best.order, best.minutes_outside_total) == (
        utc(2026, 12, 5, 18, 30),
        ("FR", "KI"),
        13,
    )
    assert best.unserved == (Unserved("KI", 13),)
    # Same presenter and session totals: the earlier start wins.
    assert (second.starts_at, second.order, second.unserved) == (
        utc(2026, 12, 5, 19, 0),
        ("KI", "FR"),
        (Unserved("KI", 13),),
    )
    assert (best.session_minutes_outside_total, second.session_minutes_outside_total) == (36, 36)
    assert (third.starts_at, third.minutes_outside_total) == (utc(2026, 12, 5, 18, 45), 15)


def test_proposal_to_json_known_case_exact_shape() -> None:
    result = plan(date(2026, 12, 5), "Europe/Paris", [FRANCE, KIRIBATI], TWO_SLOTS, top=1)
    assert proposal_to_json(result.proposals[0]) == {
        "starts_at": "2026-12-05T18:30:00Z",
        "ends_at": "2026-12-05T19:16:00Z",
        "order": ["FR", "KI"],
        "minutes_outside_total": 13,
        "session_minutes_outside_total": 36,
        "slots": [
            {
                "position": 1,
                "chapter": "FR",
                "starts_at": "2026-12-05T18:30:00Z",
                "ends_at": "2026-12-05T18:53:00Z",
                "local_start": "2026-12-05T19:30:00+01:00",
                "local_end": "2026-12-05T19:53:00+01:00",
                "minutes_outside": 0,
            },
            {
                "position": 2,
                "chapter": "KI",
                "starts_at": "2026-12-05T18:53:00Z",
                "ends_at": "2026-12-05T19:16:00Z",
                "local_start": "2026-12-06T08:53:00+14:00",
                "local_end": "2026-12-06T09:16:00+14:00",
                "minutes_outside": 13,
            },
        ],
        "unserved": [{"chapter": "KI", "minutes_outside": 13}],
    }


def test_proposal_to_json_local_times_keep_half_hour_offset() -> None:
    start, end = utc(2026, 12, 5, 9, 0), utc(2026, 12, 5, 9, 23)
    kolkata = ZoneInfo("Asia/Kolkata")
    proposal = Proposal(
        starts_at=start,
        ends_at=end,
        order=("IN",),
        minutes_outside_total=0,
        session_minutes_outside_total=0,
        slots=(
            ProposedSlot(
                1, "IN", start, end, start.astimezone(kolkata), end.astimezone(kolkata), 0
            ),
        ),
        unserved=(),
    )
    slot = proposal_to_json(proposal)["slots"][0]
    assert (slot["starts_at"], slot["local_start"], slot["local_end"]) == (
        "2026-12-05T09:00:00Z",
        "2026-12-05T14:30:00+05:30",
        "2026-12-05T14:53:00+05:30",
    )


def test_plan_fewer_chapters_than_slots_leaves_later_slots_empty() -> None:
    params = AgendaParams(opening=0, slots=3, presentation=15, debate=8, breaks=(), closing=0)
    result = plan(date(2026, 12, 5), "Europe/Paris", [FRANCE], params, top=1)
    best = result.proposals[0]
    # Every start between 08:00 and 21:00 Paris time serves France; the earliest is 08:00.
    assert (best.starts_at, best.order, best.minutes_outside_total) == (
        utc(2026, 12, 5, 7, 0),
        ("FR",),
        0,
    )
    assert [slot.position for slot in best.slots] == [1]


def test_plan_session_comfort_breaks_ties_before_earlier_start() -> None:
    # A 60-minute opening, then one 23-minute slot: 83 minutes. Tokyo accepts 08:00-17:00.
    # Starts 07:00..15:30 JST keep the slot inside; only 08:00..15:30 keep the whole session
    # inside, so 07:00..07:45 rank after every zero/zero start despite being earlier.
    params = AgendaParams(opening=60, slots=1, presentation=15, debate=8, breaks=(), closing=0)
    tokyo = ChapterWindow("JP", "Japan", "Asia/Tokyo", time(8, 0), time(17, 0))
    result = plan(date(2026, 12, 5), "Asia/Tokyo", [tokyo], params, top=35)
    ranked = [
        (p.starts_at, p.minutes_outside_total, p.session_minutes_outside_total)
        for p in result.proposals
    ]
    assert ranked[0] == (utc(2026, 12, 4, 23, 0), 0, 0)  # 08:00 JST
    assert ranked[30] == (utc(2026, 12, 5, 6, 30), 0, 0)  # 15:30 JST
    assert ranked[31:] == [
        (utc(2026, 12, 4, 22, 45), 0, 15),
        (utc(2026, 12, 4, 22, 30), 0, 30),
        (utc(2026, 12, 4, 22, 15), 0, 45),
        (utc(2026, 12, 4, 22, 0), 0, 60),
    ]


def test_plan_ten_chapters_is_fast_and_orders_everyone() -> None:
    zones = [
        "Europe/Paris",
        "Asia/Kolkata",
        "Asia/Kathmandu",
        "America/St_Johns",
        "Africa/Porto-Novo",
        "America/Los_Angeles",
        "Pacific/Auckland",
        "Asia/Tokyo",
        "Africa/Nairobi",
        "America/Sao_Paulo",
    ]
    chapters = [ChapterWindow(f"C{i}", f"Chapter {i}", zone) for i, zone in enumerate(zones)]
    started = clock.perf_counter()
    result = plan(date(2026, 12, 5), "Europe/Paris", chapters, AgendaParams())
    elapsed = clock.perf_counter() - started
    assert elapsed < 1.0
    assert result.candidates_considered == 96
    assert len(result.proposals) == 3
    assert sorted(result.proposals[0].order) == sorted(c.code for c in chapters)
    ranked = [(p.minutes_outside_total, p.session_minutes_outside_total) for p in result.proposals]
    assert ranked == sorted(ranked)


# --------------------------------------------------------------------------- validation


def test_plan_no_chapters_raises() -> None:
    with pytest.raises(SchedulingError) as caught:
        plan(date(2026, 12, 5), "Europe/Paris", [], AgendaParams())
    assert (caught.value.code, caught.value.field) == ("NO_CHAPTERS", "chapters")


@pytest.mark.parametrize("zone", ["Africa/Lagoss", "../etc", "", "Europe", "/etc/localtime"])
def test_plan_unknown_chapter_zone_raises_with_field(zone: str) -> None:
    chapters = [FRANCE, ChapterWindow("NG", "Nigeria", zone)]
    with pytest.raises(SchedulingError) as caught:
        plan(date(2026, 12, 5), "Europe/Paris", chapters, AgendaParams())
    assert (caught.value.code, caught.value.field) == ("INVALID_TIMEZONE", "chapters[1].timezone")


def test_plan_unknown_reference_zone_raises() -> None:
    with pytest.raises(SchedulingError) as caught:
        plan(date(2026, 12, 5), "Mars/Olympus", [FRANCE], AgendaParams())
    assert (caught.value.code, caught.value.field) == ("INVALID_TIMEZONE", "timezone")


def test_plan_duplicate_chapter_raises() -> None:
    with pytest.raises(SchedulingError) as caught:
        plan(date(2026, 12, 5), "Europe/Paris", [FRANCE, FRANCE], AgendaParams())
    assert (caught.value.code, caught.value.field) == ("DUPLICATE_CHAPTER", "chapters[1].code")


def test_plan_too_many_chapters_raises() -> None:
    with pytest.raises(SchedulingError) as caught:
        plan(
            date(2026, 12, 5), "Europe/Paris", [FRANCE, KIRIBATI], AgendaParams(slots=1, breaks=())
        )
    assert caught.value.code == "TOO_MANY_CHAPTERS"


# --------------------------------------------------------------------------- parse_chapters_json


def test_parse_chapters_json_defaults() -> None:
    data = [
        {"code": "FR", "name": "France", "timezone": "Europe/Paris"},
        {"code": "NG", "timezone": "Africa/Lagos", "hours": "20:00-02:00"},
    ]
    assert parse_chapters_json(data) == [
        ChapterWindow("FR", "France", "Europe/Paris", time(8, 0), time(22, 0)),
        ChapterWindow("NG", "NG", "Africa/Lagos", time(20, 0), time(2, 0)),
    ]


GOOD = {"code": "FR", "timezone": "Europe/Paris"}


@pytest.mark.parametrize(
    ("entry", "code", "message"),
    [
        (
            {"code": "NG", "timezone": "Africa/Lagoss"},
            "INVALID_TIMEZONE",
            'chapters[3] ("NG"): unknown time zone "Africa/Lagoss"',
        ),
        ({"code": "NG"}, "INVALID_TIMEZONE", 'chapters[3] ("NG"): missing "timezone"'),
        (
            {"code": "NG", "timezone": "Africa/Lagos", "hours": "8-22"},
            "INVALID_HOURS",
            'chapters[3] ("NG"): invalid hours \'8-22\', expected "HH:MM-HH:MM"'
            ' such as "08:00-22:00"',
        ),
        (
            {"timezone": "Africa/Lagos"},
            "INVALID_CHAPTER",
            'chapters[3]: "code" must be a non-empty string',
        ),
        (
            {"code": "NG", "timezone": "Africa/Lagos", "timezome": "x"},
            "INVALID_CHAPTER",
            'chapters[3] ("NG"): unknown field(s) timezome',
        ),
        (
            {"code": "FR", "timezone": "Europe/Paris"},
            "DUPLICATE_CHAPTER",
            'chapters[3] ("FR"): duplicate chapter code "FR" (already chapters[0])',
        ),
        ("NG", "INVALID_CHAPTER", "chapters[3]: expected an object, got str"),
    ],
)
def test_parse_chapters_json_bad_entry_names_it(entry: object, code: str, message: str) -> None:
    data = [
        GOOD,
        {"code": "BJ", "timezone": "Africa/Porto-Novo"},
        {"code": "IN", "timezone": "Asia/Kolkata"},
        entry,
    ]
    with pytest.raises(SchedulingError) as caught:
        parse_chapters_json(data)
    assert (caught.value.code, str(caught.value)) == (code, message)


def test_parse_chapters_json_timezone_error_field() -> None:
    with pytest.raises(SchedulingError) as caught:
        parse_chapters_json([{"code": "NG", "timezone": "Africa/Lagoss"}])
    assert caught.value.field == "chapters[0].timezone"


def test_parse_chapters_json_not_a_list_raises() -> None:
    with pytest.raises(SchedulingError) as caught:
        parse_chapters_json({"code": "FR"})
    assert caught.value.code == "INVALID_CHAPTERS"


# --------------------------------------------------------------------------- optimality


def brute_force_assignment(
    costs: list[list[int]], positions: int
) -> tuple[int, tuple[int | None, ...]]:
    n = len(costs)
    best: tuple[int, tuple[int, ...]] | None = None
    for placement in itertools.permutations(range(positions), n):
        occupant = [n] * positions  # n stands for "empty", ranked after every chapter
        for chapter, position in enumerate(placement):
            occupant[position] = chapter
        key = (sum(costs[c][p] for c, p in enumerate(placement)), tuple(occupant))
        if best is None or key < best:
            best = key
    assert best is not None
    return best[0], tuple(None if i == n else i for i in best[1])


@settings(max_examples=300, deadline=None)
@given(data=st.data(), n=st.integers(1, 6), extra=st.integers(0, 2))
def test_optimal_assignment_matches_brute_force_including_tie_break(
    data: st.DataObject, n: int, extra: int
) -> None:
    positions = min(n + extra, 7)
    high = data.draw(st.sampled_from([1, 3, 40]))  # small ranges force many ties
    costs = [[data.draw(st.integers(0, high)) for _ in range(positions)] for _ in range(n)]
    assert optimal_assignment(costs, positions) == brute_force_assignment(costs, positions)


@st.composite
def chapter_sets(draw: st.DrawFn) -> list[ChapterWindow]:
    count = draw(st.integers(2, 6))
    chapters = []
    for i in range(count):
        start = draw(st.integers(0, 23))
        end = draw(st.integers(0, 23))
        zone = draw(st.sampled_from(ZONES))
        chapters.append(ChapterWindow(f"C{i}", f"Chapter {i}", zone, time(start), time(end, 30)))
    return chapters


@settings(max_examples=25, deadline=None)
@given(
    chapters=chapter_sets(),
    extra=st.integers(0, 1),
    day=st.sampled_from([date(2026, 12, 5), date(2026, 10, 25), date(2026, 3, 29)]),
)
def test_plan_matches_brute_force_over_all_orders(
    chapters: list[ChapterWindow], extra: int, day: date
) -> None:
    slots = min(len(chapters) + extra, 6)
    params = AgendaParams(
        opening=10, slots=slots, presentation=40, debate=20, breaks=(Break(1, 30),), closing=5
    )
    duration = timedelta(minutes=total_minutes(params))
    expected = []
    for start in candidate_starts(day, ZoneInfo("Europe/Paris"), 60):
        times = slot_times(params, start)
        costs = [
            [minutes_outside(s, e, c.timezone, c.hours_start, c.hours_end) for _, s, e in times]
            for c in chapters
        ]
        total, occupant = brute_force_assignment(costs, slots)
        session = sum(
            minutes_outside(start, start + duration, c.timezone, c.hours_start, c.hours_end)
            for c in chapters
        )
        order = tuple(chapters[i].code for i in occupant if i is not None)
        expected.append((total, session, start, order))
    expected.sort(key=lambda entry: entry[:3])

    result = plan(day, "Europe/Paris", chapters, params, top=3, step_minutes=60)
    got = [
        (p.minutes_outside_total, p.session_minutes_outside_total, p.starts_at, p.order)
        for p in result.proposals
    ]
    assert got == expected[:3]
    assert result.candidates_considered == len(expected)
    for proposal in result.proposals:
        assert (
            sum(slot.minutes_outside for slot in proposal.slots) == proposal.minutes_outside_total
        )
        assert proposal.unserved == tuple(
            Unserved(slot.chapter, slot.minutes_outside)
            for slot in proposal.slots
            if slot.minutes_outside > 0
        )
