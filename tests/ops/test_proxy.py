"""Behind a load balancer (``INTERNET10_PROXY_HOPS=1``) the client's address comes from
``X-Forwarded-For``: rate limits count clients, not the balancer. Without it the header is
ignored: a client reaching the app directly cannot pick its own address."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest
from quart import Quart

from internet10.app import create_app
from internet10.db import Database
from internet10.settings import Settings
from internet10.state import Dependencies
from tests.api.test_events import I10
from tests.conftest import Staff

pytestmark = pytest.mark.integration

BALANCER: dict[str, Any] = {"client": ("10.0.0.2", 50000)}


def _app(settings: Settings, database: Database, now: dt.datetime, hops: int) -> Quart:
    changed = settings.model_copy(update={"proxy_hops": hops, "registration_rate_per_minute": 1})
    return create_app(changed, dependencies=Dependencies(database=database, clock=lambda: now))


@pytest.fixture(params=[0, 1], ids=["direct", "behind-a-balancer"])
async def app_with_hops(
    request: pytest.FixtureRequest, settings: Settings, database: Database, now: dt.datetime
) -> AsyncIterator[tuple[Quart, int]]:
    app = _app(settings, database, now, request.param)
    async with app.test_app():
        yield app, request.param


async def test_rate_limits_count_the_forwarded_client_only_behind_a_balancer(
    app_with_hops: tuple[Quart, int], organiser: Staff
) -> None:
    app, hops = app_with_hops
    client = app.test_client()
    created = await client.post("/api/v1/events", json=I10, headers=organiser.headers)
    event_id = (await created.get_json())["id"]
    await client.post(f"/api/v1/events/{event_id}/publish", headers=organiser.headers)

    async def register(i: int, forwarded_for: str) -> int:
        body = {"name": "P", "email": f"p{i}@example.org", "country": "BJ", "language": "fr"}
        response = await client.post(
            f"/api/v1/events/{event_id}/registrations",
            json=body,
            headers={"X-Forwarded-For": forwarded_for},
            scope_base=BALANCER,
        )
        return response.status_code

    statuses = [
        await register(1, "198.51.100.1"),
        await register(2, "198.51.100.2"),
        await register(3, "198.51.100.2"),
    ]
    if hops:
        assert statuses == [201, 201, 429]  # two clients, the second over its own limit
    else:
        assert statuses == [201, 429, 429]  # one client: the balancer's address
