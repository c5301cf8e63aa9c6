"""Q&A fixtures: a published Internet10 event on a clock the test moves, attendees holding
personal links, the event's moderator, and helpers that speak the API as each of them."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client
from sqlalchemy import select

from internet10.app import create_app
from internet10.db import Database
from internet10.models import LiveEvent, Role
from internet10.services import registration as registrations
from internet10.settings import Settings
from internet10.state import Dependencies
from tests.api.test_events import I10, create
from tests.clock import Clock
from tests.conftest import Staff, make_staff

START = dt.datetime(2026, 12, 19, 12, 0, tzinfo=dt.UTC)  # I10: 13:00 in Porto-Novo
SLOT1 = START + dt.timedelta(minutes=15)  # slot 1 is planned 12:15-12:38 UTC, slot 2 12:38-13:01
PASSWORD = "moderator password"


@pytest.fixture
def clock() -> Clock:
    return Clock(SLOT1)


@pytest.fixture
def qa_settings(settings: Settings) -> Settings:
    """No rate limits: the limits have tests of their own."""
    return settings.model_copy(
        update={"qa_question_rate_per_minute": 0, "qa_vote_rate_per_minute": 0}
    )


@pytest.fixture
async def app(qa_settings: Settings, database: Database, clock: Clock) -> AsyncIterator[Quart]:
    application = create_app(qa_settings, dependencies=Dependencies(database=database, clock=clock))
    async with application.test_app():
        yield application


@dataclass(frozen=True)
class Attendee:
    registration_id: int
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass(frozen=True)
class Stage:
    event_id: int
    slots: list[int]  # slot ids, by position
    moderator: Staff


async def published_event(client: Client, organiser: Staff) -> tuple[int, list[int]]:
    event = await create(client, organiser, I10)
    response = await client.post(f"/api/v1/events/{event['id']}/publish", headers=organiser.headers)
    assert response.status_code == 200, await response.get_data(as_text=True)
    order = await (await client.get(f"/api/v1/events/{event['id']}/running-order")).get_json()
    return int(event["id"]), [int(s["id"]) for s in order["slots"]]


@pytest.fixture
async def stage(client: Client, organiser: Staff, database: Database) -> Stage:
    event_id, slots = await published_event(client, organiser)
    moderator = await make_staff(
        database,
        "mod@example.org",
        Role.MODERATOR,
        now=START,
        event_id=event_id,
        password=PASSWORD,
    )
    return Stage(event_id, slots, moderator)


async def attend(
    database: Database, event_id: int, name: str, email: str, *, now: dt.datetime = START
) -> Attendee:
    async with database.write() as db:
        event = await registrations.lock_open_event(db, event_id)
        done = await registrations.register(
            db, event, registrations.Applicant(name, email, "BJ", "fr"), now=now
        )
    return Attendee(done.registration.id, done.access_token)


async def ask(
    client: Client,
    who: Attendee | Staff,
    slot_id: int,
    text: str = "Quelle est la feuille de route ?",
    **extra: Any,
) -> Any:
    body = {"text": text, "language": "fr"} | extra
    return await client.post(f"/api/v1/slots/{slot_id}/questions", json=body, headers=who.headers)


async def asked(
    client: Client, who: Attendee | Staff, slot_id: int, text: str, **extra: Any
) -> int:
    response = await ask(client, who, slot_id, text, **extra)
    assert response.status_code == 201, await response.get_data(as_text=True)
    return int((await response.get_json())["id"])


async def moderate(
    client: Client, staff: Staff, question_id: int, action: str, **extra: Any
) -> Any:
    return await client.post(
        f"/api/v1/questions/{question_id}/moderation",
        json={"action": action} | extra,
        headers=staff.headers,
    )


async def moderated(
    client: Client, staff: Staff, question_id: int, action: str, **extra: Any
) -> dict[str, Any]:
    response = await moderate(client, staff, question_id, action, **extra)
    assert response.status_code == 200, await response.get_data(as_text=True)
    body: dict[str, Any] = await response.get_json()
    return body


async def listing(
    client: Client, slot_id: int, who: Attendee | Staff | None = None, **params: str
) -> dict[str, Any]:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    response = await client.get(
        f"/api/v1/slots/{slot_id}/questions" + (f"?{query}" if query else ""),
        headers=who.headers if who else {},
    )
    assert response.status_code == 200, await response.get_data(as_text=True)
    body: dict[str, Any] = await response.get_json()
    return body


async def vote(client: Client, who: Attendee, question_id: int, *, up: bool = True) -> Any:
    path = f"/api/v1/questions/{question_id}/vote"
    if up:
        return await client.post(path, headers=who.headers)
    return await client.delete(path, headers=who.headers)


async def live_rows(database: Database, event_id: int) -> list[tuple[str, dict[str, Any]]]:
    async with database.read() as db:
        rows = await db.scalars(
            select(LiveEvent).where(LiveEvent.event_id == event_id).order_by(LiveEvent.id)
        )
        return [(r.kind, r.data) for r in rows]
