"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from internet10.migrate import alembic_config, upgrade
from internet10.models import Base

pytestmark = pytest.mark.integration


async def test_migrated_schema_matches_the_models(database_url: str) -> None:
    def diff(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    engine = create_async_engine(database_url)
    async with engine.connect() as conn:
        changes = await conn.run_sync(diff)
    await engine.dispose()
    assert changes == []


def test_upgrade_twice_is_harmless_and_reaches_head(database_url: str) -> None:
    upgrade(database_url)
    upgrade(database_url)
    head = ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()

    def current(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async def read() -> str | None:
        engine = create_async_engine(database_url)
        async with engine.connect() as conn:
            revision = await conn.run_sync(current)
        await engine.dispose()
        return revision

    assert asyncio.run(read()) == head == "0008"
