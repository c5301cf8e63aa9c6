"""The durable job worker on a real database: exclusive claims, retries, leases, release."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import select

from internet10.db import Database
from internet10.jobs.worker import LEASE, PermanentJobError, RetryLater, Worker, backoff
from internet10.models import Job
from internet10.services.outbox import enqueue
from tests.clock import Clock

pytestmark = pytest.mark.integration


async def _enqueue(database: Database, n: int, now: dt.datetime, kind: str = "work") -> None:
    async with database.write() as db:
        for i in range(n):
            await enqueue(db, kind, {"n": i}, now=now)


async def _jobs(database: Database) -> list[Job]:
    async with database.read() as db:
        return list((await db.scalars(select(Job).order_by(Job.id))).all())


async def test_concurrent_workers_run_each_job_exactly_once(
    database: Database, now: dt.datetime
) -> None:
    await _enqueue(database, 60, now)
    ran: Counter[int] = Counter()

    async def handler(payload: dict[str, Any]) -> None:
        await asyncio.sleep(0)
        ran[payload["n"]] += 1

    clock = Clock(now)
    workers = [
        Worker(database, {"work": handler}, worker_id=f"w{i}", batch_size=3, clock=clock)
        for i in range(4)
    ]
    await asyncio.gather(*(w.drain() for w in workers))
    assert ran == Counter({i: 1 for i in range(60)})
    assert {j.status for j in await _jobs(database)} == {"done"}


async def test_failing_job_is_retried_with_backoff_then_fails_for_good(
    database: Database, now: dt.datetime
) -> None:
    async with database.write() as db:
        await enqueue(db, "flaky", {}, now=now, max_attempts=3)
    calls = 0

    async def handler(_payload: dict[str, Any]) -> None:
        nonlocal calls
        calls += 1
        raise ConnectionError("provider unreachable")

    clock = Clock(now)
    worker = Worker(database, {"flaky": handler}, clock=clock, rng=random.Random(7))
    assert await worker.run_pending() == 1
    [job] = await _jobs(database)
    assert (job.status, job.attempts) == ("pending", 1)
    assert job.last_error == "ConnectionError: provider unreachable"
    assert job.run_after > now
    assert await worker.run_pending() == 0  # not due yet
    for expected_attempts in (2, 3):
        clock.now = job.run_after
        assert await worker.run_pending() == 1
        [job] = await _jobs(database)
        assert job.attempts == expected_attempts
    assert job.status == "failed"
    assert job.finished_at == clock.now
    assert calls == 3


async def test_permanent_error_fails_at_once(database: Database, now: dt.datetime) -> None:
    await _enqueue(database, 1, now, kind="bad")

    async def handler(_payload: dict[str, Any]) -> None:
        raise PermanentJobError("the meeting no longer exists")

    await Worker(database, {"bad": handler}, clock=Clock(now)).run_pending()
    [job] = await _jobs(database)
    assert (job.status, job.attempts) == ("failed", 1)
    assert job.last_error == "PermanentJobError: the meeting no longer exists"


async def test_retry_later_waits_until_the_given_time(database: Database, now: dt.datetime) -> None:
    await _enqueue(database, 1, now, kind="limited")
    midnight = dt.datetime(2026, 11, 29, tzinfo=dt.UTC)

    async def handler(_payload: dict[str, Any]) -> None:
        raise RetryLater("daily limit reached", not_before=midnight)

    await Worker(database, {"limited": handler}, clock=Clock(now)).run_pending()
    [job] = await _jobs(database)
    assert job.status == "pending"
    assert job.run_after == midnight


async def test_unknown_kind_fails_with_a_clear_error(database: Database, now: dt.datetime) -> None:
    await _enqueue(database, 1, now, kind="mystery")
    await Worker(database, {}, clock=Clock(now)).run_pending()
    [job] = await _jobs(database)
    assert job.status == "failed"
    assert job.last_error == "no handler for job kind 'mystery'"


async def test_job_of_a_killed_worker_is_claimed_again_after_its_lease(
    database: Database, now: dt.datetime
) -> None:
    await _enqueue(database, 1, now)
    clock = Clock(now)
    dead = Worker(database, {}, worker_id="dead", clock=clock)
    assert len(await dead.claim()) == 1  # claimed, then the process "dies"
    done: list[int] = []

    async def handler(payload: dict[str, Any]) -> None:
        done.append(payload["n"])

    alive = Worker(database, {"work": handler}, worker_id="alive", clock=clock)
    assert await alive.run_pending() == 0  # the lease still holds
    clock.now = now + LEASE + dt.timedelta(seconds=1)
    assert await alive.run_pending() == 1
    [job] = await _jobs(database)
    assert (job.status, job.attempts, done) == ("done", 2, [0])


async def test_release_gives_claimed_jobs_back(database: Database, now: dt.datetime) -> None:
    await _enqueue(database, 2, now)
    worker = Worker(database, {}, worker_id="leaving", clock=Clock(now))
    assert len(await worker.claim()) == 2
    await worker.release()
    assert [(j.status, j.attempts, j.locked_by) for j in await _jobs(database)] == [
        ("pending", 0, None),
        ("pending", 0, None),
    ]


async def test_dedupe_key_enqueues_once(database: Database, now: dt.datetime) -> None:
    async with database.write() as db:
        first = await enqueue(db, "mail", {"to": 1}, now=now, dedupe_key="mail:confirm:1")
        second = await enqueue(db, "mail", {"to": 1}, now=now, dedupe_key="mail:confirm:1")
    assert first.id == second.id
    assert len(await _jobs(database)) == 1


async def test_job_enqueued_in_a_rolled_back_transaction_does_not_exist(
    database: Database, now: dt.datetime
) -> None:
    async def failing_change() -> None:
        async with database.write() as db:
            await enqueue(db, "work", {"n": 1}, now=now)
            raise RuntimeError("the change that caused the job failed")

    with pytest.raises(RuntimeError):
        await failing_change()
    assert await _jobs(database) == []


def test_backoff_grows_and_is_capped() -> None:
    rng = random.Random(1)
    ceilings = [max(backoff(a, rng) for _ in range(200)) for a in (1, 4, 8, 30)]
    assert ceilings[0] <= dt.timedelta(seconds=2)
    assert dt.timedelta(seconds=8) < ceilings[1] <= dt.timedelta(seconds=16)
    assert ceilings[3] <= dt.timedelta(hours=1)
    assert min(backoff(1, rng) for _ in range(200)) >= dt.timedelta(seconds=1)
