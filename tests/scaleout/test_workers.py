"""Several ``internet10 worker`` processes on one PostgreSQL: no job runs twice; the jobs of a
worker killed with SIGKILL run again once its lease expires; a worker told to stop gives back
what it holds. The jobs are the real confirmation mails, sent to a real SMTP server."""

from __future__ import annotations

import json
import socket
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from internet10.db import Database
from internet10.models import Job
from internet10.services import registration as registrations
from internet10.state import utcnow
from tests.conftest import Staff
from tests.live.helpers import new_event
from tests.mail.conftest import Inbox
from tests.mail.conftest import smtp_server as smtp_server
from tests.scaleout.procs import eventually, postgres_only, working

pytestmark = pytest.mark.e2e

MAIL = "registration.mail"


@pytest.fixture
def blackhole() -> Iterator[str]:
    """An SMTP address that accepts connections and never says a word: a send hangs there."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    try:
        yield f"smtp://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.close()


@pytest.fixture
async def registered(database: Database, organiser: Staff) -> list[str]:
    """Confirmed registrations, each with its confirmation mail job due now (the workers run
    on the real clock); their addresses."""
    postgres_only()
    event_id = await new_event(database, organiser)
    addresses = [f"p{i}@example.org" for i in range(40)]
    for address in addresses:
        async with database.write() as db:
            event = await registrations.lock_open_event(db, event_id)
            await registrations.register(
                db, event, registrations.Applicant("P", address, "BJ", "fr"), now=utcnow()
            )
    return addresses


async def _mail_jobs(database: Database) -> list[Job]:
    async with database.read() as db:
        return list((await db.scalars(select(Job).where(Job.kind == MAIL).order_by(Job.id))).all())


def _jobs_run(log: str) -> list[int]:
    """The ids of the jobs a worker's JSON log says it finished."""
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    return [line["job_id"] for line in lines if line.get("outcome") == "done"]


def _env(database_url: str, smtp: str, **extra: str) -> dict[str, str]:
    return {"INTERNET10_DATABASE_URL": database_url, "INTERNET10_SMTP_URL": smtp, **extra}


async def test_three_workers_send_each_mail_exactly_once(
    database: Database,
    database_url: str,
    registered: list[str],
    smtp_server: tuple[str, Inbox],
    tmp_path: Path,
) -> None:
    url, inbox = smtp_server
    env = _env(database_url, url)

    async def all_done() -> bool:
        return all(j.status == "done" for j in await _mail_jobs(database))

    async with (
        working("w1", tmp_path, env) as w1,
        working("w2", tmp_path, env) as w2,
        working("w3", tmp_path, env) as w3,
    ):
        await eventually(all_done, within=60)
    sent = Counter(m["To"] for m in inbox.messages)
    assert sent == Counter({address: 1 for address in registered})
    ran = {w.name: _jobs_run(w.log_text()) for w in (w1, w2, w3)}
    assert sum(len(ids) for ids in ran.values()) == len(registered)
    assert len(set().union(*ran.values())) == len(registered)  # none ran twice
    assert sum(1 for ids in ran.values() if ids) >= 2  # the work was shared
    jobs = await _mail_jobs(database)
    assert [j.attempts for j in jobs] == [1] * len(registered)
    assert len({j.locked_by for j in jobs}) == 1  # cleared on completion: {None}


async def test_the_jobs_of_a_killed_worker_run_again_after_its_lease(
    database: Database,
    database_url: str,
    registered: list[str],
    smtp_server: tuple[str, Inbox],
    blackhole: str,
    tmp_path: Path,
) -> None:
    url, inbox = smtp_server

    async def claimed() -> bool:
        return any(j.status == "running" for j in await _mail_jobs(database))

    async with working("doomed", tmp_path, _env(database_url, blackhole, **LEASE_2S)) as doomed:
        await eventually(claimed, within=30)  # it holds a batch, hung on the first mail
        await doomed.kill()
    held = [j.id for j in await _mail_jobs(database) if j.status == "running"]
    assert len(held) == 10  # the worker's batch

    async def all_done() -> bool:
        return all(j.status == "done" for j in await _mail_jobs(database))

    async with working("heir", tmp_path, _env(database_url, url)):
        await eventually(all_done, within=60)
    assert Counter(m["To"] for m in inbox.messages) == Counter({a: 1 for a in registered})
    attempts = {j.id: j.attempts for j in await _mail_jobs(database)}
    assert {attempts[i] for i in held} == {2}  # claimed by the dead worker, then by the heir
    assert {n for i, n in attempts.items() if i not in held} == {1}


LEASE_2S = {"INTERNET10_JOB_LEASE_SECONDS": "2"}


async def test_a_stopped_worker_gives_back_the_jobs_it_holds(
    database: Database,
    database_url: str,
    registered: list[str],
    blackhole: str,
    tmp_path: Path,
) -> None:
    async def claimed() -> bool:
        return any(j.status == "running" for j in await _mail_jobs(database))

    async with working("leaving", tmp_path, _env(database_url, blackhole)) as leaving:
        await eventually(claimed, within=30)
        seconds = await leaving.terminate(grace=30)
    assert leaving.process.returncode == 0, leaving.log_tail()
    assert seconds < 15  # the hung mail had 10 s to finish, then was cancelled
    async with database.read() as db:
        states = dict(
            (
                await db.execute(
                    select(Job.status, func.count()).where(Job.kind == MAIL).group_by(Job.status)
                )
            ).all()
        )
    assert states == {"pending": len(registered)}
    jobs = await _mail_jobs(database)
    assert {(j.attempts, j.locked_by) for j in jobs} == {(0, None)}
