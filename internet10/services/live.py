"""Live events: what an event's open pages are told as it happens (Q&A changes, the running
order, attendance counts).

A service that changes something shown live calls :func:`record` inside its write transaction,
after locking the event's row (``SELECT ... FOR UPDATE`` on ``events``), so rows of one event
commit in id order and a client resuming after ``Last-Event-ID`` misses none. The row is the
source of truth; publishing it to open streams happens after the commit (see ``pending``).

``data`` is exactly what every viewer of the stream may see: never an anonymous asker's identity,
never an e-mail address.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from internet10.models import LiveEvent

PENDING_KEY = "internet10.live.pending"
MAX_BACKLOG = 1000  # rows sent to one resuming client; beyond that it reloads the page


async def record(
    db: AsyncSession, event_id: int, kind: str, data: dict[str, Any], *, now: dt.datetime
) -> LiveEvent:
    """Add a live event to the caller's transaction; it exists only if the transaction commits.
    The session remembers it (``pending``) so the caller can publish it after the commit."""
    row = LiveEvent(event_id=event_id, kind=kind, data=data, created_at=now)
    db.add(row)
    await db.flush()
    db.info.setdefault(PENDING_KEY, []).append(row)
    return row


def pending(db: AsyncSession) -> list[LiveEvent]:
    """The live events recorded in this session so far (to publish once it has committed)."""
    return list(db.info.get(PENDING_KEY, []))


async def since(
    db: AsyncSession, event_id: int, after_id: int, *, limit: int = MAX_BACKLOG
) -> Sequence[LiveEvent]:
    """The event's live events after ``after_id``, oldest first."""
    return (
        await db.scalars(
            select(LiveEvent)
            .where(LiveEvent.event_id == event_id, LiveEvent.id > after_id)
            .order_by(LiveEvent.id)
            .limit(limit)
        )
    ).all()
