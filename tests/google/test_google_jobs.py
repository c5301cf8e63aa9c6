"""The programme on Google Calendar and the livestreams on YouTube, through the job queue, with the
real google-api-python-client against the Google stand-in and the real zoomus against the Zoom
stand-in: publishing, re-publishing, programme changes, cancellations, the broadcast's creation,
binding, hand-over to Zoom and transitions with the event, and Google's 403/429/5xx."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from quart.typing import TestClientProtocol as Client
from sqlalchemy import delete, select

from integrations.google import CalendarPublisher, LiveStreamProvider, event_id_for
from integrations.google.standin import GoogleStandIn
from integrations.mail.mailbox import FileMailbox
from integrations.zoom.standin import ZoomStandIn
from internet10.db import Database
from internet10.jobs.google_jobs import calendar_from_settings, youtube_from_settings
from internet10.jobs.handlers import build_handlers
from internet10.jobs.worker import Worker
from internet10.models import Event, GoogleObject, Job, JobStatus
from internet10.services import google_calendar, livestreams
from internet10.services.outbox import enqueue
from internet10.settings import Settings, load_settings
from tests.api.test_events import HUB, I10, create
from tests.booking.test_booking_api import BOOKING, add_chapters, book, slots_of
from tests.clock import Clock
from tests.conftest import SECRET, Staff
from tests.google.conftest import CALENDAR_ID
from tests.zoom.conftest import make_adapter

pytestmark = pytest.mark.integration

BASE = "http://testserver"
SESSIONS = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Upstream//Agenda//EN
BEGIN:VEVENT
UID:opening@igf
SUMMARY:Opening ceremony
DESCRIPTION:Live from the host city.
DTSTART:20261210T093000Z
DTEND:20261210T113000Z
END:VEVENT
BEGIN:VEVENT
UID:dns@igf
SUMMARY:DNS abuse
DTSTART:20261210T130000Z
DTEND:20261210T140000Z
END:VEVENT
END:VCALENDAR
"""


@pytest.fixture
async def zoom() -> AsyncIterator[ZoomStandIn]:
    async with ZoomStandIn() as server:
        yield server


@pytest.fixture
def clock(now: dt.datetime) -> Clock:
    return Clock(now)


@pytest.fixture
def settings(
    database_url: str,
    standin: GoogleStandIn,
    zoom: ZoomStandIn,
    key_file: Path,
    token_file: Path,
) -> Settings:
    return load_settings(
        {},
        database_url=database_url,
        secret_key=SECRET,
        base_url=BASE,
        secure_cookies=True,
        database_pool_size=20,
        registration_rate_per_minute=0,
        zoom_account_id=zoom.account_id,
        zoom_client_id=zoom.client_id,
        zoom_client_secret=zoom.client_secret,
        zoom_api_url=zoom.api_url,
        zoom_oauth_url=zoom.oauth_url,
        zoom_calls_per_second=100,
        google_credentials=str(key_file),
        google_calendar_id=CALENDAR_ID,
        youtube_token_file=str(token_file),
        google_calendar_api_url=standin.calendar_endpoint,
        youtube_api_url=standin.youtube_endpoint,
        google_token_uri=standin.token_uri,
        youtube_watch_url=standin.watch_url,
    )


@pytest.fixture
async def google_calendar_adapter(
    settings: Settings, clock: Clock
) -> AsyncIterator[CalendarPublisher]:
    """Built from the settings, as the worker builds it."""
    adapter = calendar_from_settings(settings, clock=clock)
    assert adapter is not None
    yield adapter
    await adapter.aclose()


@pytest.fixture
async def youtube_adapter(settings: Settings, clock: Clock) -> AsyncIterator[LiveStreamProvider]:
    adapter = youtube_from_settings(settings, clock=clock)
    assert adapter is not None
    yield adapter
    await adapter.aclose()


@pytest.fixture
def run(
    settings: Settings,
    database: Database,
    zoom: ZoomStandIn,
    clock: Clock,
    tmp_path: Path,
    google_calendar_adapter: CalendarPublisher,
    youtube_adapter: LiveStreamProvider,
) -> Worker:
    handlers = build_handlers(
        settings,
        database,
        FileMailbox(tmp_path / "mailbox.jsonl"),
        clock=clock,
        meeting_provider=make_adapter(zoom, clock),
        calendar_publisher=google_calendar_adapter,
        live_stream_provider=youtube_adapter,
    )
    return Worker(database, handlers, worker_id="w", clock=clock)


