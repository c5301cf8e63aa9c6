"""``GET /metrics``: the series an operator graphs and alerts on, with exact values where the
test controls them, and who may scrape."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from quart import Quart
from quart.typing import TestClientProtocol as Client
from sqlalchemy import func, select

from internet10.app import create_app
from internet10.db import Database
from internet10.models import Job, JobStatus
from internet10.services.outbox import enqueue
from internet10.settings import Settings
from internet10.state import Dependencies
from tests.api.test_events import I10
from tests.conftest import Staff

pytestmark = pytest.mark.integration

LOOPBACK: dict[str, Any] = {"client": ("127.0.0.1", 40000)}
PUBLIC: dict[str, Any] = {"client": ("203.0.113.7", 40000)}  # TEST-NET-3: a public address
SERIES = (
    "internet10_http_requests",
    "internet10_http_request_duration_seconds",
    "internet10_live_subscribers",
    "internet10_registrations",
    "internet10_job_queue_depth",
    "internet10_jobs_failed",
    "internet10_job_oldest_due_seconds",
    "internet10_webhook_lag_seconds",
    "internet10_webhooks_unprocessed",
)

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> tuple[set[str], Samples]:
    families = list(text_string_to_metric_families(text))
    samples: Samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value for f in families for s in f.samples
    }
    return {f.name for f in families}, samples


async def scrape(client: Client, **kwargs: Any) -> tuple[set[str], Samples]:
    response = await client.get("/metrics", scope_base=kwargs.pop("scope_base", LOOPBACK), **kwargs)
    assert response.status_code == 200, await response.get_data(as_text=True)
    assert response.content_type.startswith("text/plain; version=0.0.4")
    return parse(await response.get_data(as_text=True))


async def test_metrics_hold_every_listed_series_with_exact_values(
    client: Client, organiser: Staff, database: Database, now: dt.datetime
) -> None:
    created = await client.post("/api/v1/events", json=I10, headers=organiser.headers)
    event_id = (await created.get_json())["id"]
    published = await client.post(f"/api/v1/events/{event_id}/publish", headers=organiser.headers)
    assert published.status_code == 200
    _, before = await scrape(client)
    registered = await client.post(
        f"/api/v1/events/{event_id}/registrations",
        json={"name": "Afi", "email": "afi@example.org", "country": "TG", "language": "fr"},
    )
    assert registered.status_code == 201
    async with database.write() as db:
        failed = await enqueue(db, "mail.send", {}, now=now)
        failed.status = JobStatus.FAILED.value
        await enqueue(db, "zoom.webhook", {"delivery_id": 1}, now=now - dt.timedelta(seconds=42))
        await enqueue(db, "zoom.webhook", {"delivery_id": 2}, now=now - dt.timedelta(seconds=5))
        later = await enqueue(db, "registration.reminder", {}, now=now)
        later.run_after = now + dt.timedelta(days=1)

    names, after = await scrape(client)

    assert set(SERIES) <= names
    route = "/api/v1/events/<int:event_id>/registrations"
    key = (
        "internet10_http_requests_total",
        (("method", "POST"), ("route", route), ("status", "201")),
    )
    assert after[key] - before.get(key, 0) == 1
    confirmed = ("internet10_registrations_total", (("status", "confirmed"),))
    assert after[confirmed] - before.get(confirmed, 0) == 1
    count = (
        "internet10_http_request_duration_seconds_count",
        (("method", "POST"), ("route", route)),
    )
    assert after[count] - before.get(count, 0) == 1
    assert after[("internet10_live_subscribers", ())] == 0
    assert after[("internet10_jobs_failed", (("kind", "mail.send"),))] == 1
    assert after[("internet10_webhook_lag_seconds", ())] == 42
    assert after[("internet10_webhooks_unprocessed", ())] == 2
    assert after[("internet10_job_oldest_due_seconds", ())] == 42
    depth = {
        labels: value
        for (name, labels), value in after.items()
        if name == "internet10_job_queue_depth"
    }
    # the registration's own jobs (its mail, two reminders, ...) plus ours
    assert depth[(("kind", "zoom.webhook"), ("state", "due"))] == 2
    assert depth[(("kind", "registration.reminder"), ("state", "scheduled"))] >= 1
    async with database.read() as db:
        due_mail = await db.scalar(
            select(func.count()).where(
                Job.kind == "registration.mail", Job.status == JobStatus.PENDING.value
            )
        )
    assert depth[(("kind", "registration.mail"), ("state", "due"))] == due_mail == 1


async def test_the_route_template_is_the_label_never_the_path(client: Client) -> None:
    await client.get("/api/v1/events/999999")
    await client.get("/no/such/page/with-a-secret-0123456789")
    _, samples = await scrape(client)
    routes = {dict(labels).get("route") for _, labels in samples}
    assert {"/api/v1/events/<int:event_id>", "<unmatched>"} <= routes
    label_values = {value for _, labels in samples for _, value in labels}
    assert not any("with-a-secret" in v or "999999" in v for v in label_values)


async def test_without_a_token_only_direct_private_peers_may_scrape(client: Client) -> None:
    assert (await client.get("/metrics", scope_base=PUBLIC)).status_code == 403
    private = {"client": ("10.1.2.3", 40000)}
    assert (await client.get("/metrics", scope_base=private)).status_code == 200
    relayed = await client.get(
        "/metrics", scope_base=private, headers={"X-Forwarded-For": "198.51.100.4"}
    )
    assert relayed.status_code == 403
    assert "INTERNET10_METRICS_TOKEN" in await relayed.get_data(as_text=True)


@pytest.fixture
async def token_app(
    settings: Settings, database: Database, now: dt.datetime
) -> AsyncIterator[Quart]:
    guarded = settings.model_copy(update={"metrics_token": "scrape-" + "x" * 32})
    app = create_app(guarded, dependencies=Dependencies(database=database, clock=lambda: now))
    async with app.test_app():
        yield app


async def test_with_a_token_the_token_is_required_from_anywhere(token_app: Quart) -> None:
    client = token_app.test_client()
    assert (await client.get("/metrics", scope_base=LOOPBACK)).status_code == 403
    wrong = {"Authorization": "Bearer scrape-wrong"}
    assert (await client.get("/metrics", scope_base=PUBLIC, headers=wrong)).status_code == 403
    right = {"Authorization": "Bearer scrape-" + "x" * 32}
    response = await client.get("/metrics", scope_base=PUBLIC, headers=right)
    assert response.status_code == 200
    assert "internet10_http_requests_total" in await response.get_data(as_text=True)


async def test_a_database_that_does_not_answer_is_a_series_not_an_error(
    client: Client, database: Database
) -> None:
    await database.dispose()
    original = database.read

    def broken() -> Any:
        raise OSError("database unreachable")

    database.read = broken  # type: ignore[method-assign]
    try:
        names, samples = await scrape(client)
    finally:
        database.read = original  # type: ignore[method-assign]
    assert samples[("internet10_metrics_database_up", ())] == 0
    assert "internet10_http_requests" in names
