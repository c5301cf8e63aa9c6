"""Database engines and transactions.

SQLite and PostgreSQL run the same code. On SQLite, write transactions start with
``BEGIN IMMEDIATE`` (taking the write lock up front, so a check followed by an insert cannot race)
and reads use a plain deferred ``BEGIN``; WAL mode lets reads run beside the one writer.
On PostgreSQL, services lock the rows they check (``SELECT ... FOR UPDATE``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from internet10.settings import Settings


def _sqlite_engine(url: str, settings: Settings, *, immediate: bool) -> AsyncEngine:
    busy_ms = int(settings.database_timeout_seconds * 1000)
    engine = create_async_engine(url, pool_size=settings.database_pool_size, max_overflow=0)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself, so we choose its kind.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


class Database:
    """The service's handle on its database: ``async with database.write() as db: ...``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        url = settings.database_url
        self.is_sqlite = settings.is_sqlite
        if self.is_sqlite:
            path = make_url(url).database
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self.engine = _sqlite_engine(url, settings, immediate=False)
            self._write_engine = _sqlite_engine(url, settings, immediate=True)
        else:
            self.engine = create_async_engine(
                url,
                pool_size=settings.database_pool_size,
                max_overflow=settings.database_pool_size,
                pool_timeout=settings.database_timeout_seconds,
                pool_pre_ping=True,
                connect_args={"timeout": settings.database_timeout_seconds},
            )
            self._write_engine = self.engine
        self._writers = asyncio.Lock() if self.is_sqlite else None
        self._read = async_sessionmaker(self.engine, expire_on_commit=False)
        self._write = async_sessionmaker(self._write_engine, expire_on_commit=False)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with self._read() as db, db.begin():
            yield db

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """One write transaction: committed when the block ends, rolled back on an exception.

        On SQLite, writers of this process also queue on an asyncio lock: SQLite takes one
        writer at a time anyway, and waiting here costs nothing, whereas waiting in SQLite's busy
        handler sleeps in growing steps (the lock cut a burst's p50 by an order of magnitude).
        """
        if self._writers is None:
            async with self._write() as db, db.begin():
                yield db
            return
        async with self._writers, self._write() as db, db.begin():
            yield db

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.exec_driver_sql("SELECT 1")

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self._write_engine is not self.engine:
            await self._write_engine.dispose()
