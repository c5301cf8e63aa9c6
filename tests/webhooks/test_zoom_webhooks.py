"""POST /webhooks/zoom: signatures over the raw bytes, freshness, URL validation, storage once,
and the whole journey with the real Zoom stand-in (room page -> signed webhook -> interval)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from quart.typing import TestClientProtocol as Client
from sqlalchemy import func, select

from integrations.mail.mailbox import FileMailbox
from integrations.zoom import MeetingSpec, webhook_signature
from integrations.zoom.adapter import ZoomMeetings
from integrations.zoom.standin import ZoomStandIn
from internet10.app import create_app
from internet10.db import Database
from internet10.jobs.handlers import build_handlers
from internet10.jobs.worker import Worker
from internet10.models import AttendanceInterval, Event, Job, Registration, WebhookDelivery
from internet10.settings import Settings, load_settings
from internet10.state import Dependencies, utcnow
from tests.conftest import SECRET
from tests.serving import served

pytestmark = pytest.mark.integration

WEBHOOK_SECRET = "zoom-webhook-secret-for-tests"
MEETING_ID = "81234567890"


@pytest.fixture
def settings(database_url: str) -> Settings:
    return load_settings(
        {},
        database_url=database_url,
        secret_key=SECRET,
        base_url="http://testserver",
        secure_cookies=True,
        database_pool_size=20,
        zoom_webhook_secret=WEBHOOK_SECRET,
    )


# -- helpers shared with test_attendance_intervals ----------------------------------------------


def zoom_time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def envelope(
    kind: str,
    *,
    meeting_id: str = MEETING_ID,
    participant: dict[str, Any] | None = None,
    event_ts: int = 1_795_856_400_000,
    **obj: Any,
) -> dict[str, Any]:
    body_object: dict[str, Any] = {
        "id": meeting_id,
        "uuid": "4444AAAiAAAAAiAiAiiAii==",
        "host_id": "x1yCzABCDEfg23HiJKl4mN",
        "topic": "Internet10 2026",
        "type": 2,
        "start_time": "2026-11-28T09:00:00Z",
        "timezone": "Africa/Porto-Novo",
        "duration": 120,
        **obj,
    }
    if participant is not None:
        body_object["participant"] = participant
    return {
        "event": kind,
        "event_ts": event_ts,
        "payload": {"account_id": "acc-1", "object": body_object},
    }


def encode(document: dict[str, Any]) -> bytes:
    """As Zoom sends it: UTF-8, non-ASCII characters unescaped."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def signed(body: bytes, moment: dt.datetime, secret: str = WEBHOOK_SECRET) -> dict[str, str]:
    timestamp = str(int(moment.timestamp()))
    return {
        "Content-Type": "application/json; charset=utf-8",
        "x-zm-request-timestamp": timestamp,
        "x-zm-signature": webhook_signature(secret, timestamp, body),
    }


async def post(client: Client, body: bytes, headers: dict[str, str]) -> Any:
    return await client.post("/webhooks/zoom", data=body, headers=headers)


async def add_event(database: Database, now: dt.datetime, meeting_id: str = MEETING_ID) -> int:
    async with database.write() as db:
        event = Event(
            kind="internet10",
            title="Internet10 2026",
            starts_at=now,
            duration_minutes=120,
            timezone="Africa/Porto-Novo",
            capacity=500,
            participant_target=150,
            status="published",
            meeting_id=meeting_id,
            created_at=now,
            updated_at=now,
        )
        db.add(event)
        await db.flush()
        return event.id


async def add_registration(
    database: Database,
    event_id: int,
    name: str,
    email: str,
    now: dt.datetime,
    registrant_id: str | None = None,
) -> int:
    async with database.write() as db:
        registration = Registration(
            event_id=event_id,
            name=name,
            email=email,
            country="BJ",
            language="fr",
            mode="online",
            status="confirmed",
            zoom_registrant_id=registrant_id,
            created_at=now,
            updated_at=now,
        )
        db.add(registration)
        await db.flush()
        return registration.id


def worker(settings: Settings, database: Database, tmp_path: Path, now: dt.datetime) -> Worker:
    handlers = build_handlers(
        settings, database, FileMailbox(tmp_path / "mailbox.jsonl"), clock=lambda: now
    )
    return Worker(database, handlers, worker_id="w", clock=lambda: now)


async def count(database: Database, model: Any) -> int:
    async with database.read() as db:
        return int(await db.scalar(select(func.count()).select_from(model)) or 0)


