"""Helpers for the attendee, door and organiser registration pages: events made through the API,
places taken through the registration service, staff signed in through the login form."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client

from internet10.app import create_app
from internet10.db import Database
from internet10.services import registration as service
from internet10.settings import Settings
from internet10.state import Dependencies
from tests.api.test_events import create
from tests.clock import Clock
from tests.conftest import HTTPSClient, Staff

PASSWORD = "correct horse battery staple"


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the form carries a CSRF token"
    return match.group(1)


def token_of(location: str) -> str:
    match = re.fullmatch(r"/me/([A-Za-z0-9_-]+)\?done=registered", location)
    assert match, location
    return match.group(1)


async def published(client: Client, organiser: Staff, body: dict[str, Any]) -> int:
    event = await create(client, organiser, body)
    response = await client.post(f"/api/v1/events/{event['id']}/publish", headers=organiser.headers)
    assert response.status_code == 200, await response.get_data(as_text=True)
    return int(event["id"])


async def enrol(
    database: Database,
    event_id: int,
    name: str,
    email: str,
    *,
    now: dt.datetime,
    mode: str = "online",
) -> service.Registered:
    async with database.write() as db:
        event = await service.lock_open_event(db, event_id)
        return await service.register(
            db, event, service.Applicant(name, email, "BJ", "fr", mode), now=now
        )


async def sign_in(https: HTTPSClient, email: str) -> str:
    """Sign in with the password; returns the session's CSRF token."""
    token = csrf_from(await (await https.get("/login")).get_data(as_text=True))
    response = await https.post(
        "/login", form={"email": email, "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 302, await response.get_data(as_text=True)
    return token


@pytest.fixture
def clock(now: dt.datetime) -> Clock:
    return Clock(now)


@pytest.fixture
async def app(settings: Settings, database: Database, clock: Clock) -> AsyncIterator[Quart]:
    """The app on a clock the test can move (the shared fixture's clock stands still)."""
    application = create_app(settings, dependencies=Dependencies(database=database, clock=clock))
    async with application.test_app():
        yield application
