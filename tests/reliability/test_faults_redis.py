"""Fault 2: Redis stopped for 30 seconds during live Q&A.

Two app processes share a private Redis (live fan-out between them, and the Q&A rate limits).
Attendees ask and vote, a moderator approves, through both processes, while a live stream is
open on each. Redis is killed for 30 s in the middle, then started again. Expected: every
question and vote made while it was down is stored (the users see 201/200 as usual), the rate
limits still hold (each process counts alone), both streams get every live event once, in order
(from the database while Redis is away), and the limits are shared through Redis again after."""

from __future__ import annotations

import asyncio
import socket
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from redis.asyncio import Redis
from sqlalchemy import func, select

from internet10.db import Database
from internet10.models import Question, Role, Vote
from internet10.ratelimit import REDIS_AGAIN_AFTER_SECONDS, Limit, RedisLimiter
from tests.conftest import Staff, make_staff
from tests.live.helpers import START, new_event, rows, slot_ids
from tests.live.processes import PrivateRedis
from tests.live.sse import Stream, open_stream, session
from tests.qa.conftest import Attendee, attend
from tests.reliability.faults import Stopwatch, figures
from tests.scaleout.procs import eventually, serving

pytestmark = [pytest.mark.reliability]

OUTAGE_SECONDS = 30.0
ROUNDS = 6  # rounds of ask / approve / vote while Redis is down, spread over the outage
QUESTION_LIMIT = 3  # per attendee per minute (INTERNET10_QA_QUESTION_RATE_PER_MINUTE)


@pytest.fixture
async def redis_server(tmp_path: Path) -> AsyncIterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    await server.start()
    try:
        yield server
    finally:
        await server.kill()


