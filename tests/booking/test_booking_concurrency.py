"""Simultaneous bookings: exactly one wins, the others get a clean 409, never a 5xx.

Each scenario runs twice: through the Quart test client (``asyncio.gather``), and over real
HTTP against the app served by Hypercorn on a loopback port, with aiohttp firing the requests
on separate connections. A counter around the ASGI app proves the requests were in flight
together (all of them, in practice; the tests ask for at least half): a test that serialised them
by accident would fail instead of passing for nothing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client
from sqlalchemy import func, select

from internet10.app import create_app
from internet10.db import Database
from internet10.models import Slot
from internet10.settings import Settings
from internet10.state import Dependencies
from tests.booking.test_booking_api import (
    BOOKING,
    CHAPTERS,
    add_chapters,
    delegate,
    new_event,
    slots_of,
)
from tests.conftest import Staff
from tests.serving import served

pytestmark = pytest.mark.integration

CONTENDERS = 20
TRANSPORTS = ["test-client", "hypercorn"]

ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]


class InFlight:
    """ASGI middleware that records how many booking requests were being handled at once."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.now = 0
        self.peak = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        counted = scope["type"] == "http" and scope["path"].endswith("/booking")
        if counted:
            self.now += 1
            self.peak = max(self.peak, self.now)
        try:
            await self.app(scope, receive, send)
        finally:
            if counted:
                self.now -= 1


@dataclass(frozen=True)
class Reply:
    status: int
    body: dict[str, Any]


# Sends one booking: (slot_id, staff) -> reply.
Send = Callable[[int, Staff], Awaitable[Reply]]


@asynccontextmanager
async def transport(
    kind: str, app: Quart, settings: Settings, database: Database, now: dt.datetime
) -> AsyncIterator[tuple[Send, InFlight]]:
    if kind == "test-client":
        counter = InFlight(app.asgi_app)
        app.asgi_app = counter
        client = app.test_client()

        async def send_test(slot_id: int, staff: Staff) -> Reply:
            response = await client.post(
                f"/api/v1/slots/{slot_id}/booking", json=BOOKING, headers=staff.headers
            )
            return Reply(response.status_code, await response.get_json())

        yield send_test, counter
        return
    served_app = create_app(
        settings, dependencies=Dependencies(database=database, clock=lambda: now)
    )
    counter = InFlight(served_app.asgi_app)
    served_app.asgi_app = counter
    async with served(served_app) as base:
        # one connection per request: nothing queues behind another on the client side
        connector = aiohttp.TCPConnector(limit=0, force_close=True)
        timeout = aiohttp.ClientTimeout(total=60)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:

            async def send_http(slot_id: int, staff: Staff) -> Reply:
                async with http.post(
                    f"{base}/api/v1/slots/{slot_id}/booking", json=BOOKING, headers=staff.headers
                ) as response:
                    return Reply(response.status, await response.json())

            yield send_http, counter


async def bookings_of(database: Database, **where: int) -> int:
    async with database.read() as db:
        query = select(func.count()).select_from(Slot).where(Slot.chapter_id.is_not(None))
        for column, value in where.items():
            query = query.where(getattr(Slot, column) == value)
        count = await db.scalar(query)
        assert count is not None
        return count


@pytest.mark.parametrize("kind", TRANSPORTS)
async def test_twenty_chapters_racing_for_one_slot_one_wins(
    kind: str,
    app: Quart,
    client: Client,
    settings: Settings,
    database: Database,
    organiser: Staff,
    now: dt.datetime,
) -> None:
    await add_chapters(database, now, CONTENDERS)
    delegates = [await delegate(database, now, code) for code, _, _ in CHAPTERS[:CONTENDERS]]
    event = await new_event(client, organiser)
    slot_id = (await slots_of(client, event["id"]))[0]["id"]

    async with transport(kind, app, settings, database, now) as (send, counter):
        replies = await asyncio.gather(*(send(slot_id, staff) for staff in delegates))

    statuses = Counter(r.status for r in replies)
    assert statuses == Counter({201: 1, 409: CONTENDERS - 1}), replies
    losers = [r.body for r in replies if r.status == 409]
    assert losers == [{"code": "SLOT_TAKEN", "message": "Slot 1 is already booked."}] * (
        CONTENDERS - 1
    )
    winner = next(r.body for r in replies if r.status == 201)
    assert counter.peak >= CONTENDERS // 2, f"only {counter.peak} requests overlapped"
    assert await bookings_of(database, id=slot_id) == 1
    assert await bookings_of(database, event_id=event["id"]) == 1
    first = (await slots_of(client, event["id"], organiser))[0]
    assert first["chapter"] == winner["chapter"]
    assert first["status"] == "booked"


@pytest.mark.parametrize("kind", TRANSPORTS)
async def test_one_chapter_booking_ten_slots_at_once_gets_one(
    kind: str,
    app: Quart,
    client: Client,
    settings: Settings,
    database: Database,
    organiser: Staff,
    now: dt.datetime,
) -> None:
    await add_chapters(database, now, 1)
    bj = await delegate(database, now, "BJ")
    event = await new_event(client, organiser)
    slot_ids = [s["id"] for s in await slots_of(client, event["id"])]
    assert len(slot_ids) == 10

    async with transport(kind, app, settings, database, now) as (send, counter):
        replies = await asyncio.gather(*(send(slot_id, bj) for slot_id in slot_ids))

    assert Counter(r.status for r in replies) == Counter({201: 1, 409: 9}), replies
    assert {r.body["code"] for r in replies if r.status == 409} == {"CHAPTER_ALREADY_BOOKED"}
    assert counter.peak >= 5, f"only {counter.peak} requests overlapped"
    assert await bookings_of(database, event_id=event["id"]) == 1
    won = next(r.body for r in replies if r.status == 201)
    held = [s for s in await slots_of(client, event["id"]) if s["status"] != "open"]
    assert [(s["id"], s["chapter"]["code"]) for s in held] == [(won["id"], "BJ")]
