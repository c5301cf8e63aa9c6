"""Databases for the app under test: a fresh SQLite file, or a fresh PostgreSQL database.

Each backend is migrated with the app's own CLI (``internet10 db upgrade``) and given an
organiser account (``internet10 users create``) whose API token the workloads use for setup.
"""

from __future__ import annotations

import asyncio
import secrets
import sys
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import create_async_engine

from bench import webhook
from bench.servers import REPO_ROOT, BenchError, subprocess_env

BENCH_DATABASE = "internet10_bench"
_CLI = "import sys; from internet10.cli import main; sys.exit(main())"


@dataclass(frozen=True)
class Backend:
    name: str  # "sqlite" or "postgresql"
    database_url: str
    env: dict[str, str] = field(default_factory=dict)  # INTERNET10_* settings for the app
    created_database: str | None = None  # a PostgreSQL database we created and drop at the end
    admin_url: str | None = None

    @property
    def display_url(self) -> str:
        return make_url(self.database_url).render_as_string(hide_password=True)


def app_env(database_url: str, redis_url: str | None = None) -> dict[str, str]:
    env = {
        "INTERNET10_DATABASE_URL": database_url,
        "INTERNET10_SECRET_KEY": secrets.token_urlsafe(32),
        "INTERNET10_DEMO": "false",
        # one load client sends every request from one address: measure the registration path,
        # not the per-address limiter (tested in tests/registration)
        "INTERNET10_REGISTRATION_RATE_PER_MINUTE": "0",
        **webhook.server_env(),  # POST /webhooks/zoom answers 404 without a secret
    }
    if redis_url:
        env["INTERNET10_REDIS_URL"] = redis_url
    return env


def sqlite_backend(directory: Path) -> Backend:
    url = f"sqlite+aiosqlite:///{directory / 'bench.sqlite3'}"
    return Backend("sqlite", url, app_env(url))


async def postgres_backend(test_url: str, redis_url: str | None) -> Backend:
    """A fresh ``internet10_bench`` database beside ``test_url``'s, or ``test_url`` itself.

    Dropping and re-creating our own database gives every run the same empty start. When the
    account may not create databases, the given database is used as it is (migrated again,
    which is a no-op when it is already at head).
    """
    given = make_url(test_url)
    bench_url = given.set(database=BENCH_DATABASE).render_as_string(hide_password=False)
    engine = create_async_engine(given, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{BENCH_DATABASE}" WITH (FORCE)'))
            await conn.execute(text(f'CREATE DATABASE "{BENCH_DATABASE}"'))
    except (SQLAlchemyError, OSError) as exc:
        print(f"! cannot create {BENCH_DATABASE} ({type(exc).__name__}); using the given database")
        return Backend("postgresql", test_url, app_env(test_url, redis_url))
    finally:
        await engine.dispose()
    return Backend(
        "postgresql",
        bench_url,
        app_env(bench_url, redis_url),
        created_database=BENCH_DATABASE,
        admin_url=test_url,
    )


async def drop_backend(backend: Backend) -> None:
    """Drop the PostgreSQL database :func:`postgres_backend` created (best effort)."""
    if backend.created_database is None or backend.admin_url is None:
        return
    engine = create_async_engine(backend.admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(
                text(f'DROP DATABASE IF EXISTS "{backend.created_database}" WITH (FORCE)')
            )
    except (SQLAlchemyError, OSError) as exc:
        print(f"! could not drop {backend.created_database}: {exc}")
    finally:
        await engine.dispose()


async def run_cli(backend: Backend, *args: str) -> str:
    """Run the ``internet10`` CLI against ``backend``; return its standard output."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _CLI,
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=subprocess_env(backend.env),
        cwd=REPO_ROOT,
    )
    out, err = await process.communicate()
    if process.returncode != 0:
        raise BenchError(
            f"internet10 {' '.join(args)} exited with {process.returncode}:\n"
            f"{out.decode(errors='replace')}\n{err.decode(errors='replace')}"
        )
    return out.decode()


async def migrate(backend: Backend) -> None:
    await run_cli(backend, "db", "upgrade")


async def create_organiser(backend: Backend) -> str:
    """Create an organiser account; return its API token (the CLI prints it on its last line)."""
    email = f"bench-{secrets.token_hex(4)}@bench.internet10.test"
    out = await run_cli(backend, "users", "create", email, "--role", "organiser")
    lines = out.strip().splitlines()
    if not lines:
        raise BenchError("internet10 users create printed no token")
    return lines[-1].strip()