# -- signatures -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Aïcha Zinsou", "李小龍", "Ama Owusu"])
async def test_webhook_signed_over_raw_bytes_accepted_with_any_script(
    client: Client, database: Database, now: dt.datetime, name: str
) -> None:
    participant = {
        "user_id": "16778240",
        "user_name": name,
        "id": "",
        "participant_uuid": "PU-1",
        "registrant_id": "",
        "email": "",
        "join_time": zoom_time(now),
    }
    body = encode(envelope("meeting.participant_joined", participant=participant))
    assert name.isascii() or name.encode() in body  # really sent unescaped

    response = await post(client, body, signed(body, now))

    assert response.status_code == 200
    assert await response.get_json() == {"status": "accepted"}
    async with database.read() as db:
        [stored] = (await db.scalars(select(WebhookDelivery))).all()
    assert stored.digest == hashlib.sha256(body).hexdigest()
    assert stored.kind == "meeting.participant_joined"
    assert stored.meeting_id == MEETING_ID
    assert stored.event_time == now
    assert stored.payload["payload"]["object"]["participant"]["user_name"] == name
    async with database.read() as db:
        [job] = (await db.scalars(select(Job))).all()
    assert (job.kind, job.payload, job.dedupe_key) == (
        "zoom.webhook",
        {"delivery_id": stored.id},
        f"zoom.webhook:{stored.id}",
    )


async def test_webhook_signature_over_reserialised_body_refused(
    client: Client, database: Database, now: dt.datetime
) -> None:
    document = envelope(
        "meeting.participant_joined",
        participant={"user_id": "1", "user_name": "Aïcha", "join_time": zoom_time(now)},
    )
    sent = json.dumps(document, separators=(",", ":")).encode()  # \u00ef escaped
    headers = signed(encode(document), now)  # signed over other bytes

    response = await post(client, sent, headers)

    assert response.status_code == 401
    assert (await response.get_json())["code"] == "BAD_SIGNATURE"
    assert await count(database, WebhookDelivery) == 0


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ("forged", "BAD_SIGNATURE"),
        ("wrong_secret", "BAD_SIGNATURE"),
        ("no_signature", "BAD_SIGNATURE"),
        ("no_timestamp", "BAD_SIGNATURE"),
        ("timestamp_not_a_number", "BAD_SIGNATURE"),
        ("stale", "STALE_TIMESTAMP"),
        ("future", "STALE_TIMESTAMP"),
    ],
)
async def test_webhook_refused_when_signature_bad_or_timestamp_far(
    client: Client, database: Database, now: dt.datetime, change: str, code: str
) -> None:
    body = encode(envelope("meeting.started"))
    headers = signed(body, now)
    if change == "forged":
        headers["x-zm-signature"] = "v0=" + "0" * 64
    elif change == "wrong_secret":
        headers = signed(body, now, secret="not-the-secret")
    elif change == "no_signature":
        del headers["x-zm-signature"]
    elif change == "no_timestamp":
        del headers["x-zm-request-timestamp"]
    elif change == "timestamp_not_a_number":
        headers["x-zm-request-timestamp"] = "soon"
    elif change == "stale":
        headers = signed(body, now - dt.timedelta(seconds=301))
    elif change == "future":
        headers = signed(body, now + dt.timedelta(seconds=301))

    response = await post(client, body, headers)

    assert response.status_code == 401
    assert (await response.get_json())["code"] == code
    assert await count(database, WebhookDelivery) == 0


@pytest.mark.parametrize("offset", [-300, 300])
async def test_webhook_accepted_at_the_edge_of_the_window(
    client: Client, now: dt.datetime, offset: int
) -> None:
    body = encode(envelope("meeting.started"))
    response = await post(client, body, signed(body, now + dt.timedelta(seconds=offset)))
    assert response.status_code == 200


async def test_url_validation_answered_with_encrypted_token(
    client: Client, database: Database, now: dt.datetime
) -> None:
    body = encode(
        {
            "event": "endpoint.url_validation",
            "event_ts": 1_795_856_400_000,
            "payload": {"plainToken": "qgg8vlvZRS6UYooatFL8Aw"},
        }
    )

    response = await post(client, body, signed(body, now))

    assert response.status_code == 200
    expected = hmac.new(
        WEBHOOK_SECRET.encode(), b"qgg8vlvZRS6UYooatFL8Aw", hashlib.sha256
    ).hexdigest()
    assert await response.get_json() == {
        "plainToken": "qgg8vlvZRS6UYooatFL8Aw",
        "encryptedToken": expected,
    }
    assert await count(database, WebhookDelivery) == 0


async def test_url_validation_unsigned_refused(client: Client) -> None:
    body = encode({"event": "endpoint.url_validation", "payload": {"plainToken": "abc"}})
    response = await post(client, body, {"Content-Type": "application/json"})
    assert response.status_code == 401


# -- storage --------------------------------------------------------------------------------------


async def test_duplicate_delivery_stored_once(
    client: Client, database: Database, now: dt.datetime
) -> None:
    body = encode(envelope("meeting.ended", end_time=zoom_time(now)))
    for seconds in (0, 5, 20):  # Zoom's retries: same bytes, new timestamp
        response = await post(client, body, signed(body, now + dt.timedelta(seconds=seconds)))
        assert response.status_code == 200
        assert await response.get_json() == {"status": "accepted"}
    assert await count(database, WebhookDelivery) == 1
    assert await count(database, Job) == 1


