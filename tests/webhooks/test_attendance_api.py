"""``GET /api/v1/events/{id}/attendance``: who may read it, and one person counted once."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from quart.typing import TestClientProtocol as Client
from sqlalchemy import select

from internet10.db import Database
from internet10.models import AttendanceInterval, LiveEvent, Role
from internet10.settings import Settings
from tests.conftest import Staff, make_staff
from tests.webhooks.test_zoom_webhooks import (
    add_event,
    add_registration,
    encode,
    envelope,
    post,
    settings,
    signed,
    worker,
    zoom_time,
)

__all__ = ["settings"]  # the webhook tests' settings (with the webhook secret) apply here

pytestmark = pytest.mark.integration


async def test_attendance_counts_people_once_and_is_for_moderators_and_organisers(
    client: Client, organiser: Staff, database: Database, now: dt.datetime
) -> None:
    start = now - dt.timedelta(minutes=60)  # the event began an hour ago
    event_id = await add_event(database, start)
    other_id = await add_event(database, start, meeting_id="999")
    aicha = await add_registration(database, event_id, "Aïcha Zinsou", "aicha@example.bj", start)
    spans = [
        (aicha, "zoom", "P1", 0, 30),
        (aicha, "zoom", "P1", 40, None),  # re-joined: still one person, in the room now
        (aicha, "report", "P9", 50, 60),  # a second device, seen in the report
        (None, "zoom", "phone-1", 5, 25),  # a guest by phone
    ]
    async with database.write() as db:
        for registration_id, source, key, begin, end in spans:
            db.add(
                AttendanceInterval(
                    event_id=event_id,
                    registration_id=registration_id,
                    source=source,
                    participant_key=key,
                    name="x",
                    email=None,
                    joined_at=start + dt.timedelta(minutes=begin),
                    left_at=None if end is None else start + dt.timedelta(minutes=end),
                    created_at=now,
                )
            )
    path = f"/api/v1/events/{event_id}/attendance"

    response = await client.get(path, headers=organiser.headers)
    assert response.status_code == 200
    body = await response.get_json()
    assert (body["attended"], body["present_now"], body["peak"]) == (2, 1, 2)
    assert body["peak_at"] == "2026-11-28T08:05:00Z"
    assert body["total_minutes"] == 70.0  # Aïcha 0..30 and 40..60 (now); the phone 5..25
    assert body["median_minutes"] == 35.0
    assert body["funnel"] == {"registered": 1, "confirmed": 1, "clicked_join": 0, "attended": 2}
    assert body["breakdowns"]["place"] == {"online": 2}
    assert body["breakdowns"]["country"] == {"": 1, "BJ": 1}
    assert [i["source"] for i in body["intervals"]] == ["zoom", "zoom", "zoom", "report"]
    assert body["intervals"][0]["joined_at"] == "2026-11-28T08:00:00Z"

    moderator = await make_staff(
        database, "m@example.bj", Role.MODERATOR, now=now, event_id=event_id
    )
    elsewhere = await make_staff(
        database, "o@example.bj", Role.MODERATOR, now=now, event_id=other_id
    )
    assert (await client.get(path, headers=moderator.headers)).status_code == 200
    assert (await client.get(path, headers=elsewhere.headers)).status_code == 403
    assert (await client.get(path)).status_code == 401
    missing = await client.get("/api/v1/events/4242/attendance", headers=organiser.headers)
    assert missing.status_code == 404


async def test_processing_a_webhook_tells_live_pages_the_new_counts_and_nothing_personal(
    client: Client, database: Database, settings: Settings, tmp_path: Path, now: dt.datetime
) -> None:
    event_id = await add_event(database, now - dt.timedelta(minutes=30))
    await add_registration(database, event_id, "Aïcha Zinsou", "aicha@example.bj", now, "REG1")
    joined = envelope(
        "meeting.participant_joined",
        participant={
            "user_id": "16778240",
            "user_name": "Aïcha Zinsou",
            "participant_uuid": "P1",
            "registrant_id": "REG1",
            "email": "aicha@example.bj",
            "join_time": zoom_time(now - dt.timedelta(minutes=10)),
        },
    )
    body = encode(joined)
    assert (await post(client, body, signed(body, now))).status_code == 200
    assert await worker(settings, database, tmp_path, now).drain() == 1
    async with database.read() as db:
        rows = (await db.scalars(select(LiveEvent))).all()
    assert [(r.event_id, r.kind, r.data) for r in rows] == [
        (
            event_id,
            "attendance",
            {"attended": 1, "present_now": 1, "peak": 1, "target": 150, "progress": 0.0067},
        )
    ]
