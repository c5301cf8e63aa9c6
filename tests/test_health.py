"""Liveness and readiness, with a real database and (when configured) a real Redis."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client
from redis.asyncio import Redis

from internet10.app import create_app
from internet10.db import Database
from internet10.settings import Settings
from internet10.state import Dependencies

pytestmark = pytest.mark.integration


async def test_healthz_answers(client: Client) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert await response.get_json() == {"status": "ok"}


async def test_readyz_checks_the_database(client: Client) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert await response.get_json() == {"status": "ok", "checks": {"database": "ok"}}


async def _served(settings: Settings, database: Database) -> AsyncIterator[Client]:
    app: Quart = create_app(settings, dependencies=Dependencies(database=database))
    async with app.test_app() as test_app:
        yield test_app.test_client()


async def test_readyz_checks_redis_when_configured(
    settings: Settings, database: Database, redis_url: str
) -> None:
    configured = settings.model_copy(update={"redis_url": redis_url})
    async for client in _served(configured, database):
        response = await client.get("/readyz")
        assert response.status_code == 200
        assert await response.get_json() == {
            "status": "ok",
            "checks": {"database": "ok", "redis": "ok"},
        }


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_readyz_names_redis_when_it_is_down(settings: Settings, database: Database) -> None:
    redis = Redis.from_url(f"redis://127.0.0.1:{_closed_port()}/0", socket_connect_timeout=1)
    app = create_app(settings, dependencies=Dependencies(database=database, redis=redis))
    async with app.test_app() as test_app:
        response = await test_app.test_client().get("/readyz")
    await redis.aclose()
    assert response.status_code == 503
    body = await response.get_json()
    assert body["failed"] == ["redis"]
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"].startswith("failed: ")


async def test_readyz_names_the_database_when_it_is_down(
    tmp_path_factory: pytest.TempPathFactory, settings: Settings
) -> None:
    broken = settings.model_copy(
        update={
            "database_url": f"postgresql+asyncpg://nobody@127.0.0.1:{_closed_port()}/none",
            "database_timeout_seconds": 2.0,
        }
    )
    database = Database(broken)
    app = create_app(broken, dependencies=Dependencies(database=database))
    async with app.test_app() as test_app:
        response = await test_app.test_client().get("/readyz")
    await database.dispose()
    assert response.status_code == 503
    assert (await response.get_json())["failed"] == ["database"]
