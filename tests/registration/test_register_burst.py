"""Bursts of truly concurrent registrations over real HTTP (Hypercorn + aiohttp): exact counts."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter
from typing import Any

import aiohttp
import pytest
from quart import Quart
from sqlalchemy import func, select

from internet10.app import create_app
from internet10.db import Database
from internet10.models import Registration
from internet10.settings import Settings
from internet10.state import Dependencies
from tests.api.test_events import I10
from tests.conftest import Staff
from tests.serving import served

pytestmark = pytest.mark.integration

ATTEMPTS, SEATS = 500, 50


@pytest.fixture
def burst_app(settings: Settings, database: Database, now: dt.datetime) -> Quart:
    unlimited = settings.model_copy(update={"registration_rate_per_minute": 0})
    return create_app(unlimited, dependencies=Dependencies(database=database, clock=lambda: now))


async def _event(http: aiohttp.ClientSession, base: str, organiser: Staff, capacity: int) -> int:
    async with http.post(
        f"{base}/api/v1/events", json=I10 | {"capacity": capacity}, headers=organiser.headers
    ) as response:
        event_id = int((await response.json())["id"])
    async with http.post(
        f"{base}/api/v1/events/{event_id}/publish", headers=organiser.headers
    ) as response:
        assert response.status == 200
    return event_id


def _session() -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=120))


async def test_burst_fills_exactly_the_capacity_and_waitlists_the_rest(
    burst_app: Quart, organiser: Staff, database: Database
) -> None:
    async with served(burst_app) as base, _session() as http:
        event_id = await _event(http, base, organiser, SEATS)
        start = asyncio.Event()

        async def attempt(i: int) -> tuple[int, dict[str, Any]]:
            await start.wait()
            body = {
                "name": f"Participant {i}",
                "email": f"p{i}@example.org",
                "country": "BJ",
                "language": "fr",
            }
            async with http.post(
                f"{base}/api/v1/events/{event_id}/registrations", json=body
            ) as response:
                return response.status, await response.json()

        tasks = [asyncio.create_task(attempt(i)) for i in range(ATTEMPTS)]
        await asyncio.sleep(0.1)
        start.set()
        results = await asyncio.gather(*tasks)

        # a second wave repeats 100 of the same e-mails: nothing new, no 5xx
        again = [asyncio.create_task(attempt(i)) for i in range(100)]
        repeats = await asyncio.gather(*again)

    assert Counter(status for status, _ in results) == Counter({201: ATTEMPTS})
    statuses = Counter(body["status"] for _, body in results)
    assert statuses == Counter({"confirmed": SEATS, "waitlisted": ATTEMPTS - SEATS})
    positions = sorted(b["waitlist_position"] for _, b in results if b["status"] == "waitlisted")
    assert positions == list(range(1, ATTEMPTS - SEATS + 1))
    assert Counter(status for status, _ in repeats) == Counter({409: 100})
    async with database.read() as db:
        rows = await db.execute(
            select(Registration.status, func.count(), func.count(func.distinct(Registration.email)))
            .where(Registration.event_id == event_id)
            .group_by(Registration.status)
        )
        counts = {status: (n, distinct) for status, n, distinct in rows}
    assert counts == {
        "confirmed": (SEATS, SEATS),
        "waitlisted": (ATTEMPTS - SEATS, ATTEMPTS - SEATS),
    }

    # cancelling k confirmed people promotes exactly the first k waitlisted, in order
    confirmed = [b for _, b in results if b["status"] == "confirmed"][:7]
    first_waiting = sorted(
        (b for _, b in results if b["status"] == "waitlisted"), key=lambda b: b["waitlist_position"]
    )[:8]
    async with served(burst_app) as base, _session() as http:
        cancels = [
            http.delete(
                f"{base}/api/v1/registrations/{b['id']}",
                headers={"Authorization": f"Bearer {b['access_token']}"},
            )
            for b in confirmed
        ]
        for response in await asyncio.gather(*cancels):
            assert response.status == 200
            response.release()
    async with database.read() as db:
        promoted = {
            r.id: r.status
            for r in (
                await db.scalars(
                    select(Registration).where(
                        Registration.id.in_([b["id"] for b in first_waiting])
                    )
                )
            ).all()
        }
        totals = dict(
            (
                await db.execute(
                    select(Registration.status, func.count())
                    .where(Registration.event_id == event_id)
                    .group_by(Registration.status)
                )
            ).all()
        )
    assert [promoted[b["id"]] for b in first_waiting] == ["confirmed"] * 7 + ["waitlisted"]
    assert totals == {"confirmed": SEATS, "waitlisted": ATTEMPTS - SEATS - 7, "cancelled": 7}


async def test_one_idempotency_key_sent_100_times_at_once_registers_once(
    burst_app: Quart, organiser: Staff, database: Database
) -> None:
    async with served(burst_app) as base, _session() as http:
        event_id = await _event(http, base, organiser, 150)
        body = {"name": "Afi", "email": "afi@example.org", "country": "TG", "language": "fr"}
        start = asyncio.Event()

        async def attempt() -> tuple[int, bytes]:
            await start.wait()
            async with http.post(
                f"{base}/api/v1/events/{event_id}/registrations",
                json=body,
                headers={"Idempotency-Key": "same-key-100"},
            ) as response:
                return response.status, await response.read()

        tasks = [asyncio.create_task(attempt()) for _ in range(100)]
        await asyncio.sleep(0.1)
        start.set()
        results = await asyncio.gather(*tasks)
    assert {status for status, _ in results} == {201}
    assert len({raw for _, raw in results}) == 1  # identical bodies, byte for byte
    async with database.read() as db:
        n = await db.scalar(
            select(func.count()).select_from(Registration).where(Registration.event_id == event_id)
        )
    assert n == 1
