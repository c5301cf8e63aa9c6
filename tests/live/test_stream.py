"""The live channel over real HTTP (Hypercorn on loopback, aiohttp as the browser): fan-out,
resuming with Last-Event-ID, who may read, heartbeats, the response timeout, shutdown."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator

import pytest
from quart import Quart

from internet10 import broker as broker_module
from internet10.app import create_app
from internet10.db import Database
from internet10.models import EventStatus, Role
from internet10.services import live
from internet10.settings import Settings
from internet10.state import AppState, Dependencies
from tests.conftest import Staff, make_staff
from tests.live.helpers import drive, new_event, record, rows, slot_ids
from tests.live.sse import Frame, open_stream, session
from tests.serving import served

pytestmark = pytest.mark.integration


def make_app(settings: Settings, database: Database, now: dt.datetime, **changes: object) -> Quart:
    return create_app(
        settings.model_copy(update=changes),
        dependencies=Dependencies(database=database, clock=lambda: now),
    )


@pytest.fixture
async def base(settings: Settings, database: Database, now: dt.datetime) -> AsyncIterator[str]:
    async with served(make_app(settings, database, now)) as url:
        yield url


def url(base: str, event_id: int) -> str:
    return f"{base}/api/v1/events/{event_id}/live"


async def test_every_subscriber_gets_each_running_change_once_in_order(
    base: str, database: Database, organiser: Staff
) -> None:
    event_id = await new_event(database, organiser)
    first, second = (await slot_ids(database, event_id))[:2]
    async with (
        session() as http,
        open_stream(http, url(base, event_id)) as a,
        open_stream(http, url(base, event_id)) as b,
        open_stream(http, url(base, event_id)) as c,
    ):
        await drive(http, base, organiser, first, action="start")
        await drive(http, base, organiser, second, action="extend", minutes=5)
        got = [await s.messages(2) for s in (a, b, c)]
        assert [await s.quiet(0.3) for s in (a, b, c)] == [[], [], []]
    stored = await rows(database, event_id)
    assert [kind for _, kind, _ in stored] == ["running", "running"]
    expected = [Frame(id=i, event=kind, data=data) for i, kind, data in stored]
    assert got == [expected, expected, expected]
    first_order = stored[0][2]
    assert first_order["event_status"] == "live"
    assert [s["status"] for s in first_order["slots"]][:2] == ["live", "upcoming"]
    assert len(first_order["slots"]) == 10


async def test_last_event_id_resumes_with_exactly_what_was_missed(
    base: str, database: Database, organiser: Staff
) -> None:
    event_id = await new_event(database, organiser)
    other = await new_event(database, organiser)
    ids = []
    for n in range(5):
        ids.append(await record(database, event_id, "question", {"n": n}))
        await record(database, other, "question", {"other": n})
    async with session() as http:
        async with open_stream(http, url(base, event_id), last_event_id=ids[1]) as stream:
            backlog = await stream.messages(3)
            later = await record(database, event_id, "qa", {"slot_id": 1, "open": True})
            assert await stream.message() == Frame(
                id=later, event="qa", data={"slot_id": 1, "open": True}
            )
            assert await stream.quiet(0.3) == []
        assert backlog == [Frame(id=ids[n], event="question", data={"n": n}) for n in (2, 3, 4)]
        # the query string serves a first connection; the header (a reconnection) wins over it
        query = f"{url(base, event_id)}?last_event_id={ids[3]}"
        async with open_stream(http, query) as stream:
            assert [f.id for f in await stream.messages(2)] == [ids[4], later]
        async with open_stream(http, query, last_event_id=ids[0]) as stream:
            assert [f.id for f in await stream.messages(5)] == [*ids[1:], later]


async def test_without_an_id_the_stream_starts_now(
    base: str, database: Database, organiser: Staff
) -> None:
    event_id = await new_event(database, organiser)
    await record(database, event_id, "question", {"n": 0})
    async with session() as http, open_stream(http, url(base, event_id)) as stream:
        assert await stream.quiet(0.3) == []
        new = await record(database, event_id, "question", {"n": 1})
        assert await stream.message() == Frame(id=new, event="question", data={"n": 1})


async def test_a_client_too_far_behind_or_ahead_is_told_to_reload(
    base: str, database: Database, organiser: Staff, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live, "MAX_BACKLOG", 3)
    event_id = await new_event(database, organiser)
    ids = [await record(database, event_id, "question", {"n": n}) for n in range(5)]
    async with session() as http:
        for resume in (0, ids[-1] + 100):
            async with open_stream(http, url(base, event_id), last_event_id=resume) as stream:
                assert await stream.message() == Frame(id=ids[-1], event="reload", data={})
                later = await record(database, event_id, "question", {"n": 9})
                assert (await stream.message()).id == later
                ids.append(later)
        async with open_stream(http, url(base, event_id), last_event_id=ids[-4]) as stream:
            assert [f.id for f in await stream.messages(3)] == ids[-3:]


async def test_who_may_see_the_event_may_read_its_stream(
    base: str, database: Database, organiser: Staff, now: dt.datetime
) -> None:
    draft = await new_event(database, organiser, status=EventStatus.DRAFT)
    other = await new_event(database, organiser)
    moderator = Role.MODERATOR
    elsewhere = await make_staff(database, "m1@example.org", moderator, now=now, event_id=other)
    here = await make_staff(database, "m2@example.org", moderator, now=now, event_id=draft)
    async with session() as http:
        for headers in ({}, elsewhere.headers):
            async with http.get(url(base, draft), headers=headers) as response:
                assert response.status == 404
                assert (await response.json())["code"] == "NOT_FOUND"
        async with http.get(url(base, 999)) as response:
            assert response.status == 404
        for staff in (organiser, here):
            async with open_stream(http, url(base, draft), headers=staff.headers) as stream:
                new = await record(database, draft, "running", {"slots": []})
                assert (await stream.message()).id == new
        async with http.get(url(base, draft), headers={"Authorization": "Bearer nope"}) as r:
            assert r.status == 401


@pytest.mark.parametrize("bad", ["abc", "-1", "1.5", "99999999999999999999"])
async def test_a_malformed_last_event_id_is_refused(
    base: str, database: Database, organiser: Staff, bad: str
) -> None:
    event_id = await new_event(database, organiser)
    async with session() as http:
        async with http.get(url(base, event_id), headers={"Last-Event-ID": bad}) as response:
            assert response.status == 422
            assert await response.json() == {
                "code": "VALIDATION_ERROR",
                "message": "Last-Event-ID must be a live event id (digits).",
                "field": "Last-Event-ID",
            }
        async with http.get(f"{url(base, event_id)}?last_event_id={bad}") as response:
            assert response.status == 422
            assert (await response.json())["field"] == "last_event_id"


async def test_quiet_streams_get_heartbeats_and_outlive_the_response_timeout(
    settings: Settings, database: Database, organiser: Staff, now: dt.datetime
) -> None:
    app = make_app(settings, database, now, live_heartbeat_seconds=0.2)
    app.config["RESPONSE_TIMEOUT"] = 0.5  # Quart's default is 60 s; the stream must ignore it
    event_id = await new_event(database, organiser)
    async with served(app) as base, session() as http:
        async with http.get(url(base, event_id)) as response:
            assert response.status == 200
            assert response.headers["Content-Type"] == "text/event-stream; charset=utf-8"
            assert response.headers["Cache-Control"] == "no-store, no-transform"
            assert response.headers["X-Accel-Buffering"] == "no"
            assert response.headers["X-Content-Type-Options"] == "nosniff"
            assert "Content-Length" not in response.headers
            assert "X-Internet10-Live-Plan" not in response.headers  # the route's, not sent
        async with open_stream(http, url(base, event_id)) as stream:
            started = asyncio.get_running_loop().time()
            beats = 0
            while asyncio.get_running_loop().time() - started < 1.2:
                assert await stream.frame(within=1.0) == Frame(comments=("",))
                beats += 1
            assert beats >= 3
            new = await record(database, event_id, "question", {"n": 1})
            assert (await stream.message()).id == new


async def test_shutdown_ends_streams_with_a_retry_hint_and_refuses_new_ones(
    settings: Settings, database: Database, organiser: Staff, now: dt.datetime
) -> None:
    app = make_app(settings, database, now)
    event_id = await new_event(database, organiser)
    async with served(app) as base, session() as http:
        state: AppState = app.extensions["internet10"]
        assert state.broker is not None
        async with open_stream(http, url(base, event_id)) as stream:
            state.broker.begin_shutdown()
            last = await stream.frame()
            assert last.retry is not None
            assert 1000 <= last.retry <= 5000
            with pytest.raises(EOFError):
                await stream.frame()
        async with http.get(url(base, event_id)) as response:
            assert response.status == 503
            assert (await response.json())["code"] == "UNAVAILABLE"


async def test_a_subscriber_too_slow_to_keep_up_is_disconnected(
    settings: Settings, database: Database, organiser: Staff, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its frames wait in a bounded list; past it, the stream ends (the browser resumes with
    Last-Event-ID) rather than holding memory for a client that does not read."""
    monkeypatch.setattr(broker_module, "QUEUE_FRAMES", 4)
    event_id = await new_event(database, organiser)
    broker = broker_module.Broker(database, heartbeat_seconds=60)
    database.on_commit = broker.publish
    await broker.start()
    try:
        body = broker.stream(event_id, None)
        assert await anext(body) == broker_module.PREAMBLE
        ids = [await record(database, event_id, "question", {"n": n}) for n in range(5)]
        assert broker.subscriber_count(event_id) == 1
        with pytest.raises(StopAsyncIteration):
            await anext(body)  # four were waiting, the fifth did not fit: the stream ended
        assert broker.subscriber_count(event_id) == 0
        assert len(ids) == 5
    finally:
        database.on_commit = None
        await broker.close()
