"""One JSON line per request, a request id that follows the request into its jobs and into the
worker's lines about them."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from quart.typing import TestClientProtocol as Client
from sqlalchemy import select

from internet10 import logs
from internet10.db import Database
from internet10.jobs.worker import Worker
from internet10.models import Job
from internet10.services.outbox import enqueue
from tests.api.test_events import I10
from tests.conftest import Staff

pytestmark = pytest.mark.integration

AFI = {"name": "Afi", "email": "afi@example.org", "country": "TG", "language": "fr"}


class Lines:
    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    def of(self, logger: str) -> list[dict[str, Any]]:
        parsed = [json.loads(line) for line in self.stream.getvalue().splitlines()]
        return [line for line in parsed if line["logger"] == logger]


@pytest.fixture
def log_lines() -> Iterator[Lines]:
    """The service's JSON lines, as ``internet10 serve`` writes them (the same formatter)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield Lines(stream)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


async def _published(client: Client, organiser: Staff) -> int:
    created = await client.post("/api/v1/events", json=I10, headers=organiser.headers)
    event_id = int((await created.get_json())["id"])
    await client.post(f"/api/v1/events/{event_id}/publish", headers=organiser.headers)
    return event_id


async def test_a_request_is_one_json_line_naming_its_route_never_its_path(
    client: Client, organiser: Staff, log_lines: Lines
) -> None:
    event_id = await _published(client, organiser)
    registered = await client.post(f"/api/v1/events/{event_id}/registrations", json=AFI)
    token = (await registered.get_json())["access_token"]
    page = await client.get(f"/me/{token}")
    assert page.status_code == 200

    lines = log_lines.of("internet10.access")
    personal = [line for line in lines if line["route"] == "/me/<token>"]
    assert len(personal) == 1
    line = personal[0]
    assert set(line) == {
        "ts",
        "level",
        "logger",
        "message",
        "request_id",
        "method",
        "route",
        "status",
        "duration_ms",
    }
    assert (line["method"], line["status"], line["level"]) == ("GET", 200, "info")
    assert line["request_id"] == page.headers["X-Request-ID"]
    assert 0 < line["duration_ms"] < 60_000
    assert token not in log_lines.stream.getvalue()


async def test_the_jobs_a_request_enqueues_carry_its_id_and_the_worker_logs_it(
    client: Client, organiser: Staff, database: Database, now: dt.datetime, log_lines: Lines
) -> None:
    event_id = await _published(client, organiser)
    given = "lb-7f3a9c2e-0001"
    registered = await client.post(
        f"/api/v1/events/{event_id}/registrations", json=AFI, headers={"X-Request-ID": given}
    )
    assert registered.status_code == 201
    assert registered.headers["X-Request-ID"] == given
    async with database.read() as db:
        jobs = (await db.scalars(select(Job).order_by(Job.id))).all()
    mine = [j for j in jobs if j.payload.get("registration_id") is not None]
    assert mine  # the confirmation mail and the reminders
    assert {j.request_id for j in mine} == {given}

    ran: list[str | None] = []

    async def handler(payload: dict[str, Any]) -> None:
        async with database.write() as db:  # a job that enqueues: the id goes on
            await enqueue(db, "follow.up", {}, now=now)
        ran.append(payload["n"])

    async with database.write() as db:
        job = await enqueue(db, "traced", {"n": "one"}, now=now, request_id="req-abcdef12")
        job_id = job.id
    worker = Worker(database, {"traced": handler}, worker_id="w1", clock=lambda: now)
    await worker.run_pending()
    async with database.read() as db:
        follow = await db.scalar(select(Job).where(Job.kind == "follow.up"))
    assert follow is not None
    assert follow.request_id == "req-abcdef12"
    [line] = [j for j in log_lines.of("internet10.jobs.worker") if j.get("job_id") == job_id]
    assert line["request_id"] == "req-abcdef12"
    assert (line["kind"], line["outcome"], line["attempt"], line["worker"]) == (
        "traced",
        "done",
        1,
        "w1",
    )


@pytest.mark.parametrize("sent", ["short", "has spaces in it", "x" * 65, 'quote"d-1234567'])
async def test_an_implausible_incoming_id_is_replaced(client: Client, sent: str) -> None:
    response = await client.get("/healthz", headers={"X-Request-ID": sent})
    rid = response.headers["X-Request-ID"]
    assert rid != sent
    assert len(rid) == 24
    assert all(c in "0123456789abcdef" for c in rid)


async def test_concurrent_requests_keep_their_own_ids(client: Client) -> None:
    ids = [f"concurrent-{i:04d}" for i in range(20)]
    responses = await asyncio.gather(
        *(client.get("/healthz", headers={"X-Request-ID": rid}) for rid in ids)
    )
    assert [r.headers["X-Request-ID"] for r in responses] == ids
