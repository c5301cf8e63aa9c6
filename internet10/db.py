"""Database engines and transactions.

SQLite and PostgreSQL run the same code. On SQLite, write transactions start with
``BEGIN IMMEDIATE`` (taking the write lock up front, so a check followed by an insert cannot race)
and reads use a plain deferred ``BEGIN``; WAL mode lets reads run beside the one writer.
On PostgreSQL, services lock the rows they check (``SELECT ... FOR UPDATE``).

After a write transaction commits, the live events it recorded (``services.live.record``) go to
``Database.on_commit``, which the app points at its live broker.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence
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

from internet10.metrics import AFTER_COMMIT_KEY
from internet10.services import live
from internet10.settings import Settings

log = logging.getLogger(__name__)

PublishHook = Callable[[Sequence[live.Recorded]], None]


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
        self.on_commit: PublishHook | None = None

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

        Once committed, the live events recorded in the block are handed to ``on_commit`` (on
        SQLite still under that lock, so in commit order), and the callbacks registered with
        ``metrics.after_commit`` run.
        """
        if self._writers is None:
            async with self._write() as db:
                async with db.begin():
                    yield db
                self._committed(db)
            return
        async with self._writers, self._write() as db:
            async with db.begin():
                yield db
            self._committed(db)

    def _committed(self, db: AsyncSession) -> None:
        for callback in db.info.pop(AFTER_COMMIT_KEY, ()):
            try:
                callback()
            except Exception:
                log.exception("an after-commit callback failed")
        hook = self.on_commit
        if hook is None or not db.info.get(live.PENDING_KEY):
            return
        try:
            hook(live.recorded(db))
        except Exception:
            # The transaction is committed and the database is the source of truth: streams
            # catch up from it (a gap in the chain, or the idle re-read). Failing the request
            # now would only make the caller repeat a change that happened.
            log.exception("publishing live events failed after the commit")

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.exec_driver_sql("SELECT 1")

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self._write_engine is not self.engine:
            await self._write_engine.dispose()