# -- helpers --------------------------------------------------------------------------------------


async def publish(client: Client, organiser: Staff, event_id: int, overflow: str) -> None:
    response = await client.post(
        f"/api/v1/events/{event_id}/publish", json={"overflow": overflow}, headers=organiser.headers
    )
    assert response.status_code == 200, await response.get_data(as_text=True)


async def status(client: Client, organiser: Staff, event_id: int, action: str) -> None:
    response = await client.post(f"/api/v1/events/{event_id}/{action}", headers=organiser.headers)
    assert response.status_code == 200, await response.get_data(as_text=True)


async def programme(
    client: Client, organiser: Staff, database: Database, now: dt.datetime
) -> tuple[dict[str, Any], list[int]]:
    """An Internet10 draft with ISOC Benin in slot 1 and ISOC Japan in slot 2."""
    await add_chapters(database, now, 6)
    event = await create(client, organiser, I10)
    slots = [s["id"] for s in await slots_of(client, event["id"], organiser)]
    for slot_id, code, title in ((slots[0], "BJ", None), (slots[1], "JP", "Internet in Japan")):
        body = BOOKING | {"chapter": code} | ({"title": title} if title else {})
        response = await book(client, organiser, slot_id, body)
        assert response.status_code == 201, await response.get_data(as_text=True)
    return event, slots


async def register(client: Client, event_id: int, i: int) -> dict[str, Any]:
    body = {"name": f"Personne {i}", "email": f"p{i}@example.org", "country": "BJ"}
    response = await client.post(
        f"/api/v1/events/{event_id}/registrations", json=body | {"language": "fr"}
    )
    assert response.status_code == 201, await response.get_data(as_text=True)
    data: dict[str, Any] = await response.get_json()
    return data


def entry(standin: GoogleStandIn, key: str) -> dict[str, Any]:
    return standin.events(CALENDAR_ID)[event_id_for(key)]


def shown(standin: GoogleStandIn) -> dict[str, str]:
    """Summary of every calendar event that is not cancelled, by Google id."""
    return {
        google_id: event["summary"]
        for google_id, event in standin.events(CALENDAR_ID).items()
        if event["status"] != "cancelled"
    }


def calendar_writes(standin: GoogleStandIn) -> list[tuple[str, str]]:
    return [
        (seen.method, seen.path.rsplit("/", 1)[-1])
        for seen in standin.requests
        if seen.path.startswith("/calendar/") and seen.method != "GET"
    ]


def youtube_calls(standin: GoogleStandIn) -> list[tuple[str, str]]:
    calls = []
    for seen in standin.requests:
        if not seen.path.startswith("/youtube/"):
            continue
        name = seen.path.removeprefix("/youtube/v3/")
        if name.endswith("/transition"):
            name += f":{seen.query['broadcastStatus']}"
        calls.append((seen.method, name))
    return calls


async def rows(database: Database, kind: str) -> list[GoogleObject]:
    async with database.read() as db:
        found = await db.scalars(
            select(GoogleObject).where(GoogleObject.kind == kind).order_by(GoogleObject.id)
        )
        return list(found.all())


async def jobs_of(database: Database, kind: str) -> list[Job]:
    async with database.read() as db:
        found = await db.scalars(select(Job).where(Job.kind == kind).order_by(Job.id))
        return list(found.all())


async def page(client: Client, path: str) -> str:
    response = await client.get(path)
    assert response.status_code == 200
    return await response.get_data(as_text=True)


# -- Google Calendar ------------------------------------------------------------------------------


