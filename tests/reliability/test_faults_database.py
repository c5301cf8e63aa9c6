"""Fault 3: the database connection dropped in the middle of a registration's transaction.

A registration request holding an ``Idempotency-Key`` is stopped inside its transaction (after
it has written the registration, its personal link and its jobs, before it commits) and its
PostgreSQL backend is terminated with ``pg_terminate_backend``. Expected: the request fails
cleanly (503 ``DATABASE_UNAVAILABLE`` with Retry-After, never a 500), nothing of it is stored
(no half-written registration, no job without its registration), and the client's retry with the
same key registers the person exactly once; the app's other pooled connections, terminated
while idle, are replaced without an error."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
from collections import Counter

import pytest
from quart.typing import TestClientProtocol as Client
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from internet10.db import Database
from internet10.models import IdempotencyRecord, Job, Registration, RegistrationLink
from internet10.services import idempotency
from tests.api.test_events import I10, create
from tests.conftest import TEST_DATABASE, Staff
from tests.reliability.faults import Stopwatch, figures

pytestmark = [pytest.mark.reliability]

KEY = "retry-me-0001"
PERSON = {"name": "Awa", "email": "awa@example.bj", "country": "BJ", "language": "fr"}


@pytest.fixture(autouse=True)
def _postgres_only() -> None:
    if TEST_DATABASE != "postgresql":
        pytest.skip("pg_terminate_backend is PostgreSQL's: the PostgreSQL pass runs this test")


async def _waiting_backend(conn: AsyncConnection, within: float = 30.0) -> int:
    """The pid of the backend waiting for our lock in the request's DELETE."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        pid = await conn.scalar(
            text(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND query LIKE 'DELETE FROM idempotency_records%'"
            )
        )
        await conn.rollback()  # pg_stat_activity is a snapshot per transaction
        if pid is not None:
            return int(pid)
        assert asyncio.get_running_loop().time() < deadline, "the request never reached the lock"
        await asyncio.sleep(0.05)


async def _counts(database: Database) -> tuple[int, int, int]:
    async with database.read() as db:
        return (
            int(await db.scalar(select(func.count()).select_from(Registration)) or 0),
            int(await db.scalar(select(func.count()).select_from(RegistrationLink)) or 0),
            int(await db.scalar(select(func.count()).select_from(Job)) or 0),
        )


async def test_a_connection_dropped_mid_registration_leaves_nothing_and_the_retry_registers_once(
    client: Client,
    organiser: Staff,
    database: Database,
    database_url: str,
    now: dt.datetime,
) -> None:
    watch = Stopwatch()
    event = await create(client, organiser, I10)
    response = await client.post(f"/api/v1/events/{event['id']}/publish", headers=organiser.headers)
    assert response.status_code == 200
    path = f"/api/v1/events/{event['id']}/registrations"
    headers = {"Idempotency-Key": KEY}
    before = await _counts(database)
    assert before[0] == 0

    # A record of this key, expired (older than idempotency.KEEP, so never replayed): the
    # request's transaction deletes it just before it commits, and waits there on our lock.
    engine = create_async_engine(database_url)
    async with engine.begin() as conn:
        await conn.execute(
            IdempotencyRecord.__table__.insert().values(
                scope=f"registration:{event['id']}",
                key_hash=hashlib.sha256(KEY.encode()).hexdigest(),
                request_hash="0" * 64,
                status_code=201,
                body="expired",
                created_at=now - 2 * idempotency.KEEP,
            )
        )
    terminated = 0
    async with engine.connect() as holder, engine.connect() as observer:
        await holder.begin()
        await holder.execute(select(IdempotencyRecord.id).with_for_update())
        request = asyncio.ensure_future(client.post(path, json=PERSON, headers=headers))
        pid = await _waiting_backend(observer)
        # The request has written its registration, link and jobs, uncommitted: drop it.
        assert await observer.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        terminated += 1
        failed = await asyncio.wait_for(request, 30)
        await holder.rollback()
    failed_body = await failed.get_json()
    assert failed.status_code == 503, failed_body
    assert failed_body["code"] == "DATABASE_UNAVAILABLE"
    assert failed.headers["Retry-After"] == "1"
    assert await _counts(database) == before  # nothing half-written

    # Every other connection of the app's pool dies too (a failover, a restart).
    async with engine.connect() as observer:
        killed = await observer.scalar(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    terminated += int(killed or 0)
    await engine.dispose()

    # The client retries with the same key: registered once; once more: the same answer.
    first = await client.post(path, json=PERSON, headers=headers)
    assert first.status_code == 201, await first.get_data(as_text=True)
    again = await client.post(path, json=PERSON, headers=headers)
    assert again.status_code == 201
    assert await again.get_json() == await first.get_json()
    registered = await first.get_json()

    async with database.read() as db:
        people = (await db.scalars(select(Registration))).all()
        jobs = (await db.scalars(select(Job).order_by(Job.id))).all()
    assert [(r.id, r.email, r.status) for r in people] == [
        (registered["id"], "awa@example.bj", "confirmed")
    ]
    # Its jobs, each once, all pointing at it.
    assert Counter(j.kind for j in jobs) == Counter(
        {"registration.mail": 1, "registration.reminder": 2}
    )
    assert {j.payload["registration_id"] for j in jobs} == {registered["id"]}
    assert await _counts(database) == (1, 1, 3)
    figures(
        "database connection dropped mid-registration",
        backends_terminated=terminated,
        mid_transaction=1,
        user_saw=f"{failed.status_code} {failed_body['code']}, then 201, 201 (replay)",
        half_written_rows=0,
        registrations=len(people),
        jobs=len(jobs),
        orphan_jobs=0,
        wall_seconds=watch.seconds,
    )
