"""Shared by the fault tests (docs/reliability.md, section 4): the figures each test measures,
printed on one line so a run with ``-s`` (or ``-rP``) shows them, and the Zoom stand-in wired
to the job worker the way ``internet10 worker`` wires it."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from integrations.mail import Mailer
from integrations.mail.mailbox import FileMailbox
from integrations.zoom.adapter import ZoomMeetings
from integrations.zoom.standin import ZoomStandIn
from internet10.db import Database
from internet10.jobs.handlers import build_handlers
from internet10.jobs.worker import Worker
from internet10.settings import Settings, load_settings
from tests.conftest import SECRET


def figures(scenario: str, **values: object) -> None:
    """One line of figures for docs/reliability.md."""
    shown = ", ".join(f"{k}={v}" for k, v in values.items())
    print(f"\n[faults] {scenario}: {shown}")


class Stopwatch:
    def __init__(self) -> None:
        self.started = time.monotonic()

    @property
    def seconds(self) -> float:
        return round(time.monotonic() - self.started, 1)


def zoom_settings(database_url: str, standin: ZoomStandIn, **overrides: Any) -> Settings:
    return load_settings(
        {},
        database_url=database_url,
        secret_key=SECRET,
        base_url="http://testserver",
        secure_cookies=True,
        database_pool_size=20,
        zoom_account_id=standin.account_id,
        zoom_client_id=standin.client_id,
        zoom_client_secret=standin.client_secret,
        zoom_api_url=standin.api_url,
        zoom_oauth_url=standin.oauth_url,
        zoom_host_capacity=300,
        zoom_calls_per_second=100.0,
        registration_rate_per_minute=0,  # a burst from one test client
        **overrides,
    )


def zoom_worker(
    settings: Settings,
    database: Database,
    standin: ZoomStandIn,
    clock: Callable[[], dt.datetime],
    tmp_path: Path,
    *,
    worker_id: str,
    mailer: Mailer | None = None,
) -> Worker:
    adapter = ZoomMeetings(
        standin.account_id,
        standin.client_id,
        standin.client_secret,
        standin.api_url,
        standin.oauth_url,
        clock=clock,
    )
    handlers = build_handlers(
        settings,
        database,
        mailer or FileMailbox(tmp_path / f"mailbox-{worker_id}.jsonl"),
        clock=clock,
        meeting_provider=adapter,
    )
    return Worker(database, handlers, worker_id=worker_id, clock=clock)
