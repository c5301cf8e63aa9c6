"""The attendance dashboard's live feed: a signed ``participant_joined`` webhook reaches an SSE
subscriber as new counts within a second (the webhook is stored and acknowledged, the worker
rebuilds the intervals and records the counts, the broker publishes them after the commit)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import pytest

from integrations.mail.mailbox import FileMailbox
from internet10.app import create_app
from internet10.db import Database
from internet10.jobs.handlers import build_handlers
from internet10.jobs.worker import Worker
from internet10.settings import Settings
from internet10.state import Dependencies, utcnow
from tests.live.sse import open_stream, session
from tests.serving import served
from tests.webhooks.test_zoom_webhooks import (
    WEBHOOK_SECRET,
    add_event,
    add_registration,
    encode,
    envelope,
    signed,
    zoom_time,
)

pytestmark = pytest.mark.e2e


async def test_a_participant_joining_reaches_the_dashboard_stream_within_a_second(
    settings: Settings, database: Database, tmp_path: Path
) -> None:
    settings = settings.model_copy(update={"zoom_webhook_secret": WEBHOOK_SECRET})
    start = utcnow()
    event_id = await add_event(database, start)
    await add_registration(database, event_id, "Aïcha Zinsou", "aicha@example.bj", start, "R1")
    app = create_app(settings, dependencies=Dependencies(database=database, clock=utcnow))
    handlers = build_handlers(settings, database, FileMailbox(tmp_path / "mailbox.jsonl"))
    worker = Worker(database, handlers, worker_id="w", poll_seconds=0.1)
    stop = asyncio.Event()
    async with served(app) as base, session() as http:
        running = asyncio.create_task(worker.run_forever(stop))
        try:
            async with open_stream(http, f"{base}/api/v1/events/{event_id}/live") as stream:
                body = encode(
                    envelope(
                        "meeting.participant_joined",
                        participant={
                            "user_id": "16778240",
                            "user_name": "Aïcha Zinsou",
                            "participant_uuid": "P1",
                            "registrant_id": "R1",
                            "email": "aicha@example.bj",
                            "join_time": zoom_time(utcnow()),
                        },
                    )
                )
                sent = time.monotonic()
                async with http.post(
                    f"{base}/webhooks/zoom", data=body, headers=signed(body, utcnow())
                ) as answer:
                    assert answer.status == 200
                message = await stream.message(within=5)
                delay = time.monotonic() - sent
        finally:
            stop.set()
            with contextlib.suppress(asyncio.CancelledError):
                await running
    assert message.event == "attendance"
    assert message.data["present_now"] == 1
    assert delay < 1.0, f"the dashboard heard of the join after {delay:.3f} s"
