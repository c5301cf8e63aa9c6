"""Per-attendee limits on questions and votes: 429 with Retry-After, counted per attendee, shared
by every process through Redis when it is configured."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from quart import Quart
from redis.asyncio import Redis

from internet10.app import create_app
from internet10.db import Database
from internet10.ratelimit import InProcessLimiter, RedisLimiter
from internet10.settings import Settings
from internet10.state import AppState, Dependencies
from tests.clock import Clock
from tests.qa.conftest import Stage, ask, asked, attend, moderated, vote

pytestmark = pytest.mark.integration

MOMENT = 1_000_000 * 60.0 + 30.0  # half-way through a minute: the window cannot roll over


def limited(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"qa_question_rate_per_minute": 3, "qa_vote_rate_per_minute": 30}
    )


@pytest.fixture
async def limited_app(settings: Settings, database: Database, clock: Clock) -> AsyncIterator[Quart]:
    app = create_app(limited(settings), dependencies=Dependencies(database=database, clock=clock))
    async with app.test_app():
        state: AppState = app.extensions["internet10"]
        state.limiter = InProcessLimiter(clock=lambda: MOMENT)
        yield app


async def test_a_fourth_question_in_a_minute_waits(
    limited_app: Quart, stage: Stage, database: Database
) -> None:
    client = limited_app.test_client()
    ama = await attend(database, stage.event_id, "Ama", "ama@example.org")
    kofi = await attend(database, stage.event_id, "Kofi", "kofi@example.org")
    codes = [(await ask(client, ama, stage.slots[0], f"Q{i} ?")).status_code for i in range(4)]
    assert codes == [201, 201, 201, 429]
    blocked = await ask(client, ama, stage.slots[0], "Encore ?")
    assert (await blocked.get_json())["code"] == "RATE_LIMITED"
    assert blocked.headers["Retry-After"] == "30"
    assert (await ask(client, kofi, stage.slots[0], "Moi ?")).status_code == 201


async def test_the_thirty_first_vote_in_a_minute_waits(
    limited_app: Quart, stage: Stage, database: Database
) -> None:
    client = limited_app.test_client()
    ama = await attend(database, stage.event_id, "Ama", "ama@example.org")
    kofi = await attend(database, stage.event_id, "Kofi", "kofi@example.org")
    q = await asked(client, ama, stage.slots[0], "Question ?")
    await moderated(client, stage.moderator, q, "approve")
    codes = [(await vote(client, kofi, q, up=i % 2 == 0)).status_code for i in range(31)]
    assert codes == [200] * 30 + [429]
    withdrawing = await vote(client, kofi, q, up=False)
    assert (withdrawing.status_code, withdrawing.headers["Retry-After"]) == (429, "30")
    assert (await vote(client, ama, q)).status_code == 200


async def test_processes_sharing_redis_count_together(
    settings: Settings, database: Database, clock: Clock, redis_url: str, stage: Stage
) -> None:
    moment = (uuid.uuid4().int % 10**9) * 60.0 + 30.0  # a window no other run uses
    redis = Redis.from_url(redis_url)
    apps = [
        create_app(
            limited(settings),
            dependencies=Dependencies(database=database, clock=clock, redis=redis),
        )
        for _ in range(2)
    ]
    try:
        async with apps[0].test_app(), apps[1].test_app():
            for app in apps:
                app.extensions["internet10"].limiter = RedisLimiter(redis, clock=lambda: moment)
            ama = await attend(database, stage.event_id, "Ama", "ama@example.org")
            first, second = (app.test_client() for app in apps)
            codes = [
                (await ask(client, ama, stage.slots[0], f"Q{i} ?")).status_code
                for i, client in enumerate((first, second, first, second))
            ]
            assert codes == [201, 201, 201, 429]
    finally:
        await redis.aclose()
