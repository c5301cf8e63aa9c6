"""The broker inside one process: publishing after the commit, order and gaps, savepoints."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence

import pytest
from sqlalchemy import select

from internet10 import broker as broker_module
from internet10.broker import PREAMBLE, Broker, frame
from internet10.db import Database
from internet10.models import Event
from internet10.services import live
from tests.conftest import Staff
from tests.live.helpers import START, new_event, record, rows

pytestmark = pytest.mark.integration


@pytest.fixture
async def broker(database: Database) -> AsyncIterator[Broker]:
    broker = Broker(database, heartbeat_seconds=60)
    await broker.start()
    database.on_commit = broker.publish
    yield broker
    database.on_commit = None
    await broker.close()


async def subscribe(
    broker: Broker, event_id: int, after: int | None = None
) -> AsyncIterator[bytes]:
    body = broker.stream(event_id, after)
    first = await anext(body)
    assert first.startswith(PREAMBLE)
    return body


async def chunk(body: AsyncIterator[bytes]) -> bytes:
    return await asyncio.wait_for(anext(body), 5)


async def nothing_within(body: AsyncIterator[bytes], seconds: float) -> bool:
    """True when the stream sends nothing for ``seconds`` (it is closed afterwards)."""
    pending = asyncio.ensure_future(anext(body))
    await asyncio.sleep(seconds)
    quiet = not pending.done()
    pending.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await pending
    return quiet


async def test_a_commit_publishes_its_live_events_to_every_stream_of_the_event(
    broker: Broker, database: Database, organiser: Staff
) -> None:
    event_id = await new_event(database, organiser)
    other = await new_event(database, organiser)
    streams = [await subscribe(broker, event_id) for _ in range(3)]
    elsewhere = await subscribe(broker, other)
    async with database.write() as db:
        await db.scalar(select(Event).where(Event.id == event_id).with_for_update())
        one = await live.record(db, event_id, "question", {"n": 1}, now=START)
        two = await live.record(db, event_id, "queue", {"slot_id": 4}, now=START)
    expected = frame(one.id, "question", {"n": 1}) + frame(two.id, "queue", {"slot_id": 4})
    assert [await chunk(s) for s in streams] == [expected] * 3
    assert broker.subscriber_count(event_id) == 3
    assert broker.subscriber_count(other) == 1
    assert await nothing_within(elsewhere, 0.1)  # nothing for the other event
    for s in streams:
        await s.aclose()  # type: ignore[attr-defined]
    assert broker.subscriber_count() == 0
    assert broker.channels == {}


async def test_a_rolled_back_transaction_publishes_nothing(
    broker: Broker, database: Database, organiser: Staff
) -> None:
    event_id = await new_event(database, organiser)
    body = await subscribe(broker, event_id)

    async def record_then_fail() -> None:
        async with database.write() as db:
            await live.record(db, event_id, "question", {"n": 1}, now=START)
            raise RuntimeError("changed my mind")

    with pytest.raises(RuntimeError, match="changed my mind"):
        await record_then_fail()
    async with database.write() as db:
        async with db.begin_nested():
            await live.record(db, event_id, "question", {"n": 2}, now=START)
        savepoint = await db.begin_nested()
        await live.record(db, event_id, "question", {"n": 3}, now=START)
        await savepoint.rollback()
    stored = await rows(database, event_id)
    assert [data for _, _, data in stored] == [{"n": 2}]
    assert await chunk(body) == frame(stored[0][0], "question", {"n": 2})


async def test_frames_arriving_out_of_order_are_sent_in_order(
    broker: Broker, database: Database, organiser: Staff
) -> None:
    """Two processes commit one after the other, but the second's frame reaches us first."""
    event_id = await new_event(database, organiser)
    database.on_commit = None  # the frames come from "elsewhere": this test hands them in
    body = await subscribe(broker, event_id)
    first = await record(database, event_id, "question", {"n": 1})
    second = await record(database, event_id, "question", {"n": 2})
    broker.receive(event_id, first, second, frame(second, "question", {"n": 2}))
    broker.receive(event_id, 0, first, frame(first, "question", {"n": 1}))
    got = await chunk(body)
    while got.count(b"\n\n") < 2:
        got += await chunk(body)
    assert got == frame(first, "question", {"n": 1}) + frame(second, "question", {"n": 2})


