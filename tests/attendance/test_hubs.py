"""Hubs that retransmit one of our events: their people count in that event, once, and the
figures break down by hub.

On top of ``scenario`` (the Internet10 session, 06:00-08:00 UTC, ``now`` 09:00; attended 4,
308 min; see its docstring), two hubs retransmit the session and one does not:

- Hub Cotonou (05:00-08:15, retransmits the session):
  - Moussa, registered there too with the same address in capitals, checked in at 06:30 and
    never checked out, so in the room until the hub's end: one person with his online visit
    06:10-07:00, in both places, now 06:10-08:15 = 125 min (was 50; the session's window runs
    60 min past its end, for overrunning debates);
  - Rachida (BJ, registered at the hub only), in the room 06:05-07:05 = 60 min;
  - Larry, in the room 05:00-05:25, before the session's window (05:30, 30 min early): not the
    session's, but the hub's.
- Hub Parakou (retransmits the session): Adé (NG) in the hub's online room 07:00-07:30.
- Hub IGF (retransmits nothing of ours): Zoé in its room: never the session's.

The session now: attended 4 + Rachida + Adé = 6; minutes 110, 118, 125, 30, 60, 30 = 473,
median 85; in the room Kossi, Moussa, Rachida = 3; online Aïcha, Moussa, Kossi, the phone
guest, Adé = 5. Concurrent: 06:00 1, 06:02 2, 06:05 3, 06:10 4, 06:55 5, 07:00 6 (the peak:
Adé arrives, Moussa stays), 07:05 5, ..., 08:15 0. By hub: not through a hub 3 (Aïcha, Kossi, the
guest), Hub Cotonou 2, Hub Parakou 1. Registered (one per person, not cancelled): the
session's 4 + Rachida, Larry, Adé = 7, of which confirmed 3 + 3 = 6.
"""

from __future__ import annotations

import datetime as dt

import pytest
from quart.typing import TestClientProtocol as Client
from sqlalchemy.ext.asyncio import AsyncSession

from internet10.db import Database
from internet10.models import AttendanceInterval, Event, Registration
from internet10.services import attendance_figures, auth, live, reports
from tests.attendance.scenario import NOW, Scenario, at, build
from tests.conftest import Staff

pytestmark = pytest.mark.integration


async def _hub(
    database: Database,
    title: str,
    *,
    retransmits: int | None,
    starts: dt.datetime,
    minutes: int = 150,
) -> int:
    async with database.write() as db:
        hub = Event(
            kind="hub",
            title=title,
            upstream_event=None if retransmits else "IGF",
            retransmits_id=retransmits,
            venue=title.removeprefix("Hub "),
            seats=30,
            starts_at=starts,
            duration_minutes=minutes,
            timezone="Africa/Porto-Novo",
            capacity=60,
            participant_target=25,
            status="ended",
            created_at=NOW,
            updated_at=NOW,
        )
        db.add(hub)
        await db.flush()
        return hub.id


async def _visitor(
    database: Database,
    hub_id: int,
    name: str,
    email: str,
    *,
    source: str,
    joined: dt.datetime,
    left: dt.datetime | None,
    country: str = "BJ",
) -> int:
    async with database.write() as db:
        registration = Registration(
            event_id=hub_id,
            name=name,
            email=email,
            country=country,
            language="fr",
            chapter_id=None,
            mode="in_person" if source == "checkin" else "online",
            status="confirmed",
            checked_in_at=joined if source == "checkin" else None,
            created_at=NOW,
            updated_at=NOW,
        )
        db.add(registration)
        await db.flush()
        db.add(
            AttendanceInterval(
                event_id=hub_id,
                registration_id=registration.id,
                source=source,
                participant_key=f"{source}-{registration.id}",
                name=name,
                email=None,
                joined_at=joined,
                left_at=left,
                created_at=NOW,
            )
        )
        return registration.id


class World:
    def __init__(self, scenario: Scenario, cotonou: int, parakou: int, igf: int) -> None:
        self.scenario, self.cotonou, self.parakou, self.igf = scenario, cotonou, parakou, igf


@pytest.fixture
async def world(database: Database) -> World:
    scenario = await build(database)
    session = scenario.event_id
    cotonou = await _hub(database, "Hub Cotonou", retransmits=session, starts=at(5, 0), minutes=195)
    parakou = await _hub(database, "Hub Parakou", retransmits=session, starts=at(5, 45))
    igf = await _hub(database, "Hub IGF", retransmits=None, starts=at(5, 45))
    await _visitor(
        database, cotonou, "Moussa Diop", "MOUSSA@example.sn ", source="checkin",
        joined=at(6, 30), left=None, country="SN",
    )  # fmt: skip
    await _visitor(
        database, cotonou, "Rachida Bello", "rachida@example.bj", source="checkin",
        joined=at(6, 5), left=at(7, 5),
    )  # fmt: skip
    await _visitor(
        database, cotonou, "Larry Early", "larry@example.bj", source="checkin",
        joined=at(5, 0), left=at(5, 25),
    )  # fmt: skip
    await _visitor(
        database, parakou, "Adé Ola", "ade@example.ng", source="zoom",
        joined=at(7, 0), left=at(7, 30), country="NG",
    )  # fmt: skip
    await _visitor(
        database, igf, "Zoé Igf", "zoe@example.bj", source="checkin", joined=at(6, 0), left=None
    )
    return World(scenario, cotonou, parakou, igf)


async def _figures(database: Database, event_id: int) -> attendance_figures.EventFigures:
    async with database.read() as db:
        event = await db.get(Event, event_id)
        assert event is not None
        return await attendance_figures.figures_of(db, event, now=NOW, min_minutes=1)


