"""Two app processes sharing a real Redis (Done-means of issue 6, item 5): what one process
publishes reaches the other's subscribers; Redis stopped mid-session loses nothing; a stopping
server ends its streams at once with a retry hint."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from internet10.db import Database
from internet10.state import utcnow
from tests.conftest import Staff
from tests.live.helpers import drive, new_event, rows, slot_ids
from tests.live.processes import PrivateRedis, run_worker, serve_app, stop
from tests.live.sse import Frame, open_stream, session
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


@pytest.fixture
async def redis_server(tmp_path: Path) -> AsyncIterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    await server.start()
    try:
        yield server
    finally:
        await server.kill()


def live_url(base: str, event_id: int) -> str:
    return f"{base}/api/v1/events/{event_id}/live"


async def test_a_change_made_through_one_process_reaches_a_subscriber_of_the_other(
    database_url: str,
    database: Database,
    organiser: Staff,
    redis_server: PrivateRedis,
    tmp_path: Path,
) -> None:
    # Heartbeats (and the database re-reads that come with them) every 300 s: within this
    # test, only Redis can carry the change from A to B.
    env = {
        "INTERNET10_DATABASE_URL": database_url,
        "INTERNET10_REDIS_URL": redis_server.url,
        "INTERNET10_LIVE_HEARTBEAT_SECONDS": "300",
    }
    event_id = await new_event(database, organiser)
    first = (await slot_ids(database, event_id))[0]
    async with (
        serve_app("a", tmp_path, env) as a,
        serve_app("b", tmp_path, env) as b,
        session() as http,
        open_stream(http, live_url(b.base, event_id)) as on_b,
    ):
        answer = await drive(http, a.base, organiser, first, action="start")
        received = await on_b.message(within=5)
        stored = await rows(database, event_id)
        assert received == Frame(id=stored[0][0], event="running", data=stored[0][2])
        assert len(stored) == 1
        assert [s["status"] for s in received.data["slots"]] == [
            s["status"] for s in answer["slots"]
        ]
        assert await on_b.quiet(0.5) == []


async def test_with_redis_stopped_writes_succeed_and_resuming_streams_miss_nothing(
    database_url: str,
    database: Database,
    organiser: Staff,
    redis_server: PrivateRedis,
    tmp_path: Path,
) -> None:
    env = {
        "INTERNET10_DATABASE_URL": database_url,
        "INTERNET10_REDIS_URL": redis_server.url,
        "INTERNET10_LIVE_HEARTBEAT_SECONDS": "0.5",
    }
    event_id = await new_event(database, organiser)
    slot = (await slot_ids(database, event_id))[1]
    seen: list[int] = []  # every id B's subscriber received, over both of its connections

    async def extend() -> None:
        await drive(http, a.base, organiser, slot, action="extend", minutes=1)

    async with (
        serve_app("a", tmp_path, env) as a,
        serve_app("b", tmp_path, env) as b,
        session() as http,
    ):
        async with (
            open_stream(http, live_url(b.base, event_id)) as on_b,
            open_stream(http, live_url(a.base, event_id)) as on_a,
        ):
            await extend()  # 1: through Redis
            seen += [f.id for f in await on_b.messages(1, within=5)]
            await redis_server.kill()
            await extend()  # 2, 3: Redis is down; the writes still succeed
            await extend()
            assert len(await on_a.messages(3, within=5)) == 3  # A's own streams: at once
            seen += [f.id for f in await on_b.messages(2, within=10)]  # B: from the database
        assert seen == [r[0] for r in await rows(database, event_id)]
        await extend()  # 4: missed while B's subscriber was away; Redis still down
        async with open_stream(http, live_url(b.base, event_id), last_event_id=seen[-1]) as again:
            seen += [f.id for f in await again.messages(1)]  # the backlog
            await redis_server.start()
            await extend()  # 5: Redis is back (its subscription returns with backoff)
            await extend()  # 6
            seen += [f.id for f in await again.messages(2, within=15)]
            assert await again.quiet(1.5) == []
    stored = [r[0] for r in await rows(database, event_id)]
    assert len(stored) == 6
    assert seen == stored  # every one, once, in order


async def test_stopping_the_server_ends_streams_at_once_with_a_retry_hint(
    database_url: str, database: Database, organiser: Staff, tmp_path: Path
) -> None:
    event_id = await new_event(database, organiser)
    env = {"INTERNET10_DATABASE_URL": database_url}
    async with (
        serve_app("a", tmp_path, env) as a,
        session() as http,
        open_stream(http, live_url(a.base, event_id)) as stream,
    ):
        stopping = asyncio.ensure_future(stop(a.process))
        last = await stream.frame(within=5)
        assert last.retry is not None
        assert 1000 <= last.retry <= 5000
        with pytest.raises(EOFError):
            await stream.frame(within=5)
        seconds = await stopping
    assert a.process.returncode == 0
    assert seconds < 5  # Hypercorn's graceful timeout is 10 s: the stream did not hold it


async def test_counts_recorded_by_a_separate_worker_process_reach_the_app_through_redis(
    database_url: str,
    database: Database,
    redis_server: PrivateRedis,
    tmp_path: Path,
) -> None:
    """``internet10 worker`` publishes what its jobs record (attendance from a webhook) through
    Redis: the app's subscriber hears it at once, not at a database re-read (every 300 s here)."""
    env = {
        "INTERNET10_DATABASE_URL": database_url,
        "INTERNET10_REDIS_URL": redis_server.url,
        "INTERNET10_LIVE_HEARTBEAT_SECONDS": "300",
        "INTERNET10_ZOOM_WEBHOOK_SECRET": WEBHOOK_SECRET,
    }
    start = utcnow()
    event_id = await add_event(database, start)
    await add_registration(database, event_id, "Aïcha Zinsou", "aicha@example.bj", start, "R1")
    body = encode(
        envelope(
            "meeting.participant_joined",
            participant={
                "user_id": "16778240",
                "user_name": "Aïcha Zinsou",
                "participant_uuid": "P1",
                "registrant_id": "R1",
                "email": "aicha@example.bj",
                "join_time": zoom_time(start),
            },
        )
    )
    async with (
        serve_app("app", tmp_path, env) as app,
        run_worker(tmp_path, env),
        session() as http,
        open_stream(http, live_url(app.base, event_id)) as stream,
    ):
        async with http.post(
            f"{app.base}/webhooks/zoom", data=body, headers=signed(body, utcnow())
        ) as answer:
            assert answer.status == 200
        message = await stream.message(within=10)
    assert message.event == "attendance"
    assert message.data["present_now"] == 1