async def test_publishing_puts_the_event_and_its_booked_slots_on_the_calendar(
    client: Client,
    organiser: Staff,
    database: Database,
    standin: GoogleStandIn,
    run: Worker,
    now: dt.datetime,
) -> None:
    event, slots = await programme(client, organiser, database, now)
    assert await run.drain() == 0  # a draft is on nobody's calendar
    await publish(client, organiser, event["id"], "none")
    await run.drain()

    link = f"{BASE}/events/{event['id']}"
    assert shown(standin) == {
        event_id_for(f"event:{event['id']}"): "Internet10 2026",
        event_id_for(f"slot:{slots[0]}"): (
            "Internet10 2026 · ISOC Benin — Coupures d'Internet au Bénin"
        ),
        event_id_for(f"slot:{slots[1]}"): "Internet10 2026 · ISOC Japan — Internet in Japan",
    }
    japan = entry(standin, f"slot:{slots[1]}")
    assert japan["start"] == {
        "dateTime": "2026-12-19T13:38:00+01:00",
        "timeZone": "Africa/Porto-Novo",
    }
    assert japan["end"] == {
        "dateTime": "2026-12-19T14:01:00+01:00",
        "timeZone": "Africa/Porto-Novo",
    }
    assert japan["description"] == (
        "13:38–14:01 Africa/Porto-Novo · 21:38–22:01 Asia/Tokyo (ISOC Japan)\n\n"
        f"Ce que les coupures de 2024 nous ont appris.\n\n{link}"
    )
    assert japan["location"] == link
    assert japan["source"] == {"title": japan["summary"], "url": link}
    assert "attendees" not in japan
    benin = entry(standin, f"slot:{slots[0]}")
    assert benin["description"].startswith("13:15–13:38 Africa/Porto-Novo\n\n")  # one zone
    whole = entry(standin, f"event:{event['id']}")
    assert (whole["start"], whole["end"]) == (
        {"dateTime": "2026-12-19T13:00:00+01:00", "timeZone": "Africa/Porto-Novo"},
        {"dateTime": "2026-12-19T17:30:00+01:00", "timeZone": "Africa/Porto-Novo"},
    )
    inserts = [s for s in standin.requests if s.method == "POST" and s.path.endswith("/events")]
    assert [s.query["sendUpdates"] for s in inserts] == ["none", "none", "none"]
    assert {r.key for r in await rows(database, "calendar_event")} == {
        f"event:{event['id']}",
        f"slot:{slots[0]}",
        f"slot:{slots[1]}",
    }
    assert [j.status for j in await jobs_of(database, google_calendar.JOB)] == ["done"]


async def test_publishing_again_never_duplicates_even_when_our_mapping_was_lost(
    client: Client,
    organiser: Staff,
    database: Database,
    standin: GoogleStandIn,
    run: Worker,
    now: dt.datetime,
) -> None:
    event, _ = await programme(client, organiser, database, now)
    await publish(client, organiser, event["id"], "none")
    await run.drain()
    before = dict(standin.events(CALENDAR_ID))
    standin.requests.clear()

    await publish(client, organiser, event["id"], "none")  # harmless: already published
    async with database.write() as db:  # the job again, as after a crash before it finished
        await enqueue(db, google_calendar.JOB, {"event_id": event["id"]}, now=now)
    await run.drain()
    assert calendar_writes(standin) == []  # nothing changed: nothing sent

    async with database.write() as db:  # the mapping lost (a restored backup)
        await db.execute(delete(GoogleObject))
        await enqueue(db, google_calendar.JOB, {"event_id": event["id"]}, now=now)
    await run.drain()
    assert sorted(calendar_writes(standin)) == sorted(
        [("POST", "events")] * 3 + [("PATCH", google_id) for google_id in before]
    )  # each insert is a 409 (the id derives from our key), then an update of the same event
    assert set(standin.events(CALENDAR_ID)) == set(before)
    assert len(await rows(database, "calendar_event")) == 3


