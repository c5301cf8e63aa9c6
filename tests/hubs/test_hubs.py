"""Hubs: upstream agenda import (text, address, page), night flags, the year's calendar."""

from __future__ import annotations

import html as html_lib
import http.server
import io
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from quart.datastructures import FileStorage
from quart.typing import TestClientProtocol as Client

from tests.api.test_events import HUB, I10, create
from tests.conftest import HTTPSClient, Staff
from tests.pages.test_pages import csrf_from

pytestmark = pytest.mark.integration

# An upstream agenda as IGF/IETF publish them: times in UTC or with TZID, one whole-day entry.
AGENDA = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Upstream//Agenda//EN
BEGIN:VTIMEZONE
TZID:America/Vancouver
BEGIN:STANDARD
DTSTART:19701101T020000
TZOFFSETFROM:-0700
TZOFFSETTO:-0800
RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:19700308T020000
TZOFFSETFROM:-0800
TZOFFSETTO:-0700
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU
END:DAYLIGHT
END:VTIMEZONE
BEGIN:VEVENT
UID:plenary@upstream
SUMMARY:Opening plenary
DTSTART;TZID=America/Vancouver:20261209T093000
DTEND;TZID=America/Vancouver:20261209T113000
END:VEVENT
BEGIN:VEVENT
UID:dns-wg@upstream
SUMMARY:DNS operations <b>WG</b>
DTSTART:20261209T213000Z
DURATION:PT2H
END:VEVENT
BEGIN:VEVENT
UID:week@upstream
SUMMARY:Meeting week
DTSTART;VALUE=DATE:20261207
DTEND;VALUE=DATE:20261212
END:VEVENT
END:VCALENDAR
"""


async def hub(client: Client, organiser: Staff) -> dict[str, Any]:
    return await create(client, organiser, HUB)


async def test_preview_places_sessions_in_local_time_and_flags_the_night(
    client: Client, organiser: Staff
) -> None:
    event = await hub(client, organiser)
    response = await client.post(
        f"/api/v1/events/{event['id']}/sessions/preview",
        json={"ics": AGENDA},
        headers=organiser.headers,
    )
    assert response.status_code == 200
    assert await response.get_json() == {
        "sessions": [
            {
                "uid": "plenary@upstream",
                "title": "Opening plenary",
                "starts_at": "2026-12-09T17:30:00Z",
                "ends_at": "2026-12-09T19:30:00Z",
                "local_start": "2026-12-09T18:30:00+01:00",
                "local_end": "2026-12-09T20:30:00+01:00",
                "at_night": False,
            },
            {
                "uid": "dns-wg@upstream",
                "title": "DNS operations <b>WG</b>",
                "starts_at": "2026-12-09T21:30:00Z",
                "ends_at": "2026-12-09T23:30:00Z",
                "local_start": "2026-12-09T22:30:00+01:00",
                "local_end": "2026-12-10T00:30:00+01:00",
                "at_night": True,
            },
        ]
    }
    listed = await client.get(f"/api/v1/events/{event['id']}/sessions", headers=organiser.headers)
    assert await listed.get_json() == {"sessions": []}


async def test_import_chosen_sessions_then_reimport_updates_in_place(
    client: Client, organiser: Staff
) -> None:
    event = await hub(client, organiser)
    path = f"/api/v1/events/{event['id']}/sessions/import"
    first = await client.post(
        path, json={"ics": AGENDA, "uids": ["plenary@upstream"]}, headers=organiser.headers
    )
    assert [s["uid"] for s in (await first.get_json())["sessions"]] == ["plenary@upstream"]
    revised = AGENDA.replace("SUMMARY:Opening plenary", "SUMMARY:Opening plenary (revised)")
    await client.post(path, json={"ics": revised}, headers=organiser.headers)
    listed = await (
        await client.get(f"/api/v1/events/{event['id']}/sessions", headers=organiser.headers)
    ).get_json()
    assert [(s["uid"], s["title"]) for s in listed["sessions"]] == [
        ("plenary@upstream", "Opening plenary (revised)"),
        ("dns-wg@upstream", "DNS operations <b>WG</b>"),
    ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"ics": "not a calendar"}, "ics"),
        (
            {
                "ics": AGENDA.replace(
                    "DTSTART;TZID=America/Vancouver:20261209T093000", "DTSTART:20261209T093000"
                )
            },
            "ics",
        ),
        ({"ics": AGENDA, "uids": ["nope@upstream"]}, "uids"),
        ({}, "ics"),
        ({"ics": AGENDA, "url": "https://example.org/a.ics"}, "url"),
        ({"url": "file:///etc/passwd"}, "url"),
    ],
)
async def test_bad_agendas_are_422(
    client: Client, organiser: Staff, body: dict[str, Any], field: str
) -> None:
    event = await hub(client, organiser)
    response = await client.post(
        f"/api/v1/events/{event['id']}/sessions/import", json=body, headers=organiser.headers
    )
    assert response.status_code == 422
    assert (await response.get_json()).get("field") == field


async def test_only_organisers_import_and_only_into_hubs(client: Client, organiser: Staff) -> None:
    event = await hub(client, organiser)
    path = f"/api/v1/events/{event['id']}/sessions/import"
    assert (await client.post(path, json={"ics": AGENDA})).status_code == 401
    i10 = await create(client, organiser, I10)
    response = await client.post(
        f"/api/v1/events/{i10['id']}/sessions/import",
        json={"ics": AGENDA},
        headers=organiser.headers,
    )
    assert response.status_code == 409
    assert (await response.get_json())["code"] == "NOT_A_HUB"


@pytest.fixture
def agenda_server() -> Iterator[str]:
    """A real HTTP server on loopback publishing the upstream agenda."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = AGENDA.encode()
            self.send_response(200 if self.path == "/agenda.ics" else 404)
            self.send_header("Content-Type", "text/calendar")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