async def test_a_lost_frame_is_read_from_the_database(
    broker: Broker, database: Database, organiser: Staff
) -> None:
    event_id = await new_event(database, organiser)
    database.on_commit = None
    body = await subscribe(broker, event_id)
    lost = await record(database, event_id, "question", {"n": 1})
    later = await record(database, event_id, "qa", {"open": True})
    broker.receive(event_id, lost, later, frame(later, "qa", {"open": True}))
    broker.receive(event_id, lost, later, frame(later, "qa", {"open": True}))  # echoed twice
    got = await chunk(body)
    while got.count(b"\n\n") < 2:
        got += await chunk(body)
    assert got == frame(lost, "question", {"n": 1}) + frame(later, "qa", {"open": True})
    broker.receive(event_id, 0, lost, frame(lost, "question", {"n": 1}))  # late: already sent
    assert await nothing_within(body, 0.1)


async def test_a_quiet_channel_reads_what_no_broker_published(
    database: Database, organiser: Staff
) -> None:
    """A process without a broker (a job worker) or a frame Redis lost on the last change:
    the heartbeat's look at the database brings it."""
    broker = Broker(database, heartbeat_seconds=0.2)
    await broker.start()
    try:
        event_id = await new_event(database, organiser)
        body = await subscribe(broker, event_id)
        unseen = await record(database, event_id, "attendance", {"count": 42})
        assert await chunk(body) == b":\n\n"  # the heartbeat comes first, the look follows
        assert await chunk(body) == frame(unseen, "attendance", {"count": 42})
    finally:
        await broker.close()


async def test_a_failing_publish_hook_does_not_fail_the_commit(
    database: Database, organiser: Staff, caplog: pytest.LogCaptureFixture
) -> None:
    event_id = await new_event(database, organiser)

    def broken(records: Sequence[live.Recorded]) -> None:
        raise RuntimeError(f"broker down ({len(records)} records)")

    database.on_commit = broken
    try:
        written = await record(database, event_id, "question", {"n": 1})
    finally:
        database.on_commit = None
    assert [r[0] for r in await rows(database, event_id)] == [written]
    assert "publishing live events failed after the commit" in caplog.text


async def test_records_chain_each_event_to_its_previous_one(
    database: Database, organiser: Staff
) -> None:
    seen: list[live.Recorded] = []
    database.on_commit = seen.extend
    try:
        a = await new_event(database, organiser)
        b = await new_event(database, organiser)
        a1 = await record(database, a, "question", {"n": 1})
        b1 = await record(database, b, "question", {"n": 1})
        async with database.write() as db:
            a2 = (await live.record(db, a, "qa", {"n": 2}, now=START)).id
            a3 = (await live.record(db, a, "qa", {"n": 3}, now=START)).id
    finally:
        database.on_commit = None
    assert [(r.event_id, r.previous_id, r.id) for r in seen] == [
        (a, 0, a1),
        (b, 0, b1),
        (a, a1, a2),
        (a, a2, a3),
    ]


def test_a_live_event_kind_is_a_plain_name() -> None:
    assert live.KIND.fullmatch("running")
    for bad in ("", "Running", "two words", "new\nline", "x" * 33):
        assert not live.KIND.fullmatch(bad)


async def test_the_frame_is_one_sse_message_whatever_the_text() -> None:
    data = {"text": "Une question ?\nSur deux lignes\r\n", "who": "Aïcha"}
    assert frame(7, "question", data) == (
        b'id: 7\nevent: question\ndata: {"text":"Une question ?\\nSur deux lignes\\r\\n",'
        b'"who":"A\xc3\xafcha"}\n\n'
    )
    assert broker_module.HEARTBEAT == (-1, b":\n\n")