async def test_programme_changes_update_only_the_entries_they_touch(
    client: Client,
    organiser: Staff,
    database: Database,
    standin: GoogleStandIn,
    run: Worker,
    now: dt.datetime,
) -> None:
    event, slots = await programme(client, organiser, database, now)
    await publish(client, organiser, event["id"], "none")
    await run.drain()
    standin.requests.clear()

    # the presentation's title: one entry
    response = await client.patch(
        f"/api/v1/slots/{slots[1]}/booking",
        json={"title": "Internet au Japon"},
        headers=organiser.headers,
    )
    assert response.status_code == 200
    await run.drain()
    assert calendar_writes(standin) == [("PATCH", event_id_for(f"slot:{slots[1]}"))]
    assert entry(standin, f"slot:{slots[1]}")["summary"] == (
        "Internet10 2026 · ISOC Japan — Internet au Japon"
    )

    # the whole session moves an hour later: every entry, through the programme notice
    standin.requests.clear()
    response = await client.patch(
        f"/api/v1/events/{event['id']}",
        json={"starts_at": "2026-12-19T14:00:00+01:00"},
        headers=organiser.headers,
    )
    assert response.status_code == 200
    await run.drain()
    assert sorted(calendar_writes(standin)) == sorted(
        ("PATCH", event_id_for(key))
        for key in (f"event:{event['id']}", f"slot:{slots[0]}", f"slot:{slots[1]}")
    )
    assert entry(standin, f"slot:{slots[1]}")["start"]["dateTime"] == "2026-12-19T14:38:00+01:00"
    assert entry(standin, f"slot:{slots[1]}")["description"].startswith(
        "14:38–15:01 Africa/Porto-Novo · 22:38–23:01 Asia/Tokyo (ISOC Japan)"
    )

    # a chapter gives its slot back: its entry goes; another books: its entry comes
    standin.requests.clear()
    response = await client.delete(f"/api/v1/slots/{slots[0]}/booking", headers=organiser.headers)
    assert response.status_code == 200
    response = await book(client, organiser, slots[2], BOOKING | {"chapter": "KE"})
    assert response.status_code == 201
    await run.drain()
    assert sorted(calendar_writes(standin)) == sorted(
        [("DELETE", event_id_for(f"slot:{slots[0]}")), ("POST", "events")]
    )
    assert set(shown(standin).values()) == {
        "Internet10 2026",
        "Internet10 2026 · ISOC Japan — Internet au Japon",
        "Internet10 2026 · ISOC Kenya — Coupures d'Internet au Bénin",
    }
    assert entry(standin, f"slot:{slots[0]}")["status"] == "cancelled"


async def test_cancelling_the_event_removes_every_entry(
    client: Client,
    organiser: Staff,
    database: Database,
    standin: GoogleStandIn,
    run: Worker,
    now: dt.datetime,
) -> None:
    event, _ = await programme(client, organiser, database, now)
    await publish(client, organiser, event["id"], "none")
    await run.drain()
    standin.requests.clear()

    await status(client, organiser, event["id"], "cancel")
    await run.drain()
    assert [method for method, _ in calendar_writes(standin)] == ["DELETE"] * 3
    assert shown(standin) == {}
    assert await rows(database, "calendar_event") == []


async def test_each_hub_session_is_an_entry_at_the_venue(
    client: Client,
    organiser: Staff,
    database: Database,
    standin: GoogleStandIn,
    run: Worker,
) -> None:
    hub = await create(client, organiser, HUB)
    await publish(client, organiser, hub["id"], "none")
    response = await client.post(
        f"/api/v1/events/{hub['id']}/sessions/import",
        json={"ics": SESSIONS},
        headers=organiser.headers,
    )
    assert response.status_code == 200, await response.get_data(as_text=True)
    await run.drain()

    opening = next(e for e in standin.events(CALENDAR_ID).values() if "Opening" in e["summary"])
    assert opening["summary"] == "Hub IGF Cotonou · Opening ceremony"
    assert opening["start"] == {
        "dateTime": "2026-12-10T10:30:00+01:00",
        "timeZone": "Africa/Porto-Novo",
    }
    assert opening["location"] == "Cotonou"
    assert opening["description"] == (
        "IGF · 10:30–12:30 Africa/Porto-Novo\n\nLive from the host city.\n\n"
        f"{BASE}/events/{hub['id']}"
    )
    assert sorted(shown(standin).values()) == [
        "Hub IGF Cotonou",
        "Hub IGF Cotonou · DNS abuse",
        "Hub IGF Cotonou · Opening ceremony",
    ]


# -- YouTube Live ---------------------------------------------------------------------------------


async def overflow_event(client: Client, organiser: Staff) -> dict[str, Any]:
    """An Internet10 session expecting 150 people (more than a Zoom Pro host), two places in the
    meeting, the rest sent to YouTube."""
    event = await create(client, organiser, I10 | {"capacity": 2, "participant_target": 150})
    await publish(client, organiser, event["id"], "livestream")
    return event