async def test_unknown_event_acknowledged_and_not_stored(
    client: Client, database: Database, now: dt.datetime
) -> None:
    body = encode(envelope("meeting.sharing_started"))
    response = await post(client, body, signed(body, now))
    assert response.status_code == 200
    assert await response.get_json() == {"status": "ignored"}
    assert await count(database, WebhookDelivery) == 0
    assert await count(database, Job) == 0


@pytest.mark.parametrize(
    "body",
    [
        b'{"event": "meeting.started", ',
        b"[1, 2]",
        b'{"payload": {}}',
        b"\xff\xfe not utf-8",
        encode({"event": "meeting.started", "payload": {"object": {"topic": "no id"}}}),
        encode(envelope("meeting.participant_joined", participant={"user_name": "no one"})),
        encode({"event": "endpoint.url_validation", "payload": {}}),
    ],
)
async def test_signed_but_malformed_body_is_400(
    client: Client, database: Database, now: dt.datetime, body: bytes
) -> None:
    response = await post(client, body, signed(body, now))
    assert response.status_code == 400
    assert (await response.get_json())["code"] == "MALFORMED_BODY"
    assert await count(database, WebhookDelivery) == 0


async def test_oversized_body_is_413(client: Client, database: Database, now: dt.datetime) -> None:
    body = encode(envelope("meeting.started", agenda="x" * 300_000))
    response = await post(client, body, signed(body, now))
    assert response.status_code == 413
    assert await count(database, WebhookDelivery) == 0


async def test_webhooks_absent_without_a_secret(
    database: Database, database_url: str, now: dt.datetime
) -> None:
    plain = load_settings({}, database_url=database_url, secret_key=SECRET)
    app = create_app(plain, dependencies=Dependencies(database=database, clock=lambda: now))
    body = encode(envelope("meeting.started"))
    async with app.test_app():
        response = await app.test_client().post(
            "/webhooks/zoom", data=body, headers=signed(body, now)
        )
    assert response.status_code == 404


# -- the whole journey ----------------------------------------------------------------------------


@pytest.mark.e2e
async def test_standin_room_page_gives_an_open_interval_tied_to_the_registration(
    settings: Settings, database: Database, tmp_path: Path
) -> None:
    app = create_app(settings, dependencies=Dependencies(database=database, clock=utcnow))
    async with (
        app.test_app(),
        served(app) as base,
        ZoomStandIn(webhook_url=f"{base}/webhooks/zoom", webhook_secret=WEBHOOK_SECRET) as standin,
    ):
        start = utcnow()
        zoom = ZoomMeetings(
            standin.account_id,
            standin.client_id,
            standin.client_secret,
            standin.api_url,
            standin.oauth_url,
        )
        meeting = await zoom.create_meeting(
            MeetingSpec("Internet10 2026", start, 120, "Africa/Porto-Novo")
        )
        registrant = await zoom.add_registrant(
            meeting.provider_id, "aicha@example.bj", "Aïcha", "Zinsou"
        )
        event_id = await add_event(database, start, meeting_id=meeting.provider_id)
        registration_id = await add_registration(
            database, event_id, "Aïcha Zinsou", "aicha@example.bj", start, registrant.provider_id
        )
        await add_registration(database, event_id, "Koffi Agbo", "koffi@example.bj", start)

        async with aiohttp.ClientSession() as http:
            async with http.get(registrant.join_url) as room:
                assert room.status == 200
                page = await room.text()
            assert standin.webhook_deliveries == [("meeting.participant_joined", 200)]
            assert await count(database, WebhookDelivery) == 1

            ran = await worker(settings, database, tmp_path, utcnow()).drain()
            assert ran == 1
            async with database.read() as db:
                [interval] = (await db.scalars(select(AttendanceInterval))).all()
            assert interval.event_id == event_id
            assert interval.registration_id == registration_id
            assert interval.name == "Aïcha Zinsou"
            assert interval.left_at is None
            assert abs((interval.joined_at - start).total_seconds()) <= 5

            # Pressing Leave closes it.
            match = re.search(r'name="participant_uuid" value="([0-9A-F]+)"', page)
            assert match is not None
            leave_url = f"{standin.base_url}/w/{meeting.provider_id}/leave"
            async with http.post(leave_url, data={"participant_uuid": match[1]}) as left:
                assert left.status == 200
        assert standin.webhook_deliveries[-1] == ("meeting.participant_left", 200)
        assert await worker(settings, database, tmp_path, utcnow()).drain() == 1
        async with database.read() as db:
            [closed] = (await db.scalars(select(AttendanceInterval))).all()
        assert closed.joined_at == interval.joined_at
        assert closed.left_at is not None
        assert closed.left_at >= closed.joined_at
        assert closed.registration_id == registration_id