async def test_the_session_counts_its_hubs_people_once_and_breaks_them_down_by_hub(
    database: Database, world: World
) -> None:
    found = await _figures(database, world.scenario.event_id)
    f = found.figures
    assert (f.attended, f.in_person, f.online) == (6, 3, 5)
    assert (f.total_minutes, f.median_minutes) == (473.0, 85.0)
    assert (f.peak, f.peak_at) == (6, at(7, 0))
    assert sorted(f.minutes.values()) == [30.0, 30.0, 60.0, 110.0, 118.0, 125.0]
    assert f.minutes[f"r:{world.scenario.moussa}"] == 125.0  # known by the session's registration
    assert f.breakdowns["hub"] == {"": 3, "Hub Cotonou": 2, "Hub Parakou": 1}
    assert f.breakdowns["place"] == {"both": 2, "online": 3, "room": 1}
    assert f.breakdowns["country"] == {"": 1, "BJ": 3, "NG": 1, "SN": 1}
    assert (found.funnel.registered, found.funnel.confirmed) == (7, 6)
    assert (found.funnel.clicked_join, found.funnel.attended) == (2, 6)


async def test_a_hub_counts_its_own_people_and_names_itself(
    database: Database, world: World
) -> None:
    f = (await _figures(database, world.cotonou)).figures
    # Moussa 06:30-08:15 (the hub's end), Rachida 06:05-07:05, Larry 05:00-05:25.
    assert (f.attended, f.in_person, f.online) == (3, 3, 0)
    assert f.total_minutes == 105.0 + 60.0 + 25.0
    assert f.breakdowns["hub"] == {"Hub Cotonou": 3}
    igf = (await _figures(database, world.igf)).figures
    assert (igf.attended, igf.breakdowns["hub"]) == (1, {"Hub IGF": 1})


async def test_without_hubs_everyone_is_not_through_a_hub(database: Database) -> None:
    scenario = await build(database)
    f = (await _figures(database, scenario.event_id)).figures
    assert (f.attended, f.breakdowns["hub"]) == (4, {"": 4})


async def test_the_year_lists_retransmitting_hubs_but_counts_their_people_once(
    database: Database, world: World, organiser: Staff, client: Client
) -> None:
    async with database.read() as db:
        principal = await _organiser(db, organiser)
        view = await reports.year_view(db, principal, 2026, now=NOW, min_minutes=1)
    lines = {line.event.id: line for line in view.lines}
    assert lines[world.scenario.event_id].attended == 6
    assert (lines[world.cotonou].attended, lines[world.cotonou].counted) == (3, False)
    assert (lines[world.parakou].attended, lines[world.parakou].counted) == (1, False)
    assert (lines[world.igf].attended, lines[world.igf].counted) == (1, True)
    assert view.attended == sum(line.attended for line in view.lines if line.counted)
    assert view.attended == 6 + 1 + sum(
        line.attended
        for line in view.lines
        if line.event.id not in (world.scenario.event_id, world.cotonou, world.parakou, world.igf)
        and line.counted
    )
    page = await client.get("/organiser/year/2026?lang=fr", headers=organiser.headers)
    html = await page.get_data(as_text=True)
    assert page.status_code == 200
    assert html.count(f'data-counted-in="{world.scenario.event_id}"') == 2
    assert "compté dans l’événement qu’il retransmet" in html


async def _organiser(db: AsyncSession, staff: Staff) -> auth.Principal:
    found = await auth.principal_for_user(db, staff.user_id)
    assert found is not None
    return found


async def test_the_api_report_and_exports_show_the_hub_breakdown(
    client: Client, organiser: Staff, world: World
) -> None:
    session = world.scenario.event_id
    body = await (
        await client.get(f"/api/v1/events/{session}/attendance", headers=organiser.headers)
    ).get_json()
    assert body["attended"] == 6
    assert body["breakdowns"]["hub"] == {"": 3, "Hub Cotonou": 2, "Hub Parakou": 1}
    page = await client.get(
        f"/organiser/events/{session}/report?lang=fr", headers=organiser.headers
    )
    html = await page.get_data(as_text=True)
    hub_table = html.split('data-breakdown="hub"')[1].split("</table>")[0]
    assert "Par hub" in hub_table
    assert "Hub Cotonou" in hub_table
    assert "Pas par un hub" in hub_table
    people = (
        await (
            await client.get(
                f"/organiser/events/{session}/attendance/people.json", headers=organiser.headers
            )
        ).get_json()
    )["people"]
    by_name = {p["name"]: p for p in people}
    assert (by_name["Moussa Diop"]["hub"], by_name["Moussa Diop"]["place"]) == (
        "Hub Cotonou",
        "both",
    )
    assert by_name["Moussa Diop"]["registration_id"] == world.scenario.moussa
    assert (by_name["Rachida Bello"]["hub"], by_name["Rachida Bello"]["minutes"]) == (
        "Hub Cotonou",
        60.0,
    )
    assert (by_name["Larry Early"]["attended"], by_name["Larry Early"]["minutes"]) == (False, 0.0)
    assert by_name["Aïcha Zinsou"]["hub"] == ""
    assert "Zoé Igf" not in by_name


async def test_a_check_in_at_a_hub_announces_the_sessions_new_count(
    database: Database, world: World
) -> None:
    async with database.write() as db:
        await attendance_figures.announce(db, world.cotonou, now=NOW, min_minutes=1)
    async with database.read() as db:
        session = await live.since(db, world.scenario.event_id, 0)
        hub = await live.since(db, world.cotonou, 0)
    assert [(e.kind, e.data["attended"]) for e in session] == [("attendance", 6)]
    assert [(e.kind, e.data["attended"]) for e in hub] == [("attendance", 3)]
