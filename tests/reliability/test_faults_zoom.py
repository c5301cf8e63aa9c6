"""Fault 1: Zoom down, and answering 429 and 5xx, during a concurrent burst of registrations.

The registrations go through the API while two job workers run the ``meeting.registrant`` jobs
against the Zoom stand-in (the real zoomus client over loopback). The stand-in is told to answer
a mix of 429 (with Retry-After), 500, 502 and 503, some of them after carrying the request out
(the answer is lost: the worker cannot know the registrant was added), and to stop listening for
a while. Expected: every registrant ends with exactly one Zoom registrant and one personal join
link, none duplicated; no job fails and none spends an attempt on the faults."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from quart.typing import TestClientProtocol as Client
from sqlalchemy import func, select

from integrations.zoom.standin import ZoomStandIn
from internet10.db import Database
from internet10.models import Job, JobStatus, Registration
from internet10.settings import Settings
from tests.api.test_events import I10, create
from tests.clock import Clock
from tests.conftest import Staff
from tests.reliability.faults import Stopwatch, figures, zoom_settings, zoom_worker

pytestmark = [pytest.mark.reliability]

PEOPLE = 30
# Faults the stand-in serves to the next /v2 requests, in this order: (status, Retry-After
# seconds, carried out before the answer is lost).
FAULTS: list[tuple[int, float | None, bool]] = [
    (429, 1, False),
    (500, None, False),
    (503, None, True),
    (429, 2, False),
    (502, None, False),
    (500, None, True),
    (429, 1, True),
    (503, None, False),
] * 2


@pytest.fixture
async def standin() -> AsyncIterator[ZoomStandIn]:
    async with ZoomStandIn() as server:
        yield server


@pytest.fixture
def settings(database_url: str, standin: ZoomStandIn) -> Settings:
    return zoom_settings(database_url, standin)


def person(i: int) -> dict[str, Any]:
    return {
        "name": f"Personne {i}",
        "email": f"p{i}@example.org",
        "country": "BJ",
        "language": "fr",
    }


async def test_zoom_429_5xx_and_outage_during_a_burst_leave_one_registrant_and_link_each(
    client: Client,
    organiser: Staff,
    database: Database,
    settings: Settings,
    standin: ZoomStandIn,
    now: dt.datetime,
    tmp_path: Path,
) -> None:
    watch = Stopwatch()
    event = await create(client, organiser, I10 | {"capacity": PEOPLE})
    published = await client.post(
        f"/api/v1/events/{event['id']}/publish", headers=organiser.headers
    )
    assert published.status_code == 200
    clock = Clock(now)
    workers = [
        zoom_worker(settings, database, standin, clock, tmp_path, worker_id=f"w{i}") for i in (1, 2)
    ]
    assert await workers[0].drain() == 1  # the meeting
    [meeting_id] = standin.meetings
    for status, retry_after, after in FAULTS:
        standin.fail_next(1, status, retry_after=retry_after, after=after)

    statuses: list[int] = []

    async def register(i: int) -> None:
        response = await client.post(f"/api/v1/events/{event['id']}/registrations", json=person(i))
        statuses.append(response.status_code)

    burst = asyncio.ensure_future(asyncio.gather(*(register(i) for i in range(PEOPLE))))
    outage_rounds = 0
    rounds = 0
    while True:
        rounds += 1
        if rounds == 4:
            await standin.down()  # Zoom unreachable: connections refused
        if 4 <= rounds < 10:
            outage_rounds += 1
        if rounds == 10:
            await standin.up()
        await asyncio.gather(*(w.run_pending() for w in workers))
        if burst.done() and await _all_done(database, PEOPLE):
            break
        assert rounds < 300, f"not done after {rounds} rounds: {await _job_states(database)}"
        # Time moves on 1 s, or to the next job due (the gate defers jobs while Zoom is down).
        due = await _next_due(database)
        clock.now = max(clock.now + dt.timedelta(seconds=1), due or clock.now)
    await burst

    # What the people registering saw: every one of them was registered at once.
    assert statuses == [201] * PEOPLE
    # Every fault was met.
    assert standin.pending_faults == 0
    people = await _registrations(database, event["id"])
    assert [r.status for r in people] == ["confirmed"] * PEOPLE
    at_zoom = standin.registrants(meeting_id)
    assert len(at_zoom) == PEOPLE
    assert Counter(r["email"] for r in at_zoom) == Counter(r.email for r in people)
    assert {r["status"] for r in at_zoom} == {"approved"}
    by_email = {r["email"]: r["id"] for r in at_zoom}
    assert {r.email: r.zoom_registrant_id for r in people} == by_email
    links = [r.join_url for r in people]
    assert all(link and link.startswith(f"{standin.base_url}/w/{meeting_id}?tk=") for link in links)
    assert len(set(links)) == PEOPLE  # personal, none shared
    # Each fault made exactly one more registrant call (a retry), never a second registrant.
    posts = [p for m, p in standin.requests if m == "POST" and p.endswith("/registrants")]
    assert len(posts) == PEOPLE + len(FAULTS)
    jobs = await _jobs(database)
    assert Counter(j.status for j in jobs) == Counter({"done": PEOPLE + 1})
    assert {j.attempts for j in jobs} == {1}  # faults and the outage spent no attempt
    lost_answers = sum(1 for _s, _r, after in FAULTS if after)
    figures(
        "Zoom 429/5xx/outage during a burst",
        registrations=PEOPLE,
        http_201=statuses.count(201),
        faults_injected=len(FAULTS),
        of_which_429=sum(1 for s, _r, _a in FAULTS if s == 429),
        of_which_5xx=sum(1 for s, _r, _a in FAULTS if s >= 500),
        answers_lost_after_the_change=lost_answers,
        outage_worker_rounds=outage_rounds,
        worker_rounds=rounds,
        registrant_calls=len(posts),
        repeated_calls=len(posts) - PEOPLE,
        zoom_registrants=len(at_zoom),
        duplicates=len(at_zoom) - len(by_email),
        distinct_links=len(set(links)),
        jobs_failed=0,
        simulated_minutes=round((clock.now - now).total_seconds() / 60, 1),
        wall_seconds=watch.seconds,
    )


async def _all_done(database: Database, people: int) -> bool:
    jobs = await _jobs(database)
    return len(jobs) == people + 1 and all(j.status == "done" for j in jobs)


async def _next_due(database: Database) -> dt.datetime | None:
    async with database.read() as db:
        due = await db.scalar(
            select(func.min(Job.run_after)).where(Job.status == JobStatus.PENDING.value)
        )
    if due is not None and due.tzinfo is None:  # SQLite gives naive UTC back
        due = due.replace(tzinfo=dt.UTC)
    return due


async def _job_states(database: Database) -> Counter[str]:
    return Counter(j.status for j in await _jobs(database))


async def _jobs(database: Database) -> list[Job]:
    async with database.read() as db:
        rows = await db.scalars(select(Job).where(Job.kind.like("meeting.%")).order_by(Job.id))
        return list(rows.all())


async def _registrations(database: Database, event_id: int) -> list[Registration]:
    async with database.read() as db:
        rows = await db.scalars(
            select(Registration).where(Registration.event_id == event_id).order_by(Registration.id)
        )
        return list(rows.all())
