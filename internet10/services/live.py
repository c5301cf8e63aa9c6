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
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, inspect, select
from sqlalchemy.ext.asyncio import AsyncSession

from internet10.models import LiveEvent

PENDING_KEY = "internet10.live.pending"
PREVIOUS_KEY = "internet10.live.previous"
MAX_BACKLOG = 1000  # rows sent to one resuming client; beyond that it reloads the page
KIND = re.compile(r"[a-z][a-z0-9_.-]{0,31}")  # an SSE event name: no spaces, no line breaks


@dataclass(frozen=True)
class Recorded:
    """A committed live event, as the broker publishes it.

    ``previous_id`` is the id of the event's live event just before this one (0 for the first):
    live events of one event form a chain, so a process receiving them from Redis can tell one
    that arrived early, or one that never arrived, and read the gap from the database.
    """

    event_id: int
    id: int
    previous_id: int
    kind: str
    data: dict[str, Any]


async def record(
    db: AsyncSession, event_id: int, kind: str, data: dict[str, Any], *, now: dt.datetime
) -> LiveEvent:
    """Add a live event to the caller's transaction; it exists only if the transaction commits.
    The session remembers it (``pending``) so the caller can publish it after the commit
    (``Database.write`` does: see ``recorded``)."""
    if not KIND.fullmatch(kind):
        raise ValueError(f"live event kind {kind!r} is not a lower-case name of 1-32 characters")
    previous = await head(db, event_id)
    row = LiveEvent(event_id=event_id, kind=kind, data=data, created_at=now)
    db.add(row)
    await db.flush()
    db.info.setdefault(PENDING_KEY, []).append(row)
    db.info.setdefault(PREVIOUS_KEY, {})[row.id] = previous
    return row


def recorded(db: AsyncSession) -> list[Recorded]:
    """The live events of this session that exist in the database, oldest first: call it after
    the commit. Rows added inside a savepoint that was rolled back are left out."""
    previous: dict[int, int] = db.info.get(PREVIOUS_KEY, {})
    return [
        Recorded(row.event_id, row.id, previous.get(row.id, 0), row.kind, row.data)
        for row in pending(db)
        if inspect(row).has_identity
    ]


async def head(db: AsyncSession, event_id: int) -> int:
    """The id of the event's latest live event, 0 when it has none: a page rendered now shows
    everything up to it, so its stream starts after it (``?last_event_id=``)."""
    latest = await db.scalar(select(func.max(LiveEvent.id)).where(LiveEvent.event_id == event_id))
    return int(latest or 0)


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
