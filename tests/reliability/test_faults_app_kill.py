"""Fault 6: ``internet10 serve`` killed with SIGKILL in the middle of a burst of registrations.

Clients register with an ``Idempotency-Key`` each, many at once; the app process is killed
after some have been acknowledged, with others in flight. A new process starts, and every
client whose request was not acknowledged retries with the same key and body; the acknowledged
ones retry too (a client that cannot tell). Expected: every acknowledged registration exists
exactly once and is answered again as it was; those that committed without their answer reaching
the client are answered now (no ``ALREADY_REGISTERED``); nobody is registered twice and no job
was enqueued twice or without its registration."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select

from internet10.db import Database
from internet10.models import IdempotencyRecord, Job, Registration
from tests.conftest import Staff
from tests.live.helpers import new_event
from tests.reliability.faults import Stopwatch, figures
from tests.scaleout.procs import eventually, serving

pytestmark = [pytest.mark.reliability]

PEOPLE = 60
AT_ONCE = 8  # clients in flight together
KILL_AFTER = 20  # acknowledged registrations before the kill
LOST = frozenset({2, 5, 9})  # their answers are lost on the way back, after the commit


class LossyProxy:
    """A TCP hop between the clients and the app (a load balancer, a flaky network): it passes
    everything through, except that the answer to a request carrying ``X-Lose-Answer`` is
    swallowed and the client's connection closed (one request per connection)."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.server: asyncio.Server | None = None
        self.port = 0

    async def __aenter__(self) -> LossyProxy:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = int(self.server.sockets[0].getsockname()[1])
        return self

    async def __aexit__(self, *_exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.close()
            return
        lose = asyncio.Event()

        async def requests() -> None:
            while chunk := await reader.read(65536):
                if b"x-lose-answer" in chunk.lower():
                    lose.set()
                up_writer.write(chunk)
                await up_writer.drain()

        async def answers() -> None:
            while chunk := await up_reader.read(65536):
                if lose.is_set():
                    return  # swallowed: the change was made, the client never hears of it
                writer.write(chunk)
                await writer.drain()

        pumps = [asyncio.ensure_future(requests()), asyncio.ensure_future(answers())]
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pump in pumps:
                pump.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)
            for w in (writer, up_writer):
                w.close()


def one_request_per_connection() -> aiohttp.TCPConnector:
    return aiohttp.TCPConnector(force_close=True)


def body(i: int) -> dict[str, str]:
    return {"name": f"P{i}", "email": f"p{i}@example.org", "country": "BJ", "language": "fr"}


async def _post(
    http: aiohttp.ClientSession, url: str, i: int, *, lose: bool = False
) -> tuple[int, dict[str, Any]] | str:
    """(status, body), or what went wrong on the way."""
    headers = {"Idempotency-Key": f"key-{i}"}
    if lose:
        headers["X-Lose-Answer"] = "1"
    try:
        async with http.post(url, json=body(i), headers=headers) as r:
            return r.status, await r.json()
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        return type(exc).__name__


async def _registrations(database: Database) -> list[Registration]:
    async with database.read() as db:
        return list((await db.scalars(select(Registration).order_by(Registration.id))).all())


async def test_the_app_killed_mid_burst_then_retries_with_the_same_keys_register_each_once(
    database: Database, database_url: str, organiser: Staff, tmp_path: Path
) -> None:
    watch = Stopwatch()
    event_id = await new_event(database, organiser)
    env = {"INTERNET10_DATABASE_URL": database_url}
    first: dict[int, tuple[int, dict[str, Any]] | str] = {}
    timeout = aiohttp.ClientTimeout(total=30)
    async with (
        aiohttp.ClientSession(timeout=timeout, connector=one_request_per_connection()) as http,
        serving("doomed", tmp_path, env) as doomed,
        LossyProxy(int(doomed.base.rsplit(":", 1)[1])) as proxy,
    ):
        url = f"http://127.0.0.1:{proxy.port}/api/v1/events/{event_id}/registrations"
        acknowledged = asyncio.Event()
        queue = asyncio.Queue[int]()
        for i in range(PEOPLE):
            queue.put_nowait(i)

        async def client() -> None:
            while not queue.empty():
                i = queue.get_nowait()
                first[i] = await _post(http, url, i, lose=i in LOST)
                if sum(1 for r in first.values() if isinstance(r, tuple)) >= KILL_AFTER:
                    acknowledged.set()

        clients = [asyncio.ensure_future(client()) for _ in range(AT_ONCE)]
        await asyncio.wait_for(acknowledged.wait(), 120)

        async def lost_answers_committed() -> bool:
            stored = {r.email for r in await _registrations(database)}
            return {f"p{i}@example.org" for i in LOST} <= stored

        await eventually(lost_answers_committed, within=60)
        await doomed.kill()  # SIGKILL: no handler runs, open connections drop
        await asyncio.gather(*clients)
    assert len(first) == PEOPLE
    acked = {i: r for i, r in first.items() if isinstance(r, tuple)}
    assert {status for status, _b in acked.values()} == {201}
    failed = {i: r for i, r in first.items() if isinstance(r, str)}
    assert len(acked) >= KILL_AFTER
    assert failed  # the kill landed mid-burst: some requests had no answer
    stored_at_kill = {r.email for r in await _registrations(database)}
    committed_unacknowledged = sorted(i for i in failed if f"p{i}@example.org" in stored_at_kill)
    assert set(committed_unacknowledged) >= LOST  # their answers were lost after the commit
    assert {f"p{i}@example.org" for i in acked} <= stored_at_kill

    async with (
        aiohttp.ClientSession(timeout=timeout) as http,
        serving("restarted", tmp_path, env) as restarted,
    ):
        url = f"{restarted.base}/api/v1/events/{event_id}/registrations"
        again = await asyncio.gather(*(_post(http, url, i) for i in range(PEOPLE)))
    assert all(isinstance(r, tuple) and r[0] == 201 for r in again), again
    answers = {i: r[1] for i, r in enumerate(again) if isinstance(r, tuple)}
    for i, (_status, answer) in acked.items():
        assert answers[i] == answer  # the same registration, the same personal link

    people = await _registrations(database)
    assert Counter(r.email for r in people) == Counter(
        {f"p{i}@example.org": 1 for i in range(PEOPLE)}
    )
    assert {r.id for r in people} == {a["id"] for a in answers.values()}
    async with database.read() as db:
        payloads = await db.scalars(select(Job.payload).where(Job.kind == "registration.mail"))
        mails = Counter(p["registration_id"] for p in payloads.all())
        records = await db.scalar(select(func.count()).select_from(IdempotencyRecord))
    assert mails == Counter({r.id: 1 for r in people})  # one confirmation each, none orphaned
    assert records == PEOPLE
    figures(
        "app SIGKILL mid-burst, retried with the same keys",
        registrations=PEOPLE,
        clients_at_once=AT_ONCE,
        acknowledged_before_the_kill=len(acked),
        without_an_answer=len(failed),
        errors_seen=dict(Counter(failed.values())),
        committed_but_unacknowledged=len(committed_unacknowledged),
        retries=PEOPLE,
        retry_statuses=dict(Counter(r[0] for r in again if isinstance(r, tuple))),
        registrations_stored=len(people),
        duplicates=0,
        lost=PEOPLE - len(people),
        wall_seconds=watch.seconds,
    )
