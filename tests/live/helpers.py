"""Shared by the live channel's tests: events, live events written the way services write them,
and what the database holds."""

from __future__ import annotations

import datetime as dt
from typing import Any

import aiohttp
from sqlalchemy import select

from internet10.db import Database
from internet10.models import Event, EventKind, EventStatus, LiveEvent
from internet10.services import auth, live
from internet10.services.events import EventFields, create_event
from tests.conftest import Staff

START = dt.datetime(2026, 12, 19, 12, 0, tzinfo=dt.UTC)


async def new_event(
    database: Database, organiser: Staff, *, status: EventStatus = EventStatus.PUBLISHED
) -> int:
    """An Internet10 event with its ten slots, in ``status``."""
    async with database.write() as db:
        principal = await auth.authenticate_token(db, organiser.token, now=START)
        event = await create_event(
            db,
            principal,
            EventFields(
                kind=EventKind.INTERNET10,
                title="Internet10 live",
                starts_at=START,
                duration_minutes=270,
                timezone="Africa/Porto-Novo",
                capacity=150,
                participant_target=150,
            ),
            now=START,
        )
        event.status = status.value
        return event.id


async def record(database: Database, event_id: int, kind: str, data: dict[str, Any]) -> int:
    """One live event, written as services write them: the event's row locked first."""
    async with database.write() as db:
        await db.scalar(select(Event).where(Event.id == event_id).with_for_update())
        row = await live.record(db, event_id, kind, data, now=START)
        return row.id


async def rows(database: Database, event_id: int) -> list[tuple[int, str, dict[str, Any]]]:
    async with database.read() as db:
        found = await db.scalars(
            select(LiveEvent).where(LiveEvent.event_id == event_id).order_by(LiveEvent.id)
        )
        return [(r.id, r.kind, r.data) for r in found]


async def drive(
    http: aiohttp.ClientSession, base: str, staff: Staff, slot_id: int, **body: Any
) -> dict[str, Any]:
    """A moderator's running-order action over HTTP; returns the running order it answers."""
    async with http.post(
        f"{base}/api/v1/slots/{slot_id}/live", json=body, headers=staff.headers
    ) as response:
        assert response.status == 200, await response.text()
        answer: dict[str, Any] = await response.json()
        return answer


async def slot_ids(database: Database, event_id: int) -> list[int]:
    from internet10.services.events import event_slots

    async with database.read() as db:
        return [s.id for s in await event_slots(db, event_id)]