async def test_the_overflow_livestream_is_created_bound_handed_to_zoom_and_follows_the_event(
    client: Client,
    organiser: Staff,
    database: Database,
    standin: GoogleStandIn,
    zoom: ZoomStandIn,
    run: Worker,
    clock: Clock,
) -> None:
    event = await overflow_event(client, organiser)
    await run.drain()

    assert youtube_calls(standin) == [
        ("GET", "liveStreams"),  # looked for a stream of ours first (a retried job)
        ("POST", "liveStreams"),
        ("GET", "liveBroadcasts"),
        ("POST", "liveBroadcasts"),
        ("POST", "liveBroadcasts/bind"),
    ]
    [broadcast] = standin.broadcasts.values()
    [stream] = standin.streams.values()
    assert broadcast["contentDetails"]["boundStreamId"] == stream["id"]
    assert broadcast["status"]["lifeCycleStatus"] == "ready"
    assert broadcast["status"]["privacyStatus"] == "unlisted"
    assert broadcast["snippet"]["title"] == "Internet10 2026"
    assert broadcast["snippet"]["scheduledStartTime"] == "2026-12-19T12:00:00Z"
    assert broadcast["snippet"]["scheduledEndTime"] == "2026-12-19T16:30:00Z"
    assert broadcast["snippet"]["description"] == f"{BASE}/events/{event['id']}"

    [row] = await rows(database, "broadcast")
    ingestion = stream["cdn"]["ingestionInfo"]
    watch = f"{standin.watch_url}{broadcast['id']}"
    assert (row.google_id, row.stream_id, row.state) == (broadcast["id"], stream["id"], "ready")
    assert (row.ingestion_address, row.stream_name, row.watch_url) == (
        ingestion["ingestionAddress"],
        ingestion["streamName"],
        watch,
    )
    # Zoom pushes the meeting to YouTube
    [meeting_id] = zoom.meetings
    assert zoom.live_streams == {
        meeting_id: {
            "stream_url": ingestion["ingestionAddress"],
            "stream_key": ingestion["streamName"],
            "page_url": watch,
        }
    }
    assert row.meeting_id == str(meeting_id)

    # the watch link: on the public page, and on the personal page of the waitlisted only
    confirmed = [await register(client, event["id"], i) for i in (1, 2)]
    waitlisted = await register(client, event["id"], 3)
    assert waitlisted["status"] == "waitlisted"
    public = await page(client, f"/events/{event['id']}")
    assert f'<a href="{watch}" rel="noreferrer">Suivre le direct sur YouTube</a>' in public
    mine = await page(client, f"/me/{waitlisted['access_token']}?lang=en")
    assert "The meeting is full: follow the event on the livestream" in mine
    assert f'href="{watch}"' in mine
    for person in confirmed:
        assert watch not in await page(client, f"/me/{person['access_token']}")
    for html in (public, mine):
        assert ingestion["streamName"] not in html  # the stream key is Zoom's only

    # the event goes live: testing, then live; it ends: complete
    standin.requests.clear()
    await status(client, organiser, event["id"], "start")
    await run.drain()
    assert broadcast["status"]["lifeCycleStatus"] == "testing"
    [job] = [j for j in await jobs_of(database, livestreams.JOB) if j.status == "pending"]
    assert job.run_after == clock() + livestreams.TESTING_PAUSE
    clock.advance(6)
    await run.drain()
    assert broadcast["status"]["lifeCycleStatus"] == "live"
    await status(client, organiser, event["id"], "end")
    await run.drain()
    assert broadcast["status"]["lifeCycleStatus"] == "complete"
    assert youtube_calls(standin) == [
        ("POST", "liveBroadcasts/transition:testing"),
        ("POST", "liveBroadcasts/transition:live"),
        ("POST", "liveBroadcasts/transition:complete"),
    ]
    assert [r.state for r in await rows(database, "broadcast")] == ["complete"]
    ended = await page(client, f"/events/{event['id']}?lang=fr")
    assert f'<a href="{watch}" rel="noreferrer">Voir l’enregistrement sur YouTube</a>' in ended


