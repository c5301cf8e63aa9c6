"""The server-drawn SVG charts: geometry, the live cut at ``now``, escaping, accessibility."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest

from internet10.pages.attendance import quarter_hours
from internet10.pages.charts import (
    Band,
    ChartWords,
    bars_svg,
    concurrency_svg,
    nice_step,
    x_ticks,
    y_axis,
)

pytestmark = pytest.mark.unit

ZONE = ZoneInfo("Africa/Porto-Novo")
START = dt.datetime(2026, 11, 28, 6, 0, tzinfo=dt.UTC)
END = START + dt.timedelta(hours=2)
WORDS = ChartWords(
    title="People present",
    desc="Two at most",
    target="Target",
    peak="Peak",
    empty="No one",
    now="now",
)


def at(minutes: int) -> dt.datetime:
    return START + dt.timedelta(minutes=minutes)


def clock(moment: dt.datetime) -> str:
    return moment.astimezone(ZONE).strftime("%H:%M")


def chart(timeline: list[tuple[dt.datetime, int]], *, now: dt.datetime, **extra: object) -> str:
    options: dict[str, object] = {"target": 0, "peak": 2, "peak_at": at(30), "bands": ()}
    options.update(extra)
    return str(
        concurrency_svg(
            timeline,
            starts_at=START,
            ends_at=END,
            now=now,
            zone=ZONE,
            clock=clock,
            words=WORDS,
            **options,  # type: ignore[arg-type]
        )
    )


def test_axes_use_round_steps() -> None:
    assert [nice_step(v) for v in (0.5, 1, 3, 12.5, 37.5, 120)] == [1, 1, 5, 20, 50, 200]
    assert [y_axis(v) for v in (0, 2, 4, 150, 163)] == [
        (1, 5),
        (1, 5),
        (1, 5),
        (50, 200),
        (50, 200),
    ]
    assert [clock(t) for t in x_ticks(START, END, ZONE)] == [
        "07:00",
        "07:30",
        "08:00",
        "08:30",
        "09:00",
    ]
    # A long day: hourly ticks on round local hours.
    ticks = x_ticks(at(-30) + dt.timedelta(minutes=7), at(300), ZONE)
    assert [clock(t) for t in ticks] == ["07:00", "08:00", "09:00", "10:00", "11:00", "12:00"]


def test_steps_are_drawn_to_the_end_of_a_finished_event() -> None:
    svg = chart([(at(0), 1), (at(30), 2), (at(60), 0)], now=END + dt.timedelta(hours=1))
    # x: 38 + 428 px over 120 min; y: 210 - 194 px over 0..5 people.
    assert 'd="M38 210H38V171.2H145V132.4H252V210H466"' in svg
    assert "now</text>" not in svg
    assert 'stroke-dasharray="6 4"' not in svg  # no target, no target line


def test_a_running_event_is_drawn_up_to_now_without_the_drop_of_open_visits() -> None:
    # Open visits end "now" in the arithmetic: the line must not fall to zero there.
    svg = chart([(at(0), 1), (at(30), 2), (at(45), 0)], now=at(45))
    assert 'd="M38 210H38V171.2H145V132.4H198.5"' in svg
    assert '<line x1="198.5" x2="198.5" y1="16" y2="210"' in svg
    assert ">now</text>" in svg


def test_target_peak_bands_and_text_are_in_place_and_escaped() -> None:
    svg = chart(
        [(at(0), 120), (at(60), 0)],
        now=END,
        target=150,
        peak=120,
        peak_at=at(0),
        bands=[Band("<b>&", at(0), at(50)), Band("SN", at(50), at(100))],
    )
    assert '<line x1="38" x2="466" y1="64.5" y2="64.5" stroke="#a00"' in svg
    assert '<circle cx="38" cy="93.6" r="3.5"' in svg
    assert ">&lt;b&gt;&amp;</text>" in svg
    assert "<b>" not in svg
    assert svg.count('fill="#eef3f8"') == 1  # every other slot is shaded


def test_chart_is_accessible_and_scales() -> None:
    svg = chart([], now=END, peak=0, peak_at=None)
    assert svg.startswith(
        '<svg viewBox="0 0 480 240" width="100%" role="img" '
        'aria-labelledby="attendance-chart-title attendance-chart-desc"'
    )
    assert '<title id="attendance-chart-title">People present</title>' in svg
    assert '<desc id="attendance-chart-desc">Two at most</desc>' in svg
    assert ">No one</text>" in svg
    assert " style=" not in svg  # presentation attributes only: the pages' CSP holds
    standalone = str(
        concurrency_svg(
            [],
            starts_at=START,
            ends_at=END,
            now=END,
            target=0,
            peak=0,
            peak_at=None,
            zone=ZONE,
            clock=clock,
            words=WORDS,
            standalone=True,
        )
    )
    assert standalone.startswith(
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 480 240" width="960" height="480"'
    )


def test_bars_share_one_scale() -> None:
    svg = str(
        bars_svg([("Registered", 4), ("Clicked Join", 2), ("Attended", 4)], title="F", desc="D")
    )
    assert re.findall(r'<rect x="150" y="\d+" width="([\d.]+)"', svg) == ["270", "135", "270"]
    assert svg.startswith('<svg viewBox="0 0 480 102" width="100%" role="img"')
    assert str(bars_svg([("Nobody", 0)], title="F", desc="D")).count('width="0"') == 1


def test_quarter_hours_give_the_most_present_at_once() -> None:
    assert quarter_hours([], now=END) == []
    steps = [(at(5), 1), (at(10), 3), (at(14), 1), (at(15), 2), (at(40), 0)]
    assert quarter_hours(steps, now=END) == [(at(0), 3), (at(15), 2), (at(30), 2)]
    # While the event runs, the table stops at now.
    assert quarter_hours(steps, now=at(20)) == [(at(0), 3), (at(15), 2)]
