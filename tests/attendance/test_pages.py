"""The attendance pages on the constructed session of ``scenario``: the dashboard and its
fragment, the PNG, the report page and its PDF, the exports and the year; who may see each; both
languages."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import struct

import pytest
from pypdf import PdfReader
from quart.typing import TestClientProtocol as Client

from internet10.db import Database
from internet10.models import Role
from tests.attendance.scenario import TOP_QUESTION, Scenario, add_hub, build
from tests.conftest import Staff, make_staff

pytestmark = pytest.mark.integration

PAGE_BUDGET = 16_000  # bytes of HTML for the dashboard of a small event (no asset inlined)


@pytest.fixture
async def scenario(database: Database) -> Scenario:
    return await build(database)


@pytest.fixture
async def moderator(database: Database, scenario: Scenario, now: dt.datetime) -> Staff:
    return await make_staff(
        database, "mod@example.bj", Role.MODERATOR, now=now, event_id=scenario.event_id
    )


@pytest.fixture
async def others(database: Database, now: dt.datetime) -> list[Staff]:
    """Staff with no business with the scenario's event: another event's moderator, a hub's
    coordinator."""
    hub = await add_hub(database, "Hub", dt.datetime(2026, 12, 5, 9, tzinfo=dt.UTC), target=10)
    return [
        await make_staff(database, "m2@example.bj", Role.MODERATOR, now=now, event_id=hub),
        await make_staff(database, "hub@example.bj", Role.HUB_COORDINATOR, now=now, event_id=hub),
    ]


def figures(html: str) -> dict[str, str]:
    return dict(re.findall(r'<dd data-figure="([\w-]+)">([^<]*)</dd>', html))


async def text(response: object) -> str:
    return await response.get_data(as_text=True)  # type: ignore[attr-defined, no-any-return]


async def test_dashboard_shows_counts_chart_funnel_slots_and_breakdowns(
    client: Client, organiser: Staff, scenario: Scenario
) -> None:
    response = await client.get(
        f"/organiser/events/{scenario.event_id}/attendance?lang=en", headers=organiser.headers
    )
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "private, no-store"
    html = await text(response)
    assert figures(html) == {
        "attended": "4",
        "present-now": "0",
        "peak": "4",
        "total-minutes": "308 min",
        "in-person": "1",
        "online": "4",
    }
    assert "of a target of 150 (3%)" in html
    assert (
        f'data-live-url="/api/v1/events/{scenario.event_id}/live?last_event_id=0" '
        'data-live-refresh="attendance running"'
    ) in html
    assert '<svg viewBox="0 0 480 240" width="100%" role="img"' in html
    assert (
        '<desc id="attendance-chart-desc">4 people attended (target 150); at most 4 at once, '
        "at 07:55 (Africa/Porto-Novo).</desc>"
    ) in html
    # The chart's numbers as a table: the most present at once per quarter hour, local time.
    quarters = re.findall(r"<tr><td>(\d\d:\d\d)</td><td class=\"n\">(\d+)</td></tr>", html)
    assert quarters == [
        ("07:00", "3"),
        ("07:15", "3"),
        ("07:30", "3"),
        ("07:45", "4"),
        ("08:00", "3"),
        ("08:15", "3"),
        ("08:30", "2"),
        ("08:45", "2"),
        ("09:00", "0"),
    ]
    funnel = dict(re.findall(r'data-funnel="([\w-]+)">(\d+)<', html))
    assert funnel == {"registered": "4", "clicked-join": "2", "attended": "4"}
    slots = re.findall(r'<tr data-slot="(\d+)">.*?<td class="n">(\d+)</td></tr>', html)
    assert slots == [(str(scenario.slots[0]), "3"), (str(scenario.slots[1]), "4")]
    place = html.split('data-breakdown="place"')[1].split("</table>")[0]
    assert re.findall(r'<th scope="row">([^<]+)</th><td class="n">(\d+)<', place) == [
        ("Online", "3"),
        ("Both", "1"),
    ]
    # The organiser's extras: exports and the year.
    assert f"/organiser/events/{scenario.event_id}/attendance/people.csv" in html
    assert "/organiser/year/2026" in html
    # Light and self-contained.
    assert len(html.encode()) < PAGE_BUDGET
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert re.search(r"/static/attendance\.[0-9a-f]{12}\.js", html)


async def test_dashboard_fragment_is_the_live_region_alone(
    client: Client, organiser: Staff, scenario: Scenario
) -> None:
    response = await client.get(
        f"/organiser/events/{scenario.event_id}/attendance?fragment=1&lang=en",
        headers=organiser.headers,
    )
    assert response.status_code == 200
    html = await text(response)
    assert html.lstrip().startswith('<p class="muted" data-updated="10:00">')
    assert "<html" not in html
    assert "<h1>" not in html
    assert figures(html)["attended"] == "4"
    assert "<svg" in html


async def test_dashboard_speaks_french_and_english(
    client: Client, organiser: Staff, scenario: Scenario
) -> None:
    path = f"/organiser/events/{scenario.event_id}/attendance"
    fr = await text(await client.get(f"{path}?lang=fr", headers=organiser.headers))
    en = await text(await client.get(f"{path}?lang=en", headers=organiser.headers))
    assert "<h1>Participation</h1>" in fr
    assert "<h1>Attendance</h1>" in en
    assert ">Objectif : 150</text>" in fr
    assert ">Target: 150</text>" in en
    assert "sur un objectif de 150 (3\u00a0%)" in fr
    assert "Personnes présentes en même temps, au fil du temps" in fr
    assert ">Dans la salle ou en ligne</caption>" in fr


async def test_only_organisers_and_the_event_moderators_see_the_dashboard_png_and_report(
    client: Client,
    organiser: Staff,
    moderator: Staff,
    others: list[Staff],
    scenario: Scenario,
) -> None:
    base = f"/organiser/events/{scenario.event_id}"
    for path in ("/attendance", "/attendance?fragment=1", "/attendance.png", "/report"):
        assert (await client.get(base + path, headers=organiser.headers)).status_code == 200
        assert (await client.get(base + path, headers=moderator.headers)).status_code == 200
        for staff in others:
            assert (await client.get(base + path, headers=staff.headers)).status_code == 403
        anonymous = await client.get(base + path)
        assert (anonymous.status_code, anonymous.headers["Location"]) == (302, "/login")
    missing = await client.get("/organiser/events/4242/attendance", headers=organiser.headers)
    assert missing.status_code == 404
    # A moderator sees no export link: exports are the organisers'.
    html = await text(await client.get(base + "/attendance", headers=moderator.headers))
    assert "people.csv" not in html
    assert "/organiser/year/" not in html


async def test_chart_png_is_a_png_of_the_chart_size(
    client: Client, organiser: Staff, scenario: Scenario
) -> None:
    response = await client.get(
        f"/organiser/events/{scenario.event_id}/attendance.png", headers=organiser.headers
    )
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/png"
    png = await response.get_data()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind, width, height = struct.unpack(">I4sII", png[8:24])
    assert (length, kind, width, height) == (13, b"IHDR", 960, 480)


def pdf_pages(data: bytes) -> list[str]:
    reader = PdfReader(io.BytesIO(data))
    return [" ".join(page.extract_text().split()) for page in reader.pages]


async def test_report_pdf_has_three_pages_with_the_figures(
    client: Client, organiser: Staff, moderator: Staff, scenario: Scenario
) -> None:
    path = f"/organiser/events/{scenario.event_id}/report.pdf"
    response = await client.get(f"{path}?lang=en", headers=organiser.headers)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/pdf"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="internet10-event-{scenario.event_id}-report.pdf"'
    )
    pages = pdf_pages(await response.get_data())
    assert len(pages) == 3
    summary, registrations, programme = pages
    assert "Attendance report" in summary
    assert "Internet10 2026" in summary
    assert "Saturday, November 28, 2026, 07:00–09:00 (Africa/Porto-Novo)" in summary
    assert "Attended 4 of a target of 150 (3%)" in summary
    assert "Peak at once 4 at 07:55" in summary
    assert "Time attended 308 min median 80 min per person" in summary
    assert "provisional" not in summary  # the event has ended
    assert summary.endswith("1 / 3")
    assert "Confirmed registrations 3 On the waitlist 1 Cancelled registrations 1" in registrations
    assert "Registered 4 Clicked Join 2 Attended 4" in registrations
    assert "The programme as run" in programme
    assert "1 BJ · Accès rural 07:00–07:50 07:05–07:55 +5 50 / 50 3" in programme
    assert "2 SN 07:50–08:40 07:55–08:50 +5 50 / 55 4" in programme
    assert "3 — 08:40–09:00 Skipped — 20 / — —" in programme
    assert f"1 BJ 5 2 1 « {TOP_QUESTION} » (votes: 3)" in programme
    assert "2 SN 1 1 0 —" in programme
    assert "Total 6 3 1" in programme
    assert programme.endswith("3 / 3")

    french = await client.get(f"{path}?lang=fr", headers=moderator.headers)
    fr_pages = pdf_pages(await french.get_data())
    assert len(fr_pages) == 3
    assert "Rapport de participation" in fr_pages[0]
    assert "samedi 28 novembre 2026" in fr_pages[0]
    assert "Le programme tel qu’il s’est déroulé" in fr_pages[2]


async def test_report_page_in_both_languages(
    client: Client, organiser: Staff, scenario: Scenario
) -> None:
    path = f"/organiser/events/{scenario.event_id}/report"
    en = await text(await client.get(f"{path}?lang=en", headers=organiser.headers))
    fr = await text(await client.get(f"{path}?lang=fr", headers=organiser.headers))
    assert "<h1>Attendance report</h1>" in en
    assert "<h1>Rapport de participation</h1>" in fr
    qa = re.findall(
        r'<tr data-qa-slot="(\d+)"><td>\d</td><td>[^<]*</td><td class="n">(\d+)</td>'
        r'<td class="n">(\d+)</td><td class="n">(\d+)</td>',
        en,
    )
    assert qa == [
        (str(scenario.slots[0]), "5", "2", "1"),
        (str(scenario.slots[1]), "1", "1", "0"),
        (str(scenario.slots[2]), "0", "0", "0"),
    ]
    assert "« Comment financer l’accès rural ? » (votes: 3)" in en
    assert "« Comment financer l’accès rural ? » (votes : 3)" in fr
    assert "aicha@example.bj" not in en
    assert "Aïcha" not in en


PEOPLE_CSV = (
    "\ufeffperson,registration_id,name,chapter,country,language,place,hub,visits,first_joined_at,"
    "minutes,attended\r\n"
    "1,{aicha},Aïcha Zinsou,BJ,BJ,fr,online,,3,2026-11-28T06:00:00Z,110.0,1\r\n"
    "2,{kossi},Kossi Agbo,BJ,BJ,fr,both,,2,2026-11-28T06:02:00Z,118.0,1\r\n"
    "3,{moussa},Moussa Diop,SN,SN,fr,online,,1,2026-11-28T06:10:00Z,50.0,1\r\n"
    "4,,'+229 97 00 00 01,,,,online,,1,2026-11-28T06:55:00Z,30.0,1\r\n"
    "5,,'=cmd,,,,online,,1,2026-11-28T07:00:00Z,0.5,0\r\n"
)


async def test_exports_are_exact_and_for_organisers_only(
    client: Client,
    organiser: Staff,
    moderator: Staff,
    scenario: Scenario,
) -> None:
    base = f"/organiser/events/{scenario.event_id}/attendance"
    people = await client.get(f"{base}/people.csv", headers=organiser.headers)
    assert people.status_code == 200
    assert people.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert people.headers["Content-Disposition"] == (
        f'attachment; filename="internet10-event-{scenario.event_id}-attendance-people.csv"'
    )
    ids = {"aicha": scenario.aicha, "kossi": scenario.kossi, "moussa": scenario.moussa}
    assert await text(people) == PEOPLE_CSV.format(**ids)

    intervals = await client.get(f"{base}/intervals.json", headers=organiser.headers)
    body = json.loads(await text(intervals))
    assert body["event_id"] == scenario.event_id
    assert body["min_minutes"] == 1.0
    assert body["generated_at"] == "2026-11-28T09:00:00Z"
    assert body["intervals"][:2] == [
        {
            "person": 1,
            "registration_id": scenario.aicha,
            "name": "Aïcha Zinsou",
            "source": "zoom",
            "hub": "",
            "joined_at": "2026-11-28T06:00:00Z",
            "left_at": "2026-11-28T06:30:00Z",
        },
        {
            "person": 2,
            "registration_id": scenario.kossi,
            "name": "Kossi Agbo",
            "source": "checkin",
            "hub": "",
            "joined_at": "2026-11-28T06:02:00Z",
            "left_at": None,
        },
    ]
    assert len(body["intervals"]) == 8
    people_json = json.loads(
        await text(await client.get(f"{base}/people.json", headers=organiser.headers))
    )
    assert [(p["person"], p["minutes"], p["attended"]) for p in people_json["people"]] == [
        (1, 110.0, True),
        (2, 118.0, True),
        (3, 50.0, True),
        (4, 30.0, True),
        (5, 0.5, False),
    ]
    intervals_csv = await text(await client.get(f"{base}/intervals.csv", headers=organiser.headers))
    assert intervals_csv.splitlines()[:3] == [
        "\ufeffperson,registration_id,name,source,hub,joined_at,left_at",
        f"1,{scenario.aicha},Aïcha Zinsou,zoom,,2026-11-28T06:00:00Z,2026-11-28T06:30:00Z",
        f"2,{scenario.kossi},Kossi Agbo,checkin,,2026-11-28T06:02:00Z,",
    ]
    for what in ("people.csv", "people.json", "intervals.csv", "intervals.json"):
        everything = await text(await client.get(f"{base}/{what}", headers=organiser.headers))
        assert "@" not in everything  # no e-mail address, ever
        refused = await client.get(f"{base}/{what}", headers=moderator.headers)
        assert refused.status_code == 403
        anonymous = await client.get(f"{base}/{what}")
        assert anonymous.status_code == 302
    assert (await client.get(f"{base}/people.xml", headers=organiser.headers)).status_code == 404


async def test_year_page_lists_events_against_targets_for_organisers(
    client: Client, database: Database, organiser: Staff, moderator: Staff, scenario: Scenario
) -> None:
    hub = await add_hub(
        database,
        "Hub IGF Cotonou",
        dt.datetime(2026, 12, 10, 8, tzinfo=dt.UTC),
        target=40,
        guests=2,
    )
    en = await text(await client.get("/organiser/year/2026?lang=en", headers=organiser.headers))
    rows = re.findall(r'<tr data-event="(\d+)"', en)
    assert rows == [str(scenario.event_id), str(hub)]
    assert figures(en) == {"attended": "6", "registered": "4", "events": "2"}
    assert "of a target of 190 (3%)" in en
    assert "Hub IGF Cotonou</a> (hub IGF)" in en
    fr = await text(await client.get("/organiser/year/2026?lang=fr", headers=organiser.headers))
    assert "L’année 2026 : participation et objectifs" in fr
    assert "jeudi 10 décembre 2026" in fr
    assert (await client.get("/organiser/year/2026", headers=moderator.headers)).status_code == 403
    assert (await client.get("/organiser/year/1999", headers=organiser.headers)).status_code == 404
    current = await client.get("/organiser/year", headers=organiser.headers)
    assert (current.status_code, current.headers["Location"]) == (302, "/organiser/year/2026")
    empty = await text(await client.get("/organiser/year/2031?lang=en", headers=organiser.headers))
    assert "No event this year." in empty


async def test_organiser_dashboard_and_moderator_console_link_to_the_dashboard(
    client: Client, organiser: Staff, moderator: Staff, scenario: Scenario
) -> None:
    link = f'href="/organiser/events/{scenario.event_id}/attendance"'
    organiser_page = await text(await client.get("/organiser", headers=organiser.headers))
    console = await text(
        await client.get(f"/moderator/events/{scenario.event_id}", headers=moderator.headers)
    )
    assert link in organiser_page
    assert link in console