async def test_a_moderator_starting_the_first_slot_takes_the_broadcast_live(
    client: Client,
    organiser: Staff,
    database: Database,
    standin: GoogleStandIn,
    run: Worker,
    clock: Clock,
) -> None:
    event = await overflow_event(client, organiser)
    await run.drain()
    [first, *_] = await slots_of(client, event["id"], organiser)
    response = await client.post(
        f"/api/v1/slots/{first['id']}/live", json={"action": "start"}, headers=organiser.headers
    )
    assert response.status_code == 200, await response.get_data(as_text=True)
    await run.drain()
    clock.advance(6)
    await run.drain()
    [broadcast] = standin.broadcasts.values()
    assert broadcast["status"]["lifeCycleStatus"] == "live"


async def test_going_live_before_zoom_sends_video_waits_for_it(
    client: Client,
    organiser: Staff,
    database: Database,
    standin: GoogleStandIn,
    run: Worker,
    clock: Clock,
) -> None:
    standin.video_arrives = False  # Zoom has not started its live stream yet
    hub = await create(client, organiser, HUB)  # every hub retransmits on YouTube
    await publish(client, organiser, hub["id"], "none")
    await run.drain()
    await status(client, organiser, hub["id"], "start")
    await run.drain()

    [broadcast] = standin.broadcasts.values()
    assert broadcast["status"]["lifeCycleStatus"] == "ready"
    [job] = [j for j in await jobs_of(database, livestreams.JOB) if j.status == "pending"]
    assert job.run_after == clock() + livestreams.STREAM_WAIT
    assert job.attempts == 1
    assert "errorStreamInactive" in (job.last_error or "")
    assert "Live on Custom Live Streaming Service" in (job.last_error or "")

    clock.advance(31)
    await run.drain()  # still no video: waits again
    assert broadcast["status"]["lifeCycleStatus"] == "ready"
    standin.push_video(broadcast["contentDetails"]["boundStreamId"])
    clock.advance(31)
    await run.drain()
    clock.advance(6)
    await run.drain()
    assert broadcast["status"]["lifeCycleStatus"] == "live"


async def test_cancelling_before_going_live_deletes_the_broadcast_and_its_stream(
    client: Client,
    organiser: Staff,
    database: Database,
    standin: GoogleStandIn,
    zoom: ZoomStandIn,
    run: Worker,
) -> None:
    event = await overflow_event(client, organiser)
    await run.drain()
    [broadcast_id] = standin.broadcasts
    [stream_id] = standin.streams
    standin.requests.clear()

    await status(client, organiser, event["id"], "cancel")
    await run.drain()
    assert youtube_calls(standin) == [("DELETE", "liveBroadcasts"), ("DELETE", "liveStreams")]
    assert [s.query["id"] for s in standin.requests if s.path.startswith("/youtube/")] == [
        broadcast_id,
        stream_id,
    ]
    assert (standin.broadcasts, standin.streams, zoom.meetings) == ({}, {}, {})
    assert await rows(database, "broadcast") == []
    assert "YouTube" not in await page(client, f"/events/{event['id']}")


async def test_the_stream_reaches_a_meeting_created_after_it(
    client: Client,
    organiser: Staff,
    database: Database,
    standin: GoogleStandIn,
    zoom: ZoomStandIn,
    run: Worker,
    clock: Clock,
) -> None:
    await zoom.down()
    hub = await create(client, organiser, HUB)
    await publish(client, organiser, hub["id"], "none")
    await run.drain()
    assert len(standin.broadcasts) == 1  # YouTube did its part
    assert zoom.meetings == {}

    await zoom.up()
    clock.advance(minutes=2)
    await run.drain()
    [(meeting_id, _)] = zoom.meetings.items()
    [row] = await rows(database, "broadcast")
    assert zoom.live_streams[meeting_id]["stream_key"] == row.stream_name
    assert row.meeting_id == str(meeting_id)
    assert [j.status for j in await jobs_of(database, livestreams.HANDOFF_JOB)] == ["done"]


