"""services.reports on the constructed session of ``scenario``: every figure exact."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event as sa_event

from internet10.db import Database
from internet10.errors import Forbidden, NotAuthenticated
from internet10.models import Role
from internet10.services import auth, reports
from internet10.services.reports import QAFigures, RegistrationCounts
from tests.attendance.scenario import NOW, TOP_QUESTION, add_hub, at, build
from tests.conftest import Staff, make_staff

pytestmark = pytest.mark.integration


async def _principal(database: Database, staff: Staff) -> auth.Principal:
    async with database.read() as db:
        found = await auth.principal_for_user(db, staff.user_id)
    assert found is not None
    return found


@contextmanager
def counted(database: Database) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(args[2])

    engine = database.engine.sync_engine
    sa_event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        sa_event.remove(engine, "before_cursor_execute", record)


async def test_report_gives_registrations_programme_as_run_and_qa_per_slot(
    database: Database, organiser: Staff
) -> None:
    s = await build(database)
    principal = await _principal(database, organiser)
    async with database.read() as db:
        report = await reports.event_report(db, principal, s.event_id, now=NOW, min_minutes=1)

    assert report.final is True
    assert report.registrations == RegistrationCounts(
        confirmed=3, waitlisted=1, cancelled=1, online=3, in_person=1, checked_in=1, clicked_join=2
    )
    assert report.registrations.registered == 4
    f = report.found.figures
    assert (f.attended, f.present_now, f.peak, f.peak_at) == (4, 0, 4, at(6, 55))
    assert (f.total_minutes, f.median_minutes, f.in_person, f.online) == (308.0, 80.0, 1, 4)
    assert [
        (
            line.position,
            line.chapter,
            line.start_delay_minutes,
            line.planned_minutes,
            line.actual_minutes,
            line.skipped,
            line.people,
        )
        for line in report.programme
    ] == [
        (1, "BJ", 5, 50, 50, False, 3),
        (2, "SN", 5, 50, 55, False, 4),
        (3, None, None, 20, None, True, None),
    ]
    assert [line.qa for line in report.programme] == [
        QAFigures(asked=5, approved=2, answered=1, top_text=TOP_QUESTION, top_votes=3),
        QAFigures(asked=1, approved=1, answered=0, top_text=None, top_votes=0),
        QAFigures(),
    ]
    assert report.qa_totals == QAFigures(asked=6, approved=3, answered=1)


async def test_report_is_provisional_until_the_event_ends(
    database: Database, organiser: Staff
) -> None:
    s = await build(database)
    principal = await _principal(database, organiser)
    async with database.write() as db:
        ev = await db.get(reports.Event, s.event_id)
        assert ev is not None
        ev.status = "live"
    async with database.read() as db:
        during = await reports.event_report(db, principal, s.event_id, now=at(7, 10), min_minutes=1)
        after = await reports.event_report(db, principal, s.event_id, now=at(8, 0), min_minutes=1)
    assert (during.final, after.final) == (False, True)
    # Aïcha, Kossi in the room (checked in, no departure recorded) and the phone guest.
    assert (during.found.figures.present_now, after.found.figures.present_now) == (3, 0)
    assert during.found.figures.attended == 4


async def test_export_lists_everyone_seen_with_minimised_fields(
    database: Database, organiser: Staff
) -> None:
    s = await build(database)
    principal = await _principal(database, organiser)
    async with database.read() as db:
        export = await reports.attendance_export(db, principal, s.event_id, now=NOW, min_minutes=1)
    assert [
        (
            p.person,
            p.registration_id,
            p.name,
            p.chapter,
            p.country,
            p.language,
            p.place,
            p.visits,
            p.first_joined_at,
            p.minutes,
            p.attended,
        )
        for p in export.people
    ] == [
        (1, s.aicha, "Aïcha Zinsou", "BJ", "BJ", "fr", "online", 3, at(6, 0), 110.0, True),
        (2, s.kossi, "Kossi Agbo", "BJ", "BJ", "fr", "both", 2, at(6, 2), 118.0, True),
        (3, s.moussa, "Moussa Diop", "SN", "SN", "fr", "online", 1, at(6, 10), 50.0, True),
        (4, None, "+229 97 00 00 01", "", "", "", "online", 1, at(6, 55), 30.0, True),
        (5, None, "=cmd", "", "", "", "online", 1, at(7, 0), 0.5, False),
    ]
    assert [(i.person, i.source, i.joined_at, i.left_at) for i in export.intervals] == [
        (1, "zoom", at(6, 0), at(6, 30)),
        (2, "checkin", at(6, 2), None),
        (3, "zoom", at(6, 10), at(7, 0)),
        (1, "report", at(6, 20), at(6, 45)),
        (1, "zoom", at(6, 40), at(7, 50)),
        (4, "zoom", at(6, 55), at(7, 25)),
        (5, "zoom", at(7, 0), at(7, 0, 30)),
        (2, "zoom", at(7, 30), at(7, 40)),
    ]
    # The same minimum as the figures: at 31 minutes the phone guest no longer counts.
    async with database.read() as db:
        strict = await reports.attendance_export(db, principal, s.event_id, now=NOW, min_minutes=31)
    assert [p.attended for p in strict.people] == [True, True, True, False, False]


async def test_exports_and_the_year_are_for_organisers_only(
    database: Database, now: dt.datetime
) -> None:
    s = await build(database)
    moderator = await make_staff(
        database, "m@example.bj", Role.MODERATOR, now=now, event_id=s.event_id
    )
    principal = await _principal(database, moderator)
    async with database.read() as db:
        with pytest.raises(Forbidden):
            await reports.attendance_export(db, principal, s.event_id, now=NOW, min_minutes=1)
        with pytest.raises(Forbidden):
            await reports.year_view(db, principal, 2026, now=NOW, min_minutes=1)
        with pytest.raises(NotAuthenticated):
            await reports.attendance_export(db, None, s.event_id, now=NOW, min_minutes=1)
        report = await reports.event_report(db, principal, s.event_id, now=NOW, min_minutes=1)
    assert report.found.figures.attended == 4


async def test_year_takes_each_event_by_its_local_date_and_leaves_cancelled_ones_out(
    database: Database, organiser: Staff
) -> None:
    s = await build(database)
    # 23:30 UTC on 31 December is already 00:30 on 1 January in Porto-Novo (UTC+1).
    new_year = await add_hub(
        database,
        "Hub IGF 2026",
        dt.datetime(2025, 12, 31, 23, 30, tzinfo=dt.UTC),
        target=40,
        guests=3,
    )
    cancelled = await add_hub(
        database,
        "Hub AfIGF",
        dt.datetime(2026, 6, 1, 9, tzinfo=dt.UTC),
        target=30,
        status="cancelled",
        guests=1,
    )
    next_year = await add_hub(
        database, "Hub IETF", dt.datetime(2026, 12, 31, 23, 30, tzinfo=dt.UTC), target=25
    )
    principal = await _principal(database, organiser)
    async with database.read() as db:
        view = await reports.year_view(db, principal, 2026, now=NOW, min_minutes=1)
        following = await reports.year_view(db, principal, 2027, now=NOW, min_minutes=1)
        empty = await reports.year_view(db, principal, 2024, now=NOW, min_minutes=1)
    assert [
        (line.event.id, line.registered, line.attended, line.peak, line.counted)
        for line in view.lines
    ] == [
        (new_year, 0, 3, 3, True),
        (cancelled, 0, 1, 1, False),
        (s.event_id, 4, 4, 4, True),
    ]
    assert (view.target, view.attended, view.registered) == (190, 7, 4)
    assert round(view.progress, 4) == round(7 / 190, 4)
    assert [line.event.id for line in following.lines] == [next_year]
    assert (empty.lines, empty.target, empty.progress) == ([], 0, 0.0)


async def test_year_reads_a_fixed_number_of_statements_however_many_events(
    database: Database, organiser: Staff
) -> None:
    principal = await _principal(database, organiser)
    await add_hub(database, "Hub 1", dt.datetime(2030, 3, 1, 9, tzinfo=dt.UTC), target=10, guests=2)
    with counted(database) as one:
        async with database.read() as db:
            single = await reports.year_view(db, principal, 2030, now=NOW, min_minutes=1)
    for n in (2, 3):
        await add_hub(
            database, f"Hub {n}", dt.datetime(2030, n + 2, 1, 9, tzinfo=dt.UTC), target=10, guests=n
        )
    with counted(database) as three:
        async with database.read() as db:
            several = await reports.year_view(db, principal, 2030, now=NOW, min_minutes=1)
    assert (len(single.lines), len(several.lines)) == (1, 3)
    assert [line.attended for line in several.lines] == [2, 2, 3]
    selects = [[q for q in found if q.startswith("SELECT")] for found in (one, three)]
    # events, the hubs retransmitting them, intervals, registrations
    assert [len(found) for found in selects] == [4, 4]
