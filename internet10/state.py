"""What a running app holds: settings, the database, Redis, integration clients, the clock."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from redis.asyncio import Redis

from integrations.mail import Mailer
from integrations.mail.mailbox import FileMailbox
from integrations.mail.smtp import SMTPMailer
from internet10.broker import Broker
from internet10.db import Database
from internet10.ratelimit import InProcessLimiter, Limiter
from internet10.settings import Settings

MAILBOX_PATH = Path("var") / "mailbox.jsonl"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class Dependencies:
    """Collaborators handed to ``create_app``. Anything left ``None`` is built from settings when
    the app starts serving, and closed when it stops; anything given is the caller's to close."""

    database: Database | None = None
    redis: Redis | None = None
    mailer: Mailer | None = None
    clock: Callable[[], dt.datetime] = utcnow


@dataclass
class AppState:
    settings: Settings
    dependencies: Dependencies
    database: Database | None = None
    redis: Redis | None = None
    mailer: Mailer | None = None
    limiter: Limiter = field(default_factory=InProcessLimiter)
    broker: Broker | None = None  # live fan-out, from when the app serves until it stops
    owned: list[str] = field(default_factory=list)

    @property
    def db(self) -> Database:
        if self.database is None:
            raise RuntimeError("the app is not serving: enter app.test_app() or run it")
        return self.database

    def now(self) -> dt.datetime:
        return self.dependencies.clock()


def build_mailer(settings: Settings) -> Mailer:
    """SMTP when configured; otherwise the local mailbox file that the demo's page shows."""
    if settings.smtp_url:
        sender = settings.mail_from
        return SMTPMailer(settings.smtp_url, sender)
    return FileMailbox(MAILBOX_PATH)