async def test_a_title_change_updates_the_broadcast(
    client: Client,
    organiser: Staff,
    database: Database,
    standin: GoogleStandIn,
    run: Worker,
) -> None:
    hub = await create(client, organiser, HUB)
    await publish(client, organiser, hub["id"], "none")
    await run.drain()
    response = await client.patch(
        f"/api/v1/events/{hub['id']}",
        json={"title": "Hub <IGF> Cotonou " + "x" * 120},
        headers=organiser.headers,
    )
    assert response.status_code == 200
    await run.drain()
    [broadcast] = standin.broadcasts.values()
    title = broadcast["snippet"]["title"]
    assert title.startswith("Hub ‹IGF› Cotonou xxx")  # YouTube refuses < and >
    assert (len(title), title[-1]) == (100, "…")
    assert ("PUT", "liveBroadcasts") in youtube_calls(standin)


# -- Google refusing or failing -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status_code", "reason", "retry_after", "deferred_for"),
    [
        (429, "rateLimitExceeded", 120, dt.timedelta(seconds=120)),
        (503, "backendError", None, dt.timedelta(seconds=1)),
        (403, "userRateLimitExceeded", None, dt.timedelta(seconds=1)),
    ],
)
async def test_calendar_rate_limits_and_outages_defer_the_job_until_it_succeeds(
    status_code: int,
    reason: str,
    retry_after: int | None,
    deferred_for: dt.timedelta,
    client: Client,
    organiser: Staff,
    database: Database,
    standin: GoogleStandIn,
    run: Worker,
    clock: Clock,
    now: dt.datetime,
) -> None:
    event, _ = await programme(client, organiser, database, now)
    standin.fail_next(1, status_code, reason=reason, retry_after=retry_after, method="POST")
    await publish(client, organiser, event["id"], "none")
    await run.drain()
    [job] = await jobs_of(database, google_calendar.JOB)
    # Google's moment (or the gate's first second), then a little later than jobs deferred
    # meanwhile; an outage or a rate limit spends no attempt.
    assert (job.status, job.attempts) == ("pending", 0)
    later = job.run_after - (now + deferred_for)
    assert dt.timedelta(seconds=2) <= later <= dt.timedelta(seconds=4)
    assert f"HTTP {status_code} {reason}" in (job.last_error or "")

    clock.now = now + deferred_for + dt.timedelta(seconds=5)
    await run.drain()
    [job] = await jobs_of(database, google_calendar.JOB)
    assert job.status == "done"
    assert len(shown(standin)) == 3


async def test_a_calendar_that_refuses_us_fails_the_job_with_googles_reason_on_the_jobs_page(
    client: Client,
    organiser: Staff,
    database: Database,
    standin: GoogleStandIn,
    run: Worker,
    now: dt.datetime,
) -> None:
    event, _ = await programme(client, organiser, database, now)
    standin.fail_next(
        1,
        403,
        reason="forbidden",
        message="You need to have writer access to this calendar.",
        method="POST",
    )
    await publish(client, organiser, event["id"], "none")
    await run.drain()
    [job] = await jobs_of(database, google_calendar.JOB)
    assert job.status == JobStatus.FAILED.value
    assert job.attempts == 1
    assert job.last_error == (
        f"PermanentJobError: Google Calendar: Google Calendar insert event "
        f"{event_id_for('event:' + str(event['id']))} (event:{event['id']}) failed: "
        "HTTP 403 forbidden: You need to have writer access to this calendar."
    )
    jobs_page = await client.get("/organiser/jobs", headers=organiser.headers)
    html = await jobs_page.get_data(as_text=True)
    assert f'data-job="{job.id}"' in html
    assert "HTTP 403 forbidden: You need to have writer access to this calendar." in html


async def test_youtube_out_of_daily_quota_waits_for_midnight_pacific(
    client: Client,
    organiser: Staff,
    database: Database,
    standin: GoogleStandIn,
    run: Worker,
    clock: Clock,
) -> None:
    standin.fail_next(1, 403, reason="quotaExceeded", path="/youtube/v3/liveStreams")
    hub = await create(client, organiser, HUB)
    await publish(client, organiser, hub["id"], "none")
    await run.drain()
    [job] = await jobs_of(database, livestreams.JOB)
    midnight_pacific = dt.datetime(2026, 11, 29, 8, 0, tzinfo=dt.UTC)  # 00:00 PST
    assert (job.status, job.attempts) == ("pending", 0)  # waiting for the quota spends none
    later = job.run_after - midnight_pacific
    assert dt.timedelta(seconds=2) <= later <= dt.timedelta(seconds=4)
    assert "quotaExceeded" in (job.last_error or "")
    # the calendar has its own gate: YouTube's quota does not hold it back
    assert [j.status for j in await jobs_of(database, google_calendar.JOB)] == ["done"]

    clock.now = midnight_pacific + dt.timedelta(seconds=5)
    await run.drain()
    assert len(standin.broadcasts) == 1


