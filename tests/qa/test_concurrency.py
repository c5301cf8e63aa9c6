"""Many attendees at once: every vote counts once, and the live events of one event are
recorded in the order their changes committed (the event's row is locked first)."""

from __future__ import annotations

import asyncio

import pytest
from quart import Quart

from internet10.db import Database
from tests.qa.conftest import Stage, asked, attend, live_rows, moderated, vote

pytestmark = pytest.mark.integration

VOTERS = 40


async def test_concurrent_votes_count_once_each_in_commit_order(
    app: Quart, stage: Stage, database: Database
) -> None:
    client = app.test_client()
    people = [
        await attend(database, stage.event_id, f"P{i}", f"p{i}@example.org") for i in range(VOTERS)
    ]
    q = await asked(client, people[0], stage.slots[0], "Question ?")
    await moderated(client, stage.moderator, q, "approve")
    responses = await asyncio.gather(
        *(vote(app.test_client(), person, q) for person in people for _ in range(2))
    )
    assert sorted(r.status_code for r in responses) == [200] * (2 * VOTERS)
    counts = [
        data["votes"]
        for kind, data in await live_rows(database, stage.event_id)
        if kind == "question" and data["id"] == q
    ]
    assert counts == list(range(VOTERS + 1))  # approve (0), then one more per committed vote
