"""Claim and run durable jobs.

Invariants:
- A job is claimed in one write transaction (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite's
  ``BEGIN IMMEDIATE`` serialises claimers), so two workers never hold the same job at once.
- A claim is a lease: a worker killed mid-job leaves the row ``running`` with ``locked_until`` in
  the past, and any worker may claim it again. Handlers must therefore be idempotent.
- Failures are retried with exponential backoff and full jitter; after ``max_attempts`` the job
  stays ``failed`` with its last error, for an organiser to read and retry.
- Each job runs with the request id it was enqueued under (``Job.request_id``) as the current
  one: its log lines carry it, and so do the jobs it enqueues.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import random
import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import or_, select, update

from internet10.db import Database
from internet10.models import Job, JobStatus
from internet10.tracing import request_id

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
    lease: dt.timedelta = LEASE  # a claim's life: a killed worker's jobs run again after it
    stop_grace_seconds: float = 10.0  # at shutdown, how long the job under way may go on
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
                job.locked_until = now + self.lease
                job.attempts += 1
                job.updated_at = now
            return list(rows)

    async def run_one(self, job: Job) -> None:
        token = request_id.set(job.request_id)
        try:
            await self._run_one(job)
        finally:
            request_id.reset(token)

    async def _run_one(self, job: Job) -> None:
        started = time.perf_counter()
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
        outcome = await self._finish(
            job, error=error, permanent=permanent, not_before=not_before, deferred=deferred
        )
        log.info(
            "job %s (%s): %s",
            job.id,
            job.kind,
            outcome,
            extra={
                "job_id": job.id,
                "kind": job.kind,
                "attempt": job.attempts,
                "outcome": outcome,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                "worker": self.worker_id,
            },
        )

    async def _finish(
        self,
        job: Job,
        *,
        error: str | None,
        permanent: bool,
        not_before: dt.datetime | None,
        deferred: bool = False,
    ) -> str:
        """Record the outcome; returns it: done, retry, deferred, failed, or lost (the lease
        had expired and another worker holds the job now)."""
        now = self.clock()
        values: dict[str, Any] = {"locked_by": None, "locked_until": None, "updated_at": now}
        if deferred and not_before is not None:
            values |= {
                "status": JobStatus.PENDING.value,
                "run_after": not_before,
                "attempts": job.attempts - 1,
                "last_error": error,
            }
            outcome = "deferred"
        elif error is None:
            values |= {"status": JobStatus.DONE.value, "finished_at": now, "last_error": None}
            outcome = "done"
        elif permanent or job.attempts >= job.max_attempts:
            log.warning("job %s (%s) failed for good: %s", job.id, job.kind, error)
            values |= {"status": JobStatus.FAILED.value, "finished_at": now, "last_error": error}
            outcome = "failed"
        else:
            # A handler that says when to come back knows better than the backoff.
            retry_at = not_before or now + backoff(job.attempts, self.rng)
            values |= {
                "status": JobStatus.PENDING.value,
                "run_after": retry_at,
                "last_error": error,
            }
            outcome = "retry"
        async with self.database.write() as db:
            # Only the lease holder may record the outcome: a job whose lease expired and was
            # re-claimed elsewhere is left to its new holder.
            result = await db.execute(
                update(Job)
                .where(Job.id == job.id, Job.locked_by == self.worker_id)
                .values(**values)
            )
        if not getattr(result, "rowcount", 1):
            return "lost"
        return outcome

    async def run_pending(self, stop: asyncio.Event | None = None) -> int:
        """Claim and run one batch; returns how many jobs ran. Once ``stop`` is set, the jobs
        of the batch not yet started are left for :meth:`release`."""
        jobs = await self.claim()
        ran = 0
        for job in jobs:
            if stop is not None and stop.is_set():
                break
            await self.run_one(job)
            ran += 1
        return ran

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
        """Run batches until ``stop`` is set (SIGTERM, SIGINT). Then the job under way gets
        ``stop_grace_seconds`` to finish, is cancelled after that (its transaction rolls back),
        and every job still held is given back: pending again, the attempt not counted."""
        try:
            while not stop.is_set():
                batch = asyncio.ensure_future(self.run_pending(stop))
                stopping = asyncio.ensure_future(stop.wait())
                try:
                    await asyncio.wait({batch, stopping}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    stopping.cancel()
                if not batch.done():
                    with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                        await asyncio.wait_for(batch, self.stop_grace_seconds)
                    if not batch.cancelled() and batch.exception() is None:
                        log.info("stopping: the job under way finished")
                    break
                if batch.result() == 0:
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