async def test_expired_tokens_are_refreshed_for_both_apis(
    client: Client,
    organiser: Staff,
    database: Database,
    standin: GoogleStandIn,
    run: Worker,
) -> None:
    hub = await create(client, organiser, HUB)
    await publish(client, organiser, hub["id"], "none")
    await run.drain()
    standin.expire_tokens()
    standin.requests.clear()
    response = await client.patch(
        f"/api/v1/events/{hub['id']}", json={"title": "Hub IGF 2026"}, headers=organiser.headers
    )
    assert response.status_code == 200
    await run.drain()
    grants = sorted(s.body["grant_type"] for s in standin.requests if s.path == "/token")
    assert grants == ["refresh_token", "urn:ietf:params:oauth:grant-type:jwt-bearer"]
    assert entry(standin, f"event:{hub['id']}")["summary"] == "Hub IGF 2026"
    [broadcast] = standin.broadcasts.values()
    assert broadcast["snippet"]["title"] == "Hub IGF 2026"
    async with database.read() as db:
        kinds = {j.kind: j.status for j in (await db.scalars(select(Job))).all()}
    assert kinds[google_calendar.JOB] == kinds[livestreams.JOB] == "done"


class ChangingMidway:
    """The real calendar adapter, with the programme changing while the job runs (as another
    worker's request would): right after the job's first insert."""

    def __init__(self, adapter: CalendarPublisher, change: Any) -> None:
        self.adapter = adapter
        self.change = change
        self.inserts: list[str] = []

    async def upsert_event(self, calendar_id: str, key: str, event: Any) -> str:
        self.inserts.append(key)
        google_id = await self.adapter.upsert_event(calendar_id, key, event)
        if len(self.inserts) == 1:
            await self.change()
        return google_id

    async def update_event(self, calendar_id: str, event_id: str, event: Any) -> None:
        await self.adapter.update_event(calendar_id, event_id, event)

    async def delete_event(self, calendar_id: str, event_id: str) -> None:
        await self.adapter.delete_event(calendar_id, event_id)

    async def aclose(self) -> None:
        await self.adapter.aclose()


async def test_a_change_during_the_job_queues_one_more_look(
    client: Client,
    organiser: Staff,
    database: Database,
    standin: GoogleStandIn,
    google_calendar_adapter: CalendarPublisher,
    now: dt.datetime,
) -> None:
    event, slots = await programme(client, organiser, database, now)
    await publish(client, organiser, event["id"], "none")

    async def retitle() -> None:
        response = await client.patch(
            f"/api/v1/slots/{slots[1]}/booking",
            json={"title": "Internet au Japon"},
            headers=organiser.headers,
        )
        assert response.status_code == 200

    publisher = ChangingMidway(google_calendar_adapter, retitle)
    outcome = await google_calendar.sync_calendar(
        database, publisher, event["id"], calendar_id=CALENDAR_ID, base_url=BASE, now=now
    )
    assert len(outcome.published) == 3  # what it had read: the old title
    async with database.read() as db:
        stored = await db.get(Event, event["id"])
        assert stored is not None
        again = await db.scalar(
            select(Job).where(
                Job.dedupe_key == f"google.calendar:{event['id']}:{stored.sequence}:after:"
                f"{stored.sequence - 1}"
            )
        )
    assert again is not None
    assert again.status == "pending"
    await google_calendar.sync_calendar(
        database, publisher, event["id"], calendar_id=CALENDAR_ID, base_url=BASE, now=now
    )
    assert entry(standin, f"slot:{slots[1]}")["summary"] == (
        "Internet10 2026 · ISOC Japan — Internet au Japon"
    )
