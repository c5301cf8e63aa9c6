"""Without Google settings, nothing is queued for Google: the service works as before."""

from __future__ import annotations

import datetime as dt

import pytest
from quart.typing import TestClientProtocol as Client
from sqlalchemy import select

from internet10.db import Database
from internet10.models import Event, Job
from tests.api.test_events import HUB, I10, create
from tests.booking.test_booking_api import BOOKING, add_chapters, book, slots_of
from tests.conftest import Staff

pytestmark = pytest.mark.integration


async def test_publishing_booking_and_going_live_queue_no_google_job(
    client: Client, organiser: Staff, database: Database, now: dt.datetime
) -> None:
    await add_chapters(database, now, 1)
    event = await create(client, organiser, I10)
    hub = await create(client, organiser, HUB)
    for published in (event, hub):
        response = await client.post(
            f"/api/v1/events/{published['id']}/publish",
            json={"overflow": "livestream"},
            headers=organiser.headers,
        )
        assert response.status_code == 200
    [first, *_] = await slots_of(client, event["id"], organiser)
    assert (
        await book(client, organiser, first["id"], BOOKING | {"chapter": "BJ"})
    ).status_code == 201
    for action in ("start", "end"):
        response = await client.post(
            f"/api/v1/events/{hub['id']}/{action}", headers=organiser.headers
        )
        assert response.status_code == 200
    async with database.read() as db:
        kinds = {j.kind for j in (await db.scalars(select(Job))).all()}
        stored = await db.get(Event, event["id"])
    assert stored is not None
    assert stored.overflow_livestream is True
    assert sorted(k for k in kinds if k.startswith(("google.", "youtube."))) == []
