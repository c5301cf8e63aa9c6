"""Meetings and personal join links through the job queue, with the real zoomus against the
stand-in: publish -> meeting, registrations -> personal links, changes -> updates, cancellations,
the host-capacity warning, token expiry, 429s, pacing, an outage lasting the whole registration
window, and the participants report filling what webhooks missed."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from quart.typing import TestClientProtocol as Client
from sqlalchemy import select

from integrations.mail.mailbox import FileMailbox
from integrations.zoom.standin import ZoomStandIn
from internet10.db import Database
from internet10.jobs.handlers import build_handlers
from internet10.jobs.worker import Worker
from internet10.models import (
    AttendanceInterval,
    Event,
    Job,
    JobStatus,
    Registration,
    Role,
)
from internet10.services import attendance
from internet10.settings import Settings, load_settings
from tests.api.test_events import I10, create
from tests.clock import Clock
from tests.conftest import SECRET, Staff, make_staff
from tests.zoom.conftest import make_adapter

pytestmark = pytest.mark.integration


@pytest.fixture
def host_capacity() -> int:
    return 300


@pytest.fixture
def calls_per_second() -> float:
    return 100.0


@pytest.fixture
def settings(
    database_url: str, standin: ZoomStandIn, host_capacity: int, calls_per_second: float
) -> Settings:
    return load_settings(
        {},
        database_url=database_url,
        secret_key=SECRET,
        base_url="http://testserver",
        secure_cookies=True,
        database_pool_size=20,
        zoom_account_id=standin.account_id,
        zoom_client_id=standin.client_id,
        zoom_client_secret=standin.client_secret,
        zoom_api_url=standin.api_url,
        zoom_oauth_url=standin.oauth_url,
        zoom_host_capacity=host_capacity,
        zoom_calls_per_second=calls_per_second,
        registration_rate_per_minute=0,  # many people register from one test client
    )


@pytest.fixture
def clock(now: dt.datetime) -> Clock:
    return Clock(now)


def worker(
    settings: Settings, database: Database, standin: ZoomStandIn, clock: Clock, tmp_path: Path
) -> Worker:
    handlers = build_handlers(
        settings,
        database,
        FileMailbox(tmp_path / "mailbox.jsonl"),
        clock=clock,
        meeting_provider=make_adapter(standin, clock),
    )
    return Worker(database, handlers, worker_id="w", clock=clock)


def person(i: int) -> dict[str, Any]:
    return {
        "name": f"Personne {i}",
        "email": f"p{i}@example.org",
        "country": "BJ",
        "language": "fr",
    }


async def published(client: Client, organiser: Staff, **changes: Any) -> dict[str, Any]:
    event = await create(client, organiser, I10 | changes)
    response = await client.post(f"/api/v1/events/{event['id']}/publish", headers=organiser.headers)
    assert response.status_code == 200, await response.get_data(as_text=True)
    return event


async def register(client: Client, event_id: int, *people: int) -> None:
    for i in people:
        response = await client.post(f"/api/v1/events/{event_id}/registrations", json=person(i))
        assert response.status_code == 201, await response.get_data(as_text=True)


async def stored_event(database: Database, event_id: int) -> Event:
    async with database.read() as db:
        event = await db.get(Event, event_id)
    assert event is not None
    return event


async def registrations(database: Database, event_id: int) -> list[Registration]:
    async with database.read() as db:
        rows = await db.scalars(
            select(Registration).where(Registration.event_id == event_id).order_by(Registration.id)
        )
        return list(rows.all())


async def job_statuses(database: Database, prefix: str = "meeting.") -> dict[str, int]:
    async with database.read() as db:
        rows = (await db.execute(select(Job.kind, Job.status))).all()
    counts: dict[str, int] = {}
    for kind, status in rows:
        if kind.startswith(prefix):
            counts[status] = counts.get(status, 0) + 1
    return counts


def writes(standin: ZoomStandIn, method: str, suffix: str) -> list[Any]:
    return [body for m, path, body in standin.bodies if m == method and path.endswith(suffix)]


# -- meetings -------------------------------------------------------------------------------------


async def test_publishing_creates_the_meeting_and_every_confirmed_registrant_gets_a_link(
    client: Client,
    organiser: Staff,
    database: Database,
    settings: Settings,
    standin: ZoomStandIn,
    clock: Clock,
    tmp_path: Path,
    now: dt.datetime,
) -> None:
    event = await published(client, organiser, capacity=2, participant_target=2)
    moderator = await make_staff(
        database, "moderatrice@example.bj", Role.MODERATOR, now=now, event_id=event["id"]
    )
    await register(client, event["id"], 1, 2, 3)  # the third waits: capacity 2
    run = worker(settings, database, standin, clock, tmp_path)
    await run.drain()

    [body] = writes(standin, "POST", "/meetings")
    assert body["topic"] == "Internet10 2026"
    assert body["type"] == 2
    assert body["start_time"] == "2026-12-19T12:00:00Z"  # 13:00 in Porto-Novo, sent as UTC
    assert body["duration"] == 270
    assert body["timezone"] == "Africa/Porto-Novo"
    assert body["settings"]["approval_type"] == 0
    assert body["settings"]["waiting_room"] is True
    assert body["settings"]["alternative_hosts"] == moderator.email

    stored = await stored_event(database, event["id"])
    [(meeting_id, meeting)] = standin.meetings.items()
    assert stored.meeting_id == str(meeting_id)
    assert stored.meeting_uuid == meeting["uuid"]
    assert stored.meeting_join_url == meeting["join_url"]

    people = await registrations(database, event["id"])
    assert [(r.status, r.zoom_registrant_id is not None) for r in people] == [
        ("confirmed", True),
        ("confirmed", True),
        ("waitlisted", False),
    ]
    at_zoom = {r["email"]: r for r in standin.registrants(meeting_id)}
    assert set(at_zoom) == {"p1@example.org", "p2@example.org"}
    for registration in people[:2]:
        assert at_zoom[registration.email]["id"] == registration.zoom_registrant_id
        assert registration.join_url is not None
        assert registration.join_url.startswith(f"{standin.base_url}/w/{meeting_id}")
    assert people[0].join_url != people[1].join_url  # personal links
    assert await job_statuses(database) == {"done": 3}  # the meeting, two links

    # Someone registering now that the meeting exists gets their link straight away.
    await client.patch(
        f"/api/v1/events/{event['id']}", json={"capacity": 3}, headers=organiser.headers
    )
    await register(client, event["id"], 4)
    await run.drain()
    people = await registrations(database, event["id"])
    assert [r.email for r in people if r.join_url] == [
        "p1@example.org",
        "p2@example.org",
        "p4@example.org",
    ]


async def test_time_changes_update_the_meeting_other_changes_do_not(
    client: Client,
    organiser: Staff,
    database: Database,
    settings: Settings,
    standin: ZoomStandIn,
    clock: Clock,
    tmp_path: Path,
) -> None:
    event = await published(client, organiser)
    run = worker(settings, database, standin, clock, tmp_path)
    await run.drain()
    path = f"/api/v1/events/{event['id']}"

    await client.patch(path, json={"description": "Programme"}, headers=organiser.headers)
    await client.patch(path, json={"capacity": 250}, headers=organiser.headers)
    await run.drain()
    assert writes(standin, "PATCH", "") == []

    response = await client.patch(
        path,
        json={"starts_at": "2026-12-19T14:30:00+01:00", "duration_minutes": 300},
        headers=organiser.headers,
    )
    assert response.status_code == 200
    await run.drain()
    [update] = writes(standin, "PATCH", "")
    assert update["start_time"] == "2026-12-19T13:30:00Z"
    assert update["duration"] == 300
    [meeting] = standin.meetings.values()
    assert meeting["start_time"] == "2026-12-19T13:30:00Z"
    assert meeting["duration"] == 300


async def test_cancelling_a_registration_cancels_its_link_and_promotes_with_a_new_one(
    client: Client,
    organiser: Staff,
    database: Database,
    settings: Settings,
    standin: ZoomStandIn,
    clock: Clock,
    tmp_path: Path,
) -> None:
    event = await published(client, organiser, capacity=1, participant_target=1)
    await register(client, event["id"], 1, 2)
    run = worker(settings, database, standin, clock, tmp_path)
    await run.drain()
    first, second = await registrations(database, event["id"])
    assert first.zoom_registrant_id is not None
    assert second.zoom_registrant_id is None

    response = await client.delete(f"/api/v1/registrations/{first.id}", headers=organiser.headers)
    assert response.status_code in (200, 204), await response.get_data(as_text=True)
    await run.drain()
    first, second = await registrations(database, event["id"])
    assert (first.status, first.zoom_registrant_id, first.join_url) == ("cancelled", None, None)
    assert second.status == "confirmed"
    assert second.zoom_registrant_id is not None
    [meeting_id] = standin.meetings
    statuses = {r["email"]: r["status"] for r in standin.registrants(meeting_id)}
    assert statuses == {"p1@example.org": "cancelled", "p2@example.org": "approved"}


async def test_cancelling_the_event_deletes_the_meeting(
    client: Client,
    organiser: Staff,
    database: Database,
    settings: Settings,
    standin: ZoomStandIn,
    clock: Clock,
    tmp_path: Path,
) -> None:
    event = await published(client, organiser)
    run = worker(settings, database, standin, clock, tmp_path)
    await run.drain()
    assert len(standin.meetings) == 1
    response = await client.post(f"/api/v1/events/{event['id']}/cancel", headers=organiser.headers)
    assert response.status_code == 200
    await run.drain()
    assert standin.meetings == {}
    stored = await stored_event(database, event["id"])
    assert (stored.meeting_id, stored.meeting_join_url) == (None, None)


async def test_a_draft_cancelled_never_had_a_meeting(
    client: Client,
    organiser: Staff,
    database: Database,
    settings: Settings,
    standin: ZoomStandIn,
    clock: Clock,
    tmp_path: Path,
) -> None:
    event = await create(client, organiser, I10)
    await client.post(f"/api/v1/events/{event['id']}/cancel", headers=organiser.headers)
    assert await worker(settings, database, standin, clock, tmp_path).drain() == 0
    assert standin.requests == []


# -- the host's capacity --------------------------------------------------------------------------


@pytest.mark.parametrize("host_capacity", [100])
async def test_publishing_beyond_the_host_capacity_needs_an_overflow_choice(
    client: Client, organiser: Staff, database: Database
) -> None:
    event = await create(client, organiser, I10 | {"capacity": 150, "participant_target": 150})
    path = f"/api/v1/events/{event['id']}/publish"

    refused = await client.post(path, headers=organiser.headers)
    assert refused.status_code == 409
    body = await refused.get_json()
    assert body["code"] == "HOST_CAPACITY"
    assert body["field"] == "overflow"
    assert "up to 150 people" in body["message"]
    assert "one meeting host holds 100" in body["message"]
    assert (await stored_event(database, event["id"])).status == "draft"

    bad = await client.post(path, json={"overflow": "fax"}, headers=organiser.headers)
    assert bad.status_code == 422
    assert (await bad.get_json())["field"] == "overflow"

    page = await client.get("/organiser", headers=organiser.headers)
    html = await page.get_data(as_text=True)
    assert f'data-capacity-warning="{event["id"]}"' in html

    accepted = await client.post(path, json={"overflow": "livestream"}, headers=organiser.headers)
    assert accepted.status_code == 200
    data = await accepted.get_json()
    assert (data["status"], data["overflow_livestream"]) == ("published", True)


# -- the provider misbehaving ---------------------------------------------------------------------


async def test_token_expiring_mid_run_is_refreshed_and_no_link_is_lost(
    client: Client,
    organiser: Staff,
    database: Database,
    settings: Settings,
    standin: ZoomStandIn,
    clock: Clock,
    tmp_path: Path,
) -> None:
    event = await published(client, organiser)
    run = worker(settings, database, standin, clock, tmp_path)
    await run.drain()
    await register(client, event["id"], *range(1, 6))
    run.batch_size = 2
    assert await run.run_pending() == 2
    standin.expire_tokens()
    await run.drain()
    people = await registrations(database, event["id"])
    assert all(r.join_url for r in people)
    assert standin.requests.count(("POST", "/oauth/token")) == 2
    assert await job_statuses(database) == {"done": 6}


@pytest.mark.parametrize("form", ["seconds", "iso", "daily"])
async def test_429_defers_the_job_until_zoom_says_and_then_it_succeeds(
    form: str,
    client: Client,
    organiser: Staff,
    database: Database,
    settings: Settings,
    standin: ZoomStandIn,
    clock: Clock,
    tmp_path: Path,
    now: dt.datetime,
) -> None:
    event = await published(client, organiser)
    run = worker(settings, database, standin, clock, tmp_path)
    await run.drain()
    await register(client, event["id"], 1)
    retry_after: float | dt.datetime | None = {
        "seconds": 120,
        "iso": now + dt.timedelta(minutes=7),
        "daily": None,
    }[form]
    standin.fail_next(1, 429, retry_after=retry_after)
    await run.drain()
    expected = {
        "seconds": now + dt.timedelta(seconds=120),
        "iso": now + dt.timedelta(minutes=7),
        "daily": dt.datetime(2026, 11, 29, tzinfo=dt.UTC),  # the daily limit resets at 00:00 UTC
    }[form]
    async with database.read() as db:
        [job] = (await db.scalars(select(Job).where(Job.kind == "meeting.registrant"))).all()
    assert job.status == JobStatus.PENDING.value
    # Zoom's moment, then a little later than the jobs deferred meanwhile; no attempt spent.
    assert expected + dt.timedelta(seconds=2) <= job.run_after <= expected + dt.timedelta(seconds=4)
    assert job.attempts == 0
    assert "429" in (job.last_error or "")

    clock.now = expected + dt.timedelta(seconds=5)
    await run.drain()
    [registration] = await registrations(database, event["id"])
    assert registration.join_url is not None


async def test_zoom_down_for_the_whole_registration_window_loses_nothing(
    client: Client,
    organiser: Staff,
    database: Database,
    settings: Settings,
    standin: ZoomStandIn,
    clock: Clock,
    tmp_path: Path,
) -> None:
    event = await published(client, organiser)
    run = worker(settings, database, standin, clock, tmp_path)
    await run.drain()  # the meeting exists
    await standin.down()
    # Registrations keep coming for three hours while Zoom is unreachable.
    for hour in range(3):
        await register(client, event["id"], *range(hour * 10 + 1, hour * 10 + 11))
        for _ in range(60):
            clock.advance(minutes=1)
            await run.drain()
        assert (await job_statuses(database)).get("failed", 0) == 0
    people = await registrations(database, event["id"])
    assert len(people) == 30
    assert [r for r in people if r.join_url] == []
    async with database.read() as db:
        attempts = (
            await db.scalars(select(Job.attempts).where(Job.kind == "meeting.registrant"))
        ).all()
    assert max(attempts) == 0  # an outage spends no attempt: deferred, or met and deferred

    await standin.up()
    clock.advance(minutes=2)
    await run.drain()
    people = await registrations(database, event["id"])
    assert all(r.join_url for r in people)
    [meeting_id] = standin.meetings
    assert len(standin.registrants(meeting_id)) == 30
    assert await job_statuses(database) == {"done": 31}


@pytest.mark.parametrize("calls_per_second", [20.0])
async def test_registrant_calls_are_paced_under_the_per_second_limit(
    client: Client,
    organiser: Staff,
    database: Database,
    settings: Settings,
    standin: ZoomStandIn,
    clock: Clock,
    tmp_path: Path,
) -> None:
    event = await published(client, organiser)
    run = worker(settings, database, standin, clock, tmp_path)
    await run.drain()
    await register(client, event["id"], *range(1, 51))
    await run.drain()
    calls = [t for t, method, path in standin.timeline if path.endswith("/registrants")]
    assert len(calls) == 50
    busiest = max(sum(1 for t in calls if start <= t < start + 1.0) for start in calls)
    assert busiest <= 21  # 20 per second, and the slot at the window's edge
    assert calls[-1] - calls[0] >= 49 / 20 - 0.05


# -- after the meeting ----------------------------------------------------------------------------


async def test_reconciliation_fills_a_gap_left_by_dropped_webhooks_without_double_counting(
    client: Client,
    organiser: Staff,
    database: Database,
    settings: Settings,
    standin: ZoomStandIn,
    clock: Clock,
    tmp_path: Path,
    now: dt.datetime,
) -> None:
    event = await published(client, organiser)
    await register(client, event["id"], 1, 2)
    run = worker(settings, database, standin, clock, tmp_path)
    await run.drain()
    first, second = await registrations(database, event["id"])
    stored = await stored_event(database, event["id"])
    meeting_id = str(stored.meeting_id)
    start = dt.datetime(2026, 12, 19, 12, 0, tzinfo=dt.UTC)

    def envelope(kind: str, registration: Registration, **times: dt.datetime) -> dict[str, Any]:
        participant = {
            "user_id": f"u{registration.id}",
            "participant_uuid": f"P{registration.id}",
            "user_name": registration.name,
            "email": registration.email,
            "registrant_id": registration.zoom_registrant_id,
        } | {k: v.strftime("%Y-%m-%dT%H:%M:%SZ") for k, v in times.items()}
        obj = {"id": meeting_id, "uuid": stored.meeting_uuid, "participant": participant}
        return {"event": kind, "payload": {"object": obj}}

    # Webhooks: the first person's join and leave arrive; the second's join was dropped and
    # only their leave arrived; then the meeting ends.
    deliveries = [
        envelope(attendance.JOINED, first, join_time=start),
        envelope(attendance.LEFT, first, leave_time=start + dt.timedelta(minutes=90)),
        envelope(attendance.LEFT, second, leave_time=start + dt.timedelta(minutes=60)),
        {
            "event": attendance.ENDED,
            "payload": {
                "object": {
                    "id": meeting_id,
                    "uuid": stored.meeting_uuid,
                    "end_time": (start + dt.timedelta(minutes=270)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                }
            },
        },
    ]
    async with database.write() as db:
        for n, document in enumerate(deliveries):
            await attendance.record_delivery(
                db, f"{n}".encode(), document["event"], document, now=now
            )
    await run.drain()
    async with database.read() as db:
        rows = (await db.scalars(select(AttendanceInterval))).all()
    assert [(r.registration_id, r.source) for r in rows] == [(first.id, "zoom")]

    # Zoom's report knows both visits.
    standin.record_participant(
        meeting_id, first.name, first.email, first.zoom_registrant_id,
        start + dt.timedelta(seconds=20), start + dt.timedelta(minutes=90, seconds=5),
    )  # fmt: skip
    standin.record_participant(
        meeting_id, second.name, None, second.zoom_registrant_id,
        start + dt.timedelta(minutes=5), start + dt.timedelta(minutes=60),
    )  # fmt: skip
    assert await run.drain() == 0  # the report is read a few minutes after the end
    clock.advance(minutes=6)
    assert await run.drain() == 1
    async with database.read() as db:
        rows = (await db.scalars(select(AttendanceInterval).order_by(AttendanceInterval.id))).all()
    spans = sorted((r.registration_id, r.source, r.joined_at, r.left_at) for r in rows)
    assert spans == [
        (first.id, "zoom", start, start + dt.timedelta(minutes=90)),
        (second.id, "report", start + dt.timedelta(minutes=5), start + dt.timedelta(minutes=60)),
    ]
    # Running it again changes nothing.
    async with database.write() as db:
        await attendance.apply_report(
            db,
            event["id"],
            await make_adapter(standin, clock).participants(str(stored.meeting_uuid)),
            now=now,
        )
    async with database.read() as db:
        assert len((await db.scalars(select(AttendanceInterval))).all()) == 2
