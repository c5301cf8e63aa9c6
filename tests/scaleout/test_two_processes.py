"""Done-means of issue 10: two Hypercorn processes of the app on different loopback ports, one
PostgreSQL, one Redis (a private one: other sessions' frames on the shared one would name their
events). Registrations spread over both stay exact; a question approved through one reaches the
other's live subscribers; a process killed with SIGKILL in a burst loses no acknowledged
registration; idempotency keys hold across processes; a webhook redelivered to either process
is stored once."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select

from internet10.db import Database
from internet10.models import Job, Registration, WebhookDelivery
from tests.api.test_events import I10
from tests.conftest import Staff
from tests.live.processes import PrivateRedis
from tests.live.sse import open_stream
from tests.scaleout.procs import postgres_only, serving
from tests.webhooks.test_zoom_webhooks import WEBHOOK_SECRET, encode, envelope, signed

pytestmark = pytest.mark.e2e


@pytest.fixture
async def redis_server(tmp_path: Path) -> AsyncIterator[PrivateRedis]:
    postgres_only()
    server = PrivateRedis(tmp_path)
    await server.start()
    try:
        yield server
    finally:
        await server.kill()


@pytest.fixture
def env(database_url: str, redis_server: PrivateRedis) -> dict[str, str]:
    return {
        "INTERNET10_DATABASE_URL": database_url,
        "INTERNET10_REDIS_URL": redis_server.url,
        # heartbeats (and the database re-reads with them) rarely: only Redis carries changes
        "INTERNET10_LIVE_HEARTBEAT_SECONDS": "300",
    }


def _http(limit: int = 0) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=limit, force_close=True),
        timeout=aiohttp.ClientTimeout(total=120),
    )


async def _event(http: aiohttp.ClientSession, base: str, organiser: Staff, capacity: int) -> int:
    async with http.post(
        f"{base}/api/v1/events", json=I10 | {"capacity": capacity}, headers=organiser.headers
    ) as response:
        assert response.status == 201, await response.text()
        event_id = int((await response.json())["id"])
    async with http.post(
        f"{base}/api/v1/events/{event_id}/publish", headers=organiser.headers
    ) as response:
        assert response.status == 200, await response.text()
    return event_id


def _person(i: int, run: str = "") -> dict[str, str]:
    return {
        "name": f"Participant {i}",
        "email": f"p{i}{run}@example.org",
        "country": "BJ",
        "language": "fr",
    }


async def _registrations(database: Database, event_id: int) -> dict[int, tuple[str, str]]:
    async with database.read() as db:
        rows = await db.scalars(select(Registration).where(Registration.event_id == event_id))
        return {r.id: (r.email, r.status) for r in rows}


async def test_registrations_spread_over_two_processes_stay_exact(
    env: dict[str, str], database: Database, organiser: Staff, tmp_path: Path
) -> None:
    attempts, seats = 400, 60
    async with (
        serving("a", tmp_path, env) as a,
        serving("b", tmp_path, env) as b,
        _http() as http,
    ):
        event_id = await _event(http, a.base, organiser, seats)
        start = asyncio.Event()

        async def attempt(i: int) -> tuple[int, dict[str, Any]]:
            base = (a, b)[i % 2].base
            await start.wait()
            url = f"{base}/api/v1/events/{event_id}/registrations"
            async with http.post(url, json=_person(i)) as response:
                return response.status, await response.json()

        tasks = [asyncio.create_task(attempt(i)) for i in range(attempts)]
        await asyncio.sleep(0.2)
        start.set()
        results = await asyncio.gather(*tasks)

        # one Idempotency-Key sent 30 times at once, alternately to each process
        same = _person(10_000)

        async def keyed(i: int) -> tuple[int, bytes]:
            base = (a, b)[i % 2].base
            await start.wait()
            async with http.post(
                f"{base}/api/v1/events/{event_id}/registrations",
                json=same,
                headers={"Idempotency-Key": "one-key-two-processes"},
            ) as response:
                return response.status, await response.read()

        replays = await asyncio.gather(*(keyed(i) for i in range(30)))

    assert Counter(status for status, _ in results) == Counter({201: attempts})
    assert Counter(body["status"] for _, body in results) == Counter(
        {"confirmed": seats, "waitlisted": attempts - seats}
    )
    positions = sorted(b["waitlist_position"] for _, b in results if b["status"] == "waitlisted")
    assert positions == list(range(1, attempts - seats + 1))
    assert {status for status, _ in replays} == {201}
    assert len({raw for _, raw in replays}) == 1  # the same answer, byte for byte
    stored = await _registrations(database, event_id)
    assert Counter(status for _, status in stored.values()) == Counter(
        {"confirmed": seats, "waitlisted": attempts - seats + 1}
    )
    assert sum(1 for email, _ in stored.values() if email == same["email"]) == 1
    assert {b["id"]: b["status"] for _, b in results} == {
        rid: status for rid, (email, status) in stored.items() if email != same["email"]
    }


async def test_a_question_approved_on_one_process_reaches_subscribers_of_the_other(
    env: dict[str, str], organiser: Staff, tmp_path: Path
) -> None:
    async with (
        serving("a", tmp_path, env) as a,
        serving("b", tmp_path, env) as b,
        _http() as http,
    ):
        event_id = await _event(http, a.base, organiser, 150)
        async with http.get(f"{a.base}/api/v1/events/{event_id}/running-order") as response:
            slot_id = int((await response.json())["slots"][0]["id"])
        async with http.post(
            f"{a.base}/api/v1/slots/{slot_id}/qa", json={"open": True}, headers=organiser.headers
        ) as response:
            assert response.status == 200, await response.text()
        async with http.post(
            f"{a.base}/api/v1/events/{event_id}/registrations", json=_person(1)
        ) as response:
            attendee = {"Authorization": f"Bearer {(await response.json())['access_token']}"}
        async with http.post(
            f"{a.base}/api/v1/slots/{slot_id}/questions",
            json={"text": "Quelle feuille de route pour l'IPv6 ?", "language": "fr"},
            headers=attendee,
        ) as response:
            assert response.status == 201, await response.text()
            question_id = int((await response.json())["id"])

        async with open_stream(http, f"{b.base}/api/v1/events/{event_id}/live") as on_b:
            async with http.post(
                f"{a.base}/api/v1/questions/{question_id}/moderation",
                json={"action": "approve"},
                headers=organiser.headers,
            ) as response:
                assert response.status == 200, await response.text()
            received = []
            while not any(f.event == "question" for f in received):
                received.append(await on_b.message(within=5))

    [question] = [f for f in received if f.event == "question"]
    assert question.data["id"] == question_id
    assert question.data["text"] == "Quelle feuille de route pour l'IPv6 ?"
    assert question.data["status"] == "approved"


async def test_a_process_killed_in_a_burst_loses_no_acknowledged_registration(
    env: dict[str, str], database: Database, organiser: Staff, tmp_path: Path
) -> None:
    attempts, seats, kill_after = 600, 100, 150
    async with (
        serving("a", tmp_path, env) as a,
        serving("b", tmp_path, env) as b,
        _http(limit=100) as http,
    ):
        event_id = await _event(http, a.base, organiser, seats)
        answered = 0
        killed = asyncio.Event()

        async def attempt(i: int) -> tuple[int, dict[str, Any] | None]:
            nonlocal answered
            base = (a, b)[i % 2].base
            try:
                async with http.post(
                    f"{base}/api/v1/events/{event_id}/registrations", json=_person(i)
                ) as response:
                    body = await response.json() if response.status == 201 else None
                    status = response.status
            except (aiohttp.ClientError, OSError, TimeoutError):
                return -1, None
            answered += 1
            if answered == kill_after:
                killed.set()
            return status, body

        async def killer() -> None:
            await killed.wait()
            await b.kill()

        kill = asyncio.create_task(killer())
        results = await asyncio.gather(*(attempt(i) for i in range(attempts)))
        await kill
        # A goes on serving
        async with http.post(
            f"{a.base}/api/v1/events/{event_id}/registrations", json=_person(99_999)
        ) as response:
            assert response.status == 201

    acknowledged = {body["id"]: body for status, body in results if status == 201 and body}
    failed = sum(1 for status, _ in results if status == -1)
    assert b.process.returncode == -9
    assert failed > 0  # the kill did cut requests short
    assert {status for status, _ in results} <= {201, -1}
    stored = await _registrations(database, event_id)
    for rid, body in acknowledged.items():  # every 201 the client got is in the database
        assert rid in stored, f"acknowledged registration {rid} is missing"
        assert stored[rid][1] == body["status"]
    counts = Counter(status for _, status in stored.values())
    assert counts["confirmed"] == min(seats, len(stored))
    assert counts["confirmed"] + counts["waitlisted"] == len(stored)


async def test_a_webhook_redelivered_to_either_process_is_stored_and_processed_once(
    env: dict[str, str], database: Database, tmp_path: Path
) -> None:
    joined = envelope(
        "meeting.participant_joined",
        participant={
            "user_id": "16778240",
            "user_name": "Aïcha Zinsou",
            "participant_uuid": "p-aicha",
            "join_time": "2026-11-28T09:01:00Z",
        },
    )
    body = encode(joined)
    env = env | {"INTERNET10_ZOOM_WEBHOOK_SECRET": WEBHOOK_SECRET}
    async with (
        serving("a", tmp_path, env) as a,
        serving("b", tmp_path, env) as b,
        _http() as http,
    ):
        headers = signed(body, dt.datetime.now(dt.UTC))

        async def deliver(i: int) -> int:
            base = (a, b)[i % 2].base
            async with http.post(f"{base}/webhooks/zoom", data=body, headers=headers) as response:
                return response.status

        statuses = await asyncio.gather(*(deliver(i) for i in range(10)))
    assert statuses == [200] * 10  # Zoom is told yes each time, or it retries
    async with database.read() as db:
        stored = await db.scalar(select(func.count()).select_from(WebhookDelivery))
        jobs = await db.scalar(select(func.count()).where(Job.kind == "zoom.webhook"))
    assert (stored, jobs) == (1, 1)