async def test_import_from_an_address(client: Client, organiser: Staff, agenda_server: str) -> None:
    event = await hub(client, organiser)
    path = f"/api/v1/events/{event['id']}/sessions/import"
    ok = await client.post(
        path, json={"url": f"{agenda_server}/agenda.ics"}, headers=organiser.headers
    )
    assert len((await ok.get_json())["sessions"]) == 2
    missing = await client.post(
        path, json={"url": f"{agenda_server}/missing.ics"}, headers=organiser.headers
    )
    assert missing.status_code == 422
    assert (await missing.get_json())["field"] == "url"


async def test_import_page_previews_then_imports_the_checked_sessions(
    https: HTTPSClient, client: Client, organiser: Staff
) -> None:
    event = await hub(client, organiser)
    token = csrf_from(await (await https.get("/login")).get_data(as_text=True))
    await https.post(
        "/login",
        form={
            "email": organiser.email,
            "password": "correct horse battery staple",
            "csrf_token": token,
        },
    )
    page = await https.get(f"/organiser/hubs/{event['id']}/sessions?lang=fr")
    assert "Importer un agenda amont" in await page.get_data(as_text=True)
    preview = await https.post(
        f"/organiser/hubs/{event['id']}/sessions/preview",
        form={"csrf_token": token},
        files={"file": FileStorage(io.BytesIO(AGENDA.encode()), filename="agenda.ics")},
    )
    html = await preview.get_data(as_text=True)
    assert preview.status_code == 200, html
    assert 'value="plenary@upstream" id="s1" checked' in html
    assert 'value="dns-wg@upstream" id="s2">' in html  # at night: not checked by default
    assert "DNS operations &lt;b&gt;WG&lt;/b&gt;" in html
    ics_value = html.split('name="ics" value="', 1)[1].split('"', 1)[0]
    imported = await https.post(
        f"/organiser/hubs/{event['id']}/sessions/import",
        form={"csrf_token": token, "ics": html_lib.unescape(ics_value), "uid": "plenary@upstream"},
    )
    assert imported.status_code == 302
    done = await (await https.get(imported.headers["Location"] + "&lang=en")).get_data(as_text=True)
    assert "1 sessions imported." in done
    assert "Opening plenary" in done


async def test_hubs_calendar_lists_the_years_hubs_with_sessions(
    client: Client, organiser: Staff
) -> None:
    event = await hub(client, organiser)
    await client.post(
        f"/api/v1/events/{event['id']}/sessions/import",
        json={"ics": AGENDA},
        headers=organiser.headers,
    )
    await client.post(f"/api/v1/events/{event['id']}/publish", headers=organiser.headers)
    html = await (await client.get("/hubs?year=2026&lang=en")).get_data(as_text=True)
    assert "<h1>Hubs calendar 2026</h1>" in html
    assert "Hub IGF Cotonou" in html
    assert (
        'class="night"><td>DNS operations &lt;b&gt;WG&lt;/b&gt; <strong>(at night locally)' in html
    )
    empty = await (await client.get("/hubs?year=2027&lang=fr")).get_data(as_text=True)
    assert "Aucun hub n’est prévu cette année." in empty
