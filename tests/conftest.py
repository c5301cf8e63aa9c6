"""Shared fixtures. The database under test is chosen by INTERNET10_TEST_DATABASE:
``sqlite`` (default; a file in a temp dir) or ``postgresql`` (INTERNET10_TEST_POSTGRES_URL, a
real server started by ``make test``). Each test starts from empty tables on a migrated schema."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from internet10.app import create_app
from internet10.db import Database
from internet10.migrate import upgrade
from internet10.models import Base, Role
from internet10.security import lower_password_cost_for_tests
from internet10.services import auth
from internet10.settings import Settings, load_settings
from internet10.state import Dependencies
from tests.netguard import LoopbackGuard

IN_CI = os.environ.get("CI", "").lower() == "true"
# Cheap argon2 for the thousands of accounts the suite makes and signs in to (0.2 s each, else):
# tests/test_security.py checks that the service itself keeps the full cost.
lower_password_cost_for_tests()
TEST_DATABASE = os.environ.get("INTERNET10_TEST_DATABASE", "sqlite")
SECRET = "test-secret-key-that-is-long-enough-0123456789"


def require_service(variable: str, what: str) -> str:
    """The URL of a service the test needs: skip locally when absent, fail in CI."""
    value = os.environ.get(variable)
    if not value:
        message = f"{what} not available: set {variable} (make test starts one)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return value


@pytest.fixture(autouse=True)
def loopback_guard() -> Iterator[LoopbackGuard]:
    """No test ever leaves the machine: any connection or name lookup outside loopback fails
    the test, even one a library caught and swallowed (subprocesses are not covered)."""
    guard = LoopbackGuard()
    guard.install()
    try:
        yield guard
    finally:
        guard.uninstall()
    guard.verify()


async def _reset_postgres(url: str) -> None:
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await engine.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated, empty database for the whole run."""
    if TEST_DATABASE == "postgresql":
        url = require_service("INTERNET10_TEST_POSTGRES_URL", "PostgreSQL")
        asyncio.run(_reset_postgres(url))
    elif TEST_DATABASE == "sqlite":
        path = tmp_path_factory.mktemp("db") / "test.sqlite3"
        url = f"sqlite+aiosqlite:///{path}"
    else:
        raise pytest.UsageError(f"INTERNET10_TEST_DATABASE={TEST_DATABASE!r}: sqlite|postgresql")
    upgrade(url)
    return url


@pytest.fixture
def settings(database_url: str) -> Settings:
    return load_settings(
        {},
        database_url=database_url,
        secret_key=SECRET,
        base_url="http://testserver",
        secure_cookies=True,
        database_pool_size=20,
    )


async def _empty_tables(database: Database) -> None:
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    async with database.write() as db:
        if database.is_sqlite:
            for name in tables:
                await db.execute(text(f'DELETE FROM "{name}"'))  # noqa: S608 - our own table names
        else:
            joined = ", ".join(f'"{n}"' for n in tables)
            await db.execute(text(f"TRUNCATE {joined} RESTART IDENTITY CASCADE"))


@pytest.fixture
async def database(settings: Settings) -> AsyncIterator[Database]:
    database = Database(settings)
    await _empty_tables(database)
    yield database
    await database.dispose()


@pytest.fixture
def now() -> dt.datetime:
    return dt.datetime(2026, 11, 28, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
async def app(settings: Settings, database: Database, now: dt.datetime) -> AsyncIterator[Quart]:
    application = create_app(
        settings, dependencies=Dependencies(database=database, clock=lambda: now)
    )
    async with application.test_app():
        yield application


@pytest.fixture
def client(app: Quart) -> Client:
    return app.test_client()


@dataclass(frozen=True)
class Staff:
    user_id: int
    email: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def make_staff(
    database: Database,
    email: str,
    role: Role,
    *,
    now: dt.datetime,
    password: str | None = None,
    chapter_code: str | None = None,
    event_id: int | None = None,
) -> Staff:
    async with database.write() as db:
        created = await auth.create_user(
            db,
            email=email,
            role=role,
            now=now,
            password=password,
            chapter_code=chapter_code,
            event_id=event_id,
        )
    return Staff(created.user_id, created.email, created.api_token)


@pytest.fixture
async def organiser(database: Database, now: dt.datetime) -> Staff:
    return await make_staff(
        database,
        "orga@example.org",
        Role.ORGANISER,
        now=now,
        password="correct horse battery staple",
    )


@pytest.fixture
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


@pytest.fixture
def redis_url() -> str:
    return require_service("INTERNET10_TEST_REDIS_URL", "Redis")


class HTTPSClient:
    """The test client, speaking https (Secure cookies are only kept and sent over https)."""

    def __init__(self, client: Client) -> None:
        self.client = client

    async def get(self, path: str, **kwargs: Any) -> Any:
        return await self.client.get(path, scheme="https", **kwargs)

    async def post(self, path: str, **kwargs: Any) -> Any:
        return await self.client.post(path, scheme="https", **kwargs)


@pytest.fixture
def https(client: Client) -> HTTPSClient:
    return HTTPSClient(client)
