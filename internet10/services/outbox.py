"""Enqueue durable jobs inside the caller's transaction (the outbox pattern)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from internet10.models import Job, JobStatus
from internet10.tracing import request_id as current_request_id


async def enqueue(
    db: AsyncSession,
    kind: str,
    payload: dict[str, Any],
    *,
    now: dt.datetime,
    dedupe_key: str | None = None,
    run_after: dt.datetime | None = None,
    max_attempts: int = 8,
    request_id: str | None = None,
) -> Job:
    """Add a job to the current transaction; it exists only if the transaction commits.

    With ``dedupe_key``, a job already enqueued under that key is returned instead of a new one,
    so "send this mail once" holds even if the caller runs twice. Without ``request_id``, the job
    carries the id of the request (or of the job) being handled, if any.
    """
    if dedupe_key is not None:
        existing = await db.scalar(select(Job).where(Job.dedupe_key == dedupe_key))
        if existing is not None:
            return existing
    job = Job(
        kind=kind,
        payload=payload,
        status=JobStatus.PENDING.value,
        attempts=0,
        max_attempts=max_attempts,
        run_after=run_after or now,
        dedupe_key=dedupe_key,
        request_id=request_id if request_id is not None else current_request_id.get(),
        created_at=now,
        updated_at=now,
    )
    db.add(job)
    await db.flush()
    return job
