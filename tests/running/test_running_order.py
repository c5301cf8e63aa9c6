"""The live running order: moderators drive it; everyone sees the re-estimated times."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client

from internet10.app import create_app
from internet10.db import Database
from internet10.models import Role
from internet10.settings import Settings
from internet10.state import Dependencies
from tests.api.test_events import I10, create
from tests.clock import Clock
from tests.conftest import HTTPSClient, Staff, make_staff
from tests.pages.test_pages import csrf_from

pytestmark = pytest.mark.integration

START = dt.datetime(2026, 12, 19, 12, 0, tzinfo=dt.UTC)  # I10 starts 13:00 in Porto-Novo


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
async def live_app(settings: Settings, database: Database, clock: Clock) -> Any:
    app: Quart = create_app(settings, dependencies=Dependencies(database=database, clock=clock))
    async with app.test_app():
        yield app


@pytest.fixture
def live_client(live_app: Quart) -> Client:
    return live_app.test_client()


async def published_event(client: Client, organiser: Staff) -> dict[str, Any]:
    event = await create(client, organiser, I10)
    await client.post(f"/api/v1/events/{event['id']}/publish", headers=organiser.headers)
    return event


async def order(client: Client, event_id: int) -> dict[str, Any]:
    response = await client.get(f"/api/v1/events/{event_id}/running-order")
    assert response.status_code == 200
    body: dict[str, Any] = await response.get_json()
    return body


async def drive(client: Client, staff: Staff, slot_id: int, **body: Any) -> Any:
    return await client.post(f"/api/v1/slots/{slot_id}/live", json=body, headers=staff.headers)


async def test_running_order_before_the_event_is_the_plan(
    live_client: Client, organiser: Staff
) -> None:
    event = await published_event(live_client, organiser)
    body = await order(live_client, event["id"])
    assert body["event_status"] == "published"
    first = body["slots"][0]
    assert first | {"id": 0} == {
        "id": 0,
        "position": 1,
        "chapter": None,
        "title": None,
        "status": "upcoming",
        "planned_start": "2026-12-19T12:15:00Z",
        "planned_end": "2026-12-19T12:38:00Z",
        "estimated_start": "2026-12-19T12:15:00Z",
        "estimated_end": "2026-12-19T12:38:00Z",
        "drift_minutes": 0,
    }


async def test_a_late_slot_pushes_every_remaining_slot(
    live_client: Client, organiser: Staff, clock: Clock
) -> None:
    event = await published_event(live_client, organiser)
    slots = (await order(live_client, event["id"]))["slots"]
    clock.now = START + dt.timedelta(minutes=22)  # slot 1 starts 7 minutes late
    started = await drive(live_client, organiser, slots[0]["id"], action="start")
    assert started.status_code == 200
    body = await started.get_json()
    assert body["event_status"] == "live"
    assert [s["status"] for s in body["slots"][:2]] == ["live", "upcoming"]
    assert body["slots"][0]["estimated_end"] == "2026-12-19T12:45:00Z"
    # breaks keep their planned length: the delay carries through the break after slot 5
    assert [s["drift_minutes"] for s in body["slots"]] == [7] * 10

    clock.now = START + dt.timedelta(minutes=50)  # slot 1 overran to 12:50
    ended = await (await drive(live_client, organiser, slots[0]["id"], action="end")).get_json()
    assert ended["slots"][0]["status"] == "done"
    assert ended["slots"][1]["estimated_start"] == "2026-12-19T12:50:00Z"
    assert [s["drift_minutes"] for s in ended["slots"]] == [7] + [12] * 9


async def test_extend_and_skip(live_client: Client, organiser: Staff, clock: Clock) -> None:
    event = await published_event(live_client, organiser)
    slots = (await order(live_client, event["id"]))["slots"]
    clock.now = START + dt.timedelta(minutes=15)
    await drive(live_client, organiser, slots[0]["id"], action="start")
    extended = await drive(live_client, organiser, slots[0]["id"], action="extend", minutes=5)
    body = await extended.get_json()
    assert body["slots"][0]["estimated_end"] == "2026-12-19T12:43:00Z"
    skipped = await (await drive(live_client, organiser, slots[1]["id"], action="skip")).get_json()
    assert skipped["slots"][1]["status"] == "skipped"
    assert skipped["slots"][2]["estimated_start"] == "2026-12-19T13:01:00Z"  # skip absorbs delay
    bad = await drive(live_client, organiser, slots[0]["id"], action="extend", minutes=0)
    assert bad.status_code == 422
    assert (await bad.get_json())["field"] == "minutes"


async def test_starting_a_slot_ends_the_one_still_running(
    live_client: Client, organiser: Staff, clock: Clock
) -> None:
    event = await published_event(live_client, organiser)
    slots = (await order(live_client, event["id"]))["slots"]
    await drive(live_client, organiser, slots[0]["id"], action="start")
    clock.now = START + dt.timedelta(minutes=40)
    body = await (await drive(live_client, organiser, slots[1]["id"], action="start")).get_json()
    assert [s["status"] for s in body["slots"][:2]] == ["done", "live"]
    twice = await drive(live_client, organiser, slots[1]["id"], action="start")
    assert twice.status_code == 409
    assert (await twice.get_json())["code"] == "SLOT_ALREADY_STARTED"


async def test_only_the_events_moderators_drive_it(
    live_client: Client, organiser: Staff, database: Database, now: dt.datetime
) -> None:
    event = await published_event(live_client, organiser)
    other = await create(live_client, organiser, I10)
    slot_id = (await order(live_client, event["id"]))["slots"][0]["id"]
    ours = await make_staff(
        database, "m1@example.org", Role.MODERATOR, now=now, event_id=event["id"]
    )
    theirs = await make_staff(
        database, "m2@example.org", Role.MODERATOR, now=now, event_id=other["id"]
    )
    assert (await drive(live_client, theirs, slot_id, action="start")).status_code == 403
    assert (
        await live_client.post(f"/api/v1/slots/{slot_id}/live", json={"action": "start"})
    ).status_code == 401
    assert (await drive(live_client, ours, slot_id, action="start")).status_code == 200


async def test_a_draft_is_not_run(live_client: Client, organiser: Staff) -> None:
    event = await create(live_client, organiser, I10)
    slots = (
        await (
            await live_client.get(
                f"/api/v1/events/{event['id']}/running-order", headers=organiser.headers
            )
        ).get_json()
    )["slots"]
    response = await drive(live_client, organiser, slots[0]["id"], action="start")
    assert response.status_code == 409
    assert (await response.get_json())["code"] == "EVENT_NOT_RUNNING"


async def test_console_drives_the_order_with_forms(
    live_app: Quart, organiser: Staff, database: Database, now: dt.datetime
) -> None:
    client = live_app.test_client()
    https = HTTPSClient(client)
    event = await published_event(client, organiser)
    moderator = await make_staff(
        database,
        "mod@example.org",
        Role.MODERATOR,
        now=now,
        event_id=event["id"],
        password="moderator password",
    )
    token = csrf_from(await (await https.get("/login")).get_data(as_text=True))
    await https.post(
        "/login",
        form={"email": moderator.email, "password": "moderator password", "csrf_token": token},
    )
    page = await https.get(f"/moderator/events/{event['id']}?lang=en")
    html = await page.get_data(as_text=True)
    assert "<h1>Moderator console</h1>" in html
    slot_id = (await order(client, event["id"]))["slots"][0]["id"]
    done = await https.post(
        f"/moderator/slots/{slot_id}/live", form={"action": "start", "csrf_token": csrf_from(html)}
    )
    assert done.status_code == 302
    after = await (await https.get(done.headers["Location"] + "&lang=fr")).get_data(as_text=True)
    assert "Créneau démarré." in after
    assert 'data-status="live"' in after


async def test_public_page_shows_the_live_estimates(
    live_client: Client, organiser: Staff, clock: Clock
) -> None:
    event = await published_event(live_client, organiser)
    slots = (await order(live_client, event["id"]))["slots"]
    clock.now = START + dt.timedelta(minutes=25)
    await drive(live_client, organiser, slots[0]["id"], action="start")
    html = await (await live_client.get(f"/events/{event['id']}?lang=en")).get_data(as_text=True)
    assert '<td data-status="live"><strong>Live</strong> · 1:25\u202fPM (+10 min)</td>' in html
    assert '<td data-status="upcoming">1:48\u202fPM (+10 min)</td>' in html
