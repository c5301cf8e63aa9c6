"""Claim and run durable jobs.

Invariants:
- A job is claimed in one write transaction (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite's
  ``BEGIN IMMEDIATE`` serialises claimers), so two workers never hold the same job at once.
- A claim is a lease: a worker killed mid-job leaves the row ``running`` with ``locked_until`` in
  the past, and any worker may claim it again. Handlers must therefore be idempotent.
- Failures are retried with exponential backoff and full jitter; after ``max_attempts`` the job
  stays ``failed`` with its last error, for an organiser to read and retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import random
import socket
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import or_, select, update

from internet10.db import Database
from internet10.models import Job, JobStatus

log = logging.getLogger(__name__)

LEASE = dt.timedelta(minutes=5)
BASE_DELAY_SECONDS = 2.0
MAX_DELAY_SECONDS = 3600.0


class PermanentJobError(Exception):
    """Raised by a handler when retrying cannot help (the job fails at once)."""


class RetryLater(Exception):
    """Raised by a handler that knows when to try again (e.g. a provider's Retry-After).

    ``attempted=False`` says the job did not even try (it was deferred, e.g. while a provider
    is known to be down): the attempt is given back and the job runs again at ``not_before``."""

    def __init__(self, message: str, *, not_before: dt.datetime, attempted: bool = True) -> None:
        super().__init__(message)
        self.not_before = not_before
        self.attempted = attempted


Handler = Callable[[dict[str, Any]], Awaitable[None]]


def backoff(attempt: int, rng: random.Random) -> dt.timedelta:
    """Full jitter: uniform in [0, min(cap, base * 2**(attempt-1))] seconds, at least 1 s."""
    ceiling = min(MAX_DELAY_SECONDS, BASE_DELAY_SECONDS * 2 ** max(attempt - 1, 0))
    return dt.timedelta(seconds=max(1.0, rng.uniform(0, ceiling)))


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class Worker:
    database: Database
    handlers: Mapping[str, Handler]
    worker_id: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    batch_size: int = 10
    poll_seconds: float = 0.5
    clock: Callable[[], dt.datetime] = utcnow
    rng: random.Random = field(default_factory=random.Random)

    async def claim(self) -> list[Job]:
        now = self.clock()
        async with self.database.write() as db:
            rows = (
                await db.scalars(
                    select(Job)
                    .where(
                        or_(
                            (Job.status == JobStatus.PENDING.value) & (Job.run_after <= now),
                            (Job.status == JobStatus.RUNNING.value) & (Job.locked_until < now),
                        )
                    )
                    .order_by(Job.run_after, Job.id)
                    .limit(self.batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            for job in rows:
                job.status = JobStatus.RUNNING.value
                job.locked_by = self.worker_id
                job.locked_until = now + LEASE
                job.attempts += 1
                job.updated_at = now
            return list(rows)

    async def run_one(self, job: Job) -> None:
        handler = self.handlers.get(job.kind)
        error: str | None = None
        not_before: dt.datetime | None = None
        permanent = deferred = False
        if handler is None:
            error, permanent = f"no handler for job kind {job.kind!r}", True
        else:
            try:
                await handler(dict(job.payload))
            except PermanentJobError as exc:
                error, permanent = f"{type(exc).__name__}: {exc}", True
            except RetryLater as exc:
                error, not_before = f"{type(exc).__name__}: {exc}", exc.not_before
                deferred = not exc.attempted
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
        await self._finish(
            job, error=error, permanent=permanent, not_before=not_before, deferred=deferred
        )

    async def _finish(
        self,
        job: Job,
        *,
        error: str | None,
        permanent: bool,
        not_before: dt.datetime | None,
        deferred: bool = False,
    ) -> None:
        now = self.clock()
        values: dict[str, Any] = {"locked_by": None, "locked_until": None, "updated_at": now}
        if deferred and not_before is not None:
            values |= {
                "status": JobStatus.PENDING.value,
                "run_after": not_before,
                "attempts": job.attempts - 1,
                "last_error": error,
            }
        elif error is None:
            values |= {"status": JobStatus.DONE.value, "finished_at": now, "last_error": None}
        elif permanent or job.attempts >= job.max_attempts:
            log.warning("job %s (%s) failed for good: %s", job.id, job.kind, error)
            values |= {"status": JobStatus.FAILED.value, "finished_at": now, "last_error": error}
        else:
            # A handler that says when to come back knows better than the backoff.
            retry_at = not_before or now + backoff(job.attempts, self.rng)
            values |= {
                "status": JobStatus.PENDING.value,
                "run_after": retry_at,
                "last_error": error,
            }
        async with self.database.write() as db:
            # Only the lease holder may record the outcome: a job whose lease expired and was
            # re-claimed elsewhere is left to its new holder.
            await db.execute(
                update(Job)
                .where(Job.id == job.id, Job.locked_by == self.worker_id)
                .values(**values)
            )

    async def run_pending(self) -> int:
        """Claim and run one batch; returns how many jobs ran."""
        jobs = await self.claim()
        for job in jobs:
            await self.run_one(job)
        return len(jobs)

    async def drain(self, *, max_batches: int = 1000) -> int:
        total = 0
        for _ in range(max_batches):
            ran = await self.run_pending()
            total += ran
            if ran == 0:
                break
        return total

    async def release(self) -> None:
        """Give back every job this worker holds (graceful shutdown)."""
        async with self.database.write() as db:
            await db.execute(
                update(Job)
                .where(Job.status == JobStatus.RUNNING.value, Job.locked_by == self.worker_id)
                .values(
                    status=JobStatus.PENDING.value,
                    locked_by=None,
                    locked_until=None,
                    attempts=Job.attempts - 1,
                )
            )

    async def run_forever(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                ran = await self.run_pending()
                if ran == 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), timeout=self.poll_seconds)
        finally:
            await self.release()


async def retry_failed(database: Database, job_id: int, *, now: dt.datetime) -> bool:
    async with database.write() as db:
        result = await db.execute(
            update(Job)
            .where(Job.id == job_id, Job.status == JobStatus.FAILED.value)
            .values(
                status=JobStatus.PENDING.value,
                attempts=0,
                run_after=now,
                finished_at=None,
                updated_at=now,
            )
        )
        return bool(getattr(result, "rowcount", 0))
