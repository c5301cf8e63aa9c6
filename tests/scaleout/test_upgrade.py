"""``internet10 db upgrade`` started on several hosts at once: they take turns (an advisory
lock), the first migrates, the others find the schema at head."""

from __future__ import annotations

import asyncio
import secrets
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import create_async_engine

from tests.conftest import SECRET
from tests.live.processes import CLI
from tests.scaleout.procs import environment, postgres_only

pytestmark = pytest.mark.e2e


@pytest.fixture
async def empty_database(database_url: str) -> AsyncIterator[str]:
    """A new, empty database beside the test one (dropped afterwards)."""
    postgres_only()
    name = f"internet10_upgrade_{secrets.token_hex(4)}"
    admin = create_async_engine(database_url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
    except (SQLAlchemyError, OSError) as exc:
        await admin.dispose()
        pytest.skip(f"cannot create a database here ({type(exc).__name__})")
    try:
        yield make_url(database_url).set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


async def test_upgrades_started_together_take_turns(empty_database: str, tmp_path: Path) -> None:
    env = environment({"INTERNET10_DATABASE_URL": empty_database, "INTERNET10_SECRET_KEY": SECRET})

    async def upgrade(i: int) -> tuple[int, str]:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            CLI,
            "db",
            "upgrade",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=env,
            cwd=tmp_path,
        )
        out, _ = await process.communicate()
        return process.returncode or 0, out.decode(errors="replace")

    results = await asyncio.gather(*(upgrade(i) for i in range(3)))
    assert [code for code, _ in results] == [0, 0, 0], "\n".join(out for _, out in results)
    engine = create_async_engine(empty_database)
    try:
        async with engine.connect() as conn:
            versions = (await conn.execute(text("SELECT version_num FROM alembic_version"))).all()
    finally:
        await engine.dispose()
    assert len(versions) == 1
