"""Jobs that gave up, for organisers to read and send back to the queue."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from internet10.models import Job, JobStatus
from internet10.services.auth import Principal, require_organiser

LIMIT = 200


async def failed_jobs(
    db: AsyncSession, principal: Principal | None, *, limit: int = LIMIT
) -> Sequence[Job]:
    """The newest failures first (by when they failed)."""
    require_organiser(principal)
    return (
        await db.scalars(
            select(Job)
            .where(Job.status == JobStatus.FAILED.value)
            .order_by(Job.updated_at.desc(), Job.id.desc())
            .limit(limit)
        )
    ).all()