class Reader:
    """Reads one stream in the background: every message id, in the order received."""

    def __init__(self, stream: Stream) -> None:
        self.ids: list[int] = []
        self.task = asyncio.ensure_future(self._read(stream))

    async def _read(self, stream: Stream) -> None:
        while True:
            frame = await stream.message(within=600)
            assert frame.id is not None
            self.ids.append(frame.id)

    async def close(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


async def test_redis_down_30_s_during_live_qa_loses_nothing_and_sends_nothing_twice(
    database: Database,
    database_url: str,
    organiser: Staff,
    redis_server: PrivateRedis,
    tmp_path: Path,
) -> None:
    watch = Stopwatch()
    event_id = await new_event(database, organiser)
    slot = (await slot_ids(database, event_id))[0]
    moderator = await make_staff(
        database, "mod@example.org", Role.MODERATOR, now=START, event_id=event_id
    )
    people = [
        await attend(database, event_id, f"P{i}", f"p{i}@example.org") for i in range(ROUNDS + 1)
    ]
    spammer = people[-1]
    env = {
        "INTERNET10_DATABASE_URL": database_url,
        "INTERNET10_REDIS_URL": redis_server.url,
        "INTERNET10_LIVE_HEARTBEAT_SECONDS": "2",  # streams re-read the database when quiet
        "INTERNET10_QA_QUESTION_RATE_PER_MINUTE": str(QUESTION_LIMIT),
        "INTERNET10_QA_VOTE_RATE_PER_MINUTE": "30",
    }
    seen: Counter[int] = Counter()  # statuses the users got while Redis was down
    slowest = 0.0

    async def call(
        http: aiohttp.ClientSession, method: str, url: str, who: Attendee | Staff, **body: Any
    ) -> tuple[int, Any]:
        nonlocal slowest
        started = time.monotonic()
        async with http.request(method, url, json=body or None, headers=who.headers) as r:
            answer = r.status, await r.json()
        if down:
            seen[answer[0]] += 1
            slowest = max(slowest, time.monotonic() - started)
        return answer

    async def ask(http: aiohttp.ClientSession, base: str, who: Attendee, text: str) -> int:
        status, body = await call(
            http, "POST", f"{base}/api/v1/slots/{slot}/questions", who, text=text, language="fr"
        )
        assert status == 201, body
        return int(body["id"])

    async def approve(http: aiohttp.ClientSession, base: str, question: int) -> None:
        url = f"{base}/api/v1/questions/{question}/moderation"
        status, body = await call(http, "POST", url, moderator, action="approve")
        assert status == 200, body

    async def vote(http: aiohttp.ClientSession, base: str, who: Attendee, question: int) -> None:
        status, body = await call(http, "POST", f"{base}/api/v1/questions/{question}/vote", who)
        assert (status, body["voted"]) == (200, True), body

    down = False
    votes: Counter[int] = Counter()
    async with (
        serving("a", tmp_path, env) as a,
        serving("b", tmp_path, env) as b,
        session() as http,
    ):
        status, _ = await call(
            http, "POST", f"{a.base}/api/v1/slots/{slot}/qa", moderator, open=True
        )
        assert status == 200
        live = f"/api/v1/events/{event_id}/live"
        before = len(await rows(database, event_id))  # streams from now start after these
        async with (
            open_stream(http, a.base + live) as on_a,
            open_stream(http, b.base + live) as on_b,
        ):
            readers = [Reader(on_a), Reader(on_b)]
            # Redis up.
            first = await ask(http, a.base, people[0], "Avant la panne ?")
            await approve(http, b.base, first)
            await vote(http, a.base, people[1], first)
            votes[first] += 1

            await redis_server.kill()
            down, stopped = True, time.monotonic()
            asked = [first]
            for r in range(ROUNDS):
                here, there = (a, b) if r % 2 == 0 else (b, a)
                question = await ask(http, here.base, people[r], f"Pendant la panne, n° {r} ?")
                await approve(http, there.base, question)
                voter = people[(r + 1) % ROUNDS]
                await vote(http, here.base, voter, question)
                votes[question] += 1
                if r + 2 < len(people):  # everyone but its asker and its first voter, once
                    await vote(http, there.base, people[r + 2], first)
                    votes[first] += 1
                asked.append(question)
                if r == 2:
                    # One attendee asks again and again: the limit holds without Redis. Two
                    # fixed windows at most in this burst, 3 each: 7 tries see a 429.
                    tries = [
                        await call(
                            http,
                            "POST",
                            f"{a.base}/api/v1/slots/{slot}/questions",
                            spammer,
                            text=f"Encore {k} ?",
                            language="fr",
                        )
                        for k in range(2 * QUESTION_LIMIT + 1)
                    ]
                    limited = Counter(status for status, _b in tries)
                    assert set(limited) == {201, 429}, limited
                    assert limited[201] <= 2 * QUESTION_LIMIT
                    asked += [body["id"] for status, body in tries if status == 201]
                await asyncio.sleep(
                    max(0.0, stopped + (r + 1) * OUTAGE_SECONDS / ROUNDS - time.monotonic())
                )
            # Both streams got everything so far, from the database while Redis is away.
            stored = [row[0] for row in await rows(database, event_id)][before:]
            for reader in readers:
                await eventually(lambda reader=reader: _caught_up(reader, stored), within=20)
            outage = time.monotonic() - stopped
            await redis_server.start()
            down = False

            # Redis back: changes keep flowing.
            last = await ask(http, b.base, people[0], "Après la panne ?")
            await approve(http, a.base, last)
            await vote(http, b.base, people[2], last)
            last_limited_on_b = time.monotonic()  # its limiter's last failure is before this
            votes[last] += 1
            asked.append(last)
            stored = [row[0] for row in await rows(database, event_id)][before:]
            for reader in readers:
                await eventually(lambda reader=reader: _caught_up(reader, stored), within=20)
            # The limits count in Redis again once each process asks it again (10 s after
            # its last failure at the latest): a question then is counted there.
            await asyncio.sleep(
                max(2.5, last_limited_on_b + REDIS_AGAIN_AFTER_SECONDS + 0.5 - time.monotonic())
            )  # also a heartbeat more, for anything that would arrive twice
            counted_in_redis = await ask(http, b.base, people[3], "Comptée dans Redis ?")
            asked.append(counted_in_redis)
            stored = [row[0] for row in await rows(database, event_id)][before:]
            for reader in readers:
                await eventually(lambda reader=reader: _caught_up(reader, stored), within=20)
            await asyncio.sleep(2.5)  # a heartbeat more: nothing arrives twice
            for reader in readers:
                await reader.close()
                assert reader.ids == stored  # every live event, once, in order
        keys = Redis.from_url(redis_server.url)
        try:
            counted = await keys.keys(
                f"internet10:rl:qa-question:registration:{people[3].registration_id}:*"
            )
        finally:
            await keys.aclose()
        assert len(counted) == 1  # the question asked after Redis came back was counted there

    async with database.read() as db:
        questions = await db.scalar(select(func.count()).select_from(Question))
        cast = Counter((await db.scalars(select(Vote.question_id))).all())
    assert questions == len(asked)
    assert cast == votes
    figures(
        "Redis down 30 s during live Q&A",
        outage_seconds=round(outage, 1),
        app_processes=2,
        live_streams=2,
        requests_during_the_outage=sum(seen.values()),
        statuses_during_the_outage=dict(sorted(seen.items())),
        slowest_request_during_the_outage_s=round(slowest, 2),
        questions_stored=questions,
        votes_stored=sum(cast.values()),
        live_events=len(stored),
        delivered_per_stream=len(stored),
        lost=0,
        duplicates=0,
        wall_seconds=watch.seconds,
    )


async def _caught_up(reader: Reader, stored: list[int]) -> bool:
    return reader.ids[: len(stored)] == stored


async def test_a_hung_redis_costs_the_rate_limits_one_timeout_not_one_per_request() -> None:
    """Redis accepts connections and never answers (a stopped process, a network black hole):
    the first request waits for the client's timeout, then the limits count in the process
    without asking Redis for ``REDIS_AGAIN_AFTER_SECONDS``."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    redis = Redis.from_url(
        f"redis://127.0.0.1:{port}/0", socket_timeout=0.5, socket_connect_timeout=0.5
    )
    limiter = RedisLimiter(redis)
    limit = Limit("qa-question", QUESTION_LIMIT)
    timings: list[float] = []
    answers: list[int | None] = []
    try:
        for _ in range(QUESTION_LIMIT + 2):
            started = time.monotonic()
            answers.append(await limiter.hit(limit, "registration:1"))
            timings.append(time.monotonic() - started)
    finally:
        await redis.aclose()
        listener.close()
    assert timings[0] >= 0.5  # the one timeout
    assert max(timings[1:]) < 0.1  # then no more waiting on Redis
    assert answers[:QUESTION_LIMIT] == [None] * QUESTION_LIMIT  # counted in the process...
    assert all(wait is not None for wait in answers[QUESTION_LIMIT:])  # ...and limited there
    figures(
        "Redis hung, rate limits",
        first_request_s=round(timings[0], 2),
        later_requests_max_s=round(max(timings[1:]), 3),
        limited=sum(1 for wait in answers if wait is not None),
        redis_again_after_s=REDIS_AGAIN_AFTER_SECONDS,
    )
