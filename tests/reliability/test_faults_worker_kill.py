"""Fault 5: ``internet10 worker`` killed with SIGKILL in the middle of a batch.

The worker (a real subprocess) runs the jobs of a wave of registrations: confirmation mails to a
real SMTP server and personal Zoom links from the Zoom stand-in, which carries each registrant
call out and then holds its answer. The worker is killed while it waits for such an answer: Zoom
has added the person, the database does not know it yet. A second worker takes the dead one's
jobs once their lease expires. Expected: every job is done; the one external call that was
repeated (Zoom's add) gave the same registrant back, so each person has one Zoom registrant, one
link and one mail."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from quart.typing import TestClientProtocol as Client
from sqlalchemy import select

from integrations.zoom.standin import ZoomStandIn
from internet10.db import Database
from internet10.models import Job, Registration
from internet10.settings import Settings
from tests.api.test_events import I10, create
from tests.clock import Clock
from tests.conftest import Staff
from tests.mail.conftest import Inbox
from tests.mail.conftest import smtp_server as smtp_server
from tests.reliability.faults import Stopwatch, figures, zoom_settings, zoom_worker
from tests.scaleout.procs import eventually, working

pytestmark = [pytest.mark.reliability]

PEOPLE = 12
KINDS = ("registration.mail", "meeting.registrant")


@pytest.fixture
async def standin() -> AsyncIterator[ZoomStandIn]:
    async with ZoomStandIn() as server:
        yield server


@pytest.fixture
def settings(database_url: str, standin: ZoomStandIn) -> Settings:
    return zoom_settings(database_url, standin)


async def _jobs(database: Database) -> list[Job]:
    async with database.read() as db:
        rows = await db.scalars(select(Job).where(Job.kind.in_(KINDS)).order_by(Job.id))
        return list(rows.all())


async def test_a_worker_killed_mid_batch_leaves_each_job_done_once_where_it_matters(
    client: Client,
    organiser: Staff,
    database: Database,
    database_url: str,
    settings: Settings,
    standin: ZoomStandIn,
    smtp_server: tuple[str, Inbox],
    tmp_path: Path,
    now: dt.datetime,
) -> None:
    watch = Stopwatch()
    smtp_url, inbox = smtp_server
    event = await create(client, organiser, I10)
    published = await client.post(
        f"/api/v1/events/{event['id']}/publish", headers=organiser.headers
    )
    assert published.status_code == 200
    meeting = zoom_worker(settings, database, standin, Clock(now), tmp_path, worker_id="m")
    assert await meeting.drain() == 1  # the meeting exists before anyone registers
    [meeting_id] = standin.meetings
    for i in range(PEOPLE):
        body = {"name": f"P{i}", "email": f"p{i}@example.org", "country": "BJ", "language": "fr"}
        answer = await client.post(f"/api/v1/events/{event['id']}/registrations", json=body)
        assert answer.status_code == 201
    env = {
        "INTERNET10_DATABASE_URL": database_url,
        "INTERNET10_SMTP_URL": smtp_url,
        "INTERNET10_JOB_LEASE_SECONDS": "2",
        "INTERNET10_ZOOM_ACCOUNT_ID": standin.account_id,
        "INTERNET10_ZOOM_CLIENT_ID": standin.client_id,
        "INTERNET10_ZOOM_CLIENT_SECRET": standin.client_secret,
        "INTERNET10_ZOOM_API_URL": standin.api_url,
        "INTERNET10_ZOOM_OAUTH_URL": standin.oauth_url,
    }
    # Zoom carries each call out, then holds its answer: the kill lands between the two.
    standin.slow(3.0, after=True)

    async def second_add_made() -> bool:
        return len(standin.registrants(meeting_id)) == 2

    async with working("doomed", tmp_path, env) as doomed:
        await eventually(second_add_made, within=90, every=0.02)
        await doomed.kill()
    standin.slow(0)
    at_kill = await _jobs(database)
    held = [j.id for j in at_kill if j.status == "running"]
    done_at_kill = [j.id for j in at_kill if j.status == "done"]
    mails_at_kill = len(inbox.messages)
    # The dead worker's batch: its first person complete, the second added at Zoom only.
    assert len(held) == 10 - len(done_at_kill)
    async with database.read() as db:
        unknown = await db.scalar(
            select(Registration.id).where(Registration.email == "p1@example.org")
        )
        linked = (
            await db.scalars(
                select(Registration.email).where(Registration.zoom_registrant_id.is_not(None))
            )
        ).all()
    assert unknown is not None
    assert list(linked) == ["p0@example.org"]

    async def all_done() -> bool:
        return all(j.status == "done" for j in await _jobs(database))

    async with working("heir", tmp_path, env):
        await eventually(all_done, within=120, every=0.2)

    jobs = await _jobs(database)
    assert Counter(j.kind for j in jobs) == Counter({k: PEOPLE for k in KINDS})
    attempts = {j.id: j.attempts for j in jobs}
    assert {attempts[i] for i in held} == {2}  # claimed by the dead worker, then by the heir
    assert {n for i, n in attempts.items() if i not in held} == {1}
    # Zoom: one registrant each, and exactly one call repeated (the one whose answer died).
    at_zoom = standin.registrants(meeting_id)
    posts = [p for m, p in standin.requests if m == "POST" and p.endswith("/registrants")]
    assert len(at_zoom) == PEOPLE
    assert len(posts) == PEOPLE + 1
    async with database.read() as db:
        people = (await db.scalars(select(Registration).order_by(Registration.id))).all()
    assert {r.email: r.zoom_registrant_id for r in people} == {r["email"]: r["id"] for r in at_zoom}
    assert len({r.join_url for r in people}) == PEOPLE
    # Mail: one each (the kill did not land in an SMTP conversation).
    received = Counter(m["To"] for m in inbox.messages)
    assert received == Counter({f"p{i}@example.org": 1 for i in range(PEOPLE)})
    figures(
        "worker SIGKILL mid-batch",
        jobs=len(jobs),
        batch_claimed=10,
        done_before_the_kill=len(done_at_kill),
        held_by_the_dead_worker=len(held),
        mails_before_the_kill=mails_at_kill,
        repeated_external_calls=len(posts) - PEOPLE,
        zoom_registrants=len(at_zoom),
        duplicated_registrants=0,
        mails_sent_twice=sum(n - 1 for n in received.values()),
        jobs_lost=0,
        wall_seconds=watch.seconds,
    )
