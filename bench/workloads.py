"""Workloads: what is measured on the app, and the matching request on the raw ASGI baseline.

A workload is anything that satisfies :class:`Workload`. The runner (:mod:`bench.runner`) does,
per database backend (SQLite; PostgreSQL too when ``uses_database`` and a URL is given)::

    plan = await workload.setup(app)            # once: create data through the app's API
    for repetition in range(runs):              # interleaved: baseline, app, baseline, app, ...
        for target in (baseline, app):
            measurement = await workload.run(target, client, settings)
    # then reports the median of each figure over the repetitions, and fails on any problem

Most workloads are "keep N connections busy with one request for D seconds": subclass
:class:`HttpLoadWorkload`, implement ``setup`` to return a :class:`Plan` (the app's request and the
baseline's), and register the class with :func:`register`. Workloads of another shape (a fixed
burst of registrations against a capacity, webhook ingestion, SSE fan-out) implement ``run``
themselves: they get the target's URL, the request from their plan, the :class:`AppContext` (API
token, database URL) to reset data between repetitions, and the load client; they return a
:class:`Measurement` whose ``problems`` fail the run and whose ``extra`` figures are reported.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, Protocol, TypeVar

import aiohttp

from bench import webhook
from bench.burst import BurstResult, fire, on_cpu
from bench.client import LoadClient, LoadResult, LoadSpec
from bench.servers import BenchError

# --- what workloads are given ------------------------------------------------------------------


@dataclass(frozen=True)
class AppContext:
    """The app under test, as a workload's ``setup`` and ``run`` see it."""

    base_url: str
    backend: str  # "sqlite" or "postgresql"
    database_url: str
    organiser_token: str

    @property
    def auth_headers(self) -> tuple[tuple[str, str], ...]:
        return (("Authorization", f"Bearer {self.organiser_token}"),)

    async def api(
        self,
        method: str,
        path: str,
        payload: Mapping[str, Any] | None = None,
        *,
        authenticated: bool = True,
        expected: tuple[int, ...] = (200, 201),
    ) -> Any:
        """One JSON API call for setup; raise :class:`BenchError` on an unexpected status."""
        headers = dict(self.auth_headers) if authenticated else {}
        timeout = aiohttp.ClientTimeout(total=30)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.request(method, self.base_url + path, json=payload, headers=headers) as resp,
        ):
            body = await resp.text()
            if resp.status not in expected:
                raise BenchError(f"{method} {path} answered {resp.status}: {body[:500]}")
            return await resp.json(content_type=None) if body else None


@dataclass(frozen=True)
class RunSettings:
    duration_s: float = 10.0
    connections: int = 64
    warmup_s: float = 2.0
    runs: int = 3


@dataclass(frozen=True)
class HttpRequest:
    path: str
    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    expected_status: int = 200


@dataclass(frozen=True)
class Plan:
    """What ``setup`` decided: the request for the app and its counterpart on the baseline."""

    app: HttpRequest
    baseline: HttpRequest
    data: Mapping[str, Any] = field(default_factory=dict)  # anything ``run`` needs later


class TargetKind(StrEnum):
    BASELINE = "baseline"
    APP = "app"


@dataclass(frozen=True)
class Target:
    kind: TargetKind
    base_url: str
    request: HttpRequest
    plan: Plan
    app: AppContext | None  # None for the baseline

    def load_spec(self, settings: RunSettings, duration_s: float | None = None) -> LoadSpec:
        return LoadSpec(
            url=self.base_url + self.request.path,
            method=self.request.method,
            headers=self.request.headers,
            body=self.request.body,
            expected_status=self.request.expected_status,
            connections=settings.connections,
            duration_s=settings.duration_s if duration_s is None else duration_s,
        )


@dataclass(frozen=True)
class Measurement:
    result: LoadResult
    problems: tuple[str, ...] = ()
    extra: Mapping[str, float] = field(default_factory=dict)  # workload-specific figures


class Workload(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def description(self) -> str: ...

    @property
    def uses_database(self) -> bool:
        """Measured on every backend when true, once (on SQLite) when false."""

    async def setup(self, app: AppContext) -> Plan: ...

    async def run(
        self, target: Target, client: LoadClient, settings: RunSettings
    ) -> Measurement: ...


# --- the registry ------------------------------------------------------------------------------

WORKLOADS: dict[str, Callable[[], Workload]] = {}

W = TypeVar("W", bound=Callable[[], Workload])


def register(factory: W) -> W:
    """Class decorator: make a workload available to ``python -m bench --only NAME``."""
    name = factory().name
    if name in WORKLOADS:
        raise ValueError(f"workload {name!r} registered twice")
    WORKLOADS[name] = factory
    return factory


def load_problems(label: str, result: LoadResult) -> list[str]:
    problems = []
    if result.unexpected_status:
        seen = ", ".join(f"{status}: {n}" for status, n in result.statuses.items())
        problems.append(
            f"{label}: {result.unexpected_status} responses with another status ({seen})"
        )
    if result.socket_errors:
        problems.append(f"{label}: {result.socket_errors} connection errors or timeouts")
    if result.requests == 0:
        problems.append(f"{label}: no request completed")
    return problems


# --- the common shape ----------------------------------------------------------------------------


class HttpLoadWorkload:
    """Warm up, then keep ``connections`` busy with the target's request for ``duration_s``."""

    name: ClassVar[str]
    description: ClassVar[str]
    uses_database: ClassVar[bool] = True

    async def setup(self, app: AppContext) -> Plan:
        raise NotImplementedError

    async def run(self, target: Target, client: LoadClient, settings: RunSettings) -> Measurement:
        problems: list[str] = []
        if settings.warmup_s > 0:
            warm = await client.run(target.load_spec(settings, settings.warmup_s))
            problems += load_problems(f"{target.kind} warm-up", warm)
        result = await client.run(target.load_spec(settings))
        problems += load_problems(str(target.kind), result)
        return Measurement(result, tuple(problems))


# --- fixtures shared by workloads ----------------------------------------------------------------

BENCH_EVENT: Mapping[str, Any] = {
    "kind": "internet10",
    "title": "Bench",
    "starts_at": "2026-12-19T12:00:00+01:00",
    "duration_minutes": 270,
    "timezone": "Africa/Porto-Novo",
    "capacity": 150,
    "participant_target": 150,
}


async def create_published_event(app: AppContext, **changes: Any) -> int:
    """Create an event through the API (``BENCH_EVENT`` with ``changes``), publish it, return id."""
    created = await app.api("POST", "/api/v1/events", {**BENCH_EVENT, **changes}, expected=(201,))
    event_id = int(created["id"])
    await app.api("POST", f"/api/v1/events/{event_id}/publish", expected=(200,))
    return event_id


# --- workloads ------------------------------------------------------------------------------------


@register
class EventGet(HttpLoadWorkload):
    """Anonymous ``GET /api/v1/events/{id}`` of a published event, against ``GET /``."""

    name = "event_get"
    description = "public read of one published event (JSON API, one indexed SELECT)"
    uses_database = True

    async def setup(self, app: AppContext) -> Plan:
        event_id = await create_published_event(app)
        path = f"/api/v1/events/{event_id}"
        shown = await app.api("GET", path, authenticated=False, expected=(200,))
        if shown.get("id") != event_id or shown.get("status") != "published":
            raise BenchError(f"GET {path} does not show the published event: {shown}")
        return Plan(app=HttpRequest(path), baseline=HttpRequest("/"), data={"event_id": event_id})


@register
class Healthz(HttpLoadWorkload):
    """``GET /healthz`` (no database), against ``GET /``: the app's floor cost per request."""

    name = "healthz"
    description = "liveness probe: Quart, the app's middleware and JSON, no database"
    uses_database = False

    async def setup(self, app: AppContext) -> Plan:
        await app.api("GET", "/healthz", authenticated=False, expected=(200,))
        return Plan(app=HttpRequest("/healthz"), baseline=HttpRequest("/"))


@register
class RegistrationBurst:
    """10,000 registrations for 150 places at concurrency 200, against ``POST /?status=201``.

    Each app run registers on a fresh event, then checks the outcome through the organiser's
    summary: exactly 150 confirmed, the rest waitlisted, no duplicate, no error."""

    name = "registration_burst"
    description = "10,000 distinct registrations for 150 places, 200 at a time (exact counts)"
    uses_database = True
    attempts = 10_000
    places = 150
    concurrency = 200

    async def setup(self, app: AppContext) -> Plan:
        return Plan(
            app=HttpRequest("/api/v1/events/{event}/registrations", "POST", expected_status=201),
            baseline=HttpRequest("/?status=201", "POST", expected_status=201),
        )

    def _bodies(self, run_id: str) -> list[bytes]:
        return [
            json.dumps(
                {
                    "name": f"Participant {i}",
                    "email": f"p{i}.{run_id}@bench.example",
                    "country": "BJ",
                    "language": "fr",
                }
            ).encode()
            for i in range(self.attempts)
        ]

    async def run(self, target: Target, client: LoadClient, settings: RunSettings) -> Measurement:
        del client, settings  # every request differs: the burst client sends them
        run_id = secrets.token_hex(4)
        path = target.request.path
        event_id = None
        if target.app is not None:
            event_id = await create_published_event(target.app, capacity=self.places)
            path = path.format(event=event_id)
        with on_cpu(1):
            burst = await fire(
                target.base_url + path, self._bodies(run_id), concurrency=self.concurrency
            )
        problems = []
        unexpected = sum(n for status, n in burst.statuses.items() if status != 201)
        if unexpected or burst.socket_errors:
            problems.append(
                f"{target.kind}: {unexpected} unexpected statuses {dict(burst.statuses)}, "
                f"{burst.socket_errors} connection errors"
            )
        extra: dict[str, float] = {}
        if target.app is not None and event_id is not None:
            summary = await target.app.api(
                "GET", f"/api/v1/events/{event_id}/registrations/summary", expected=(200,)
            )
            counts = (summary["confirmed"], summary["waitlisted"], summary["cancelled"])
            expected = (self.places, self.attempts - self.places, 0)
            if counts != expected:
                problems.append(f"app: counts {counts}, expected {expected}")
            extra = {"confirmed": float(counts[0]), "waitlisted": float(counts[1])}
        result = LoadResult(
            requests=burst.requests,
            duration_s=burst.duration_s,
            rps=burst.rps,
            p50_ms=burst.percentile(0.50),
            p99_ms=burst.percentile(0.99),
            unexpected_status=unexpected,
            socket_errors=burst.socket_errors,
            statuses=dict(burst.statuses),
        )
        return Measurement(result, tuple(problems), extra)


@register
class WebhookIngest:
    """Signed Zoom deliveries (``meeting.participant_joined`` / ``_left``, every body distinct)
    posted 32 at a time to ``POST /webhooks/zoom``, against the baseline's ``POST /webhooks/zoom``
    (same signature and time-window check, nothing stored).

    Each run signs its bodies with the current time just before sending them, first probes that
    the target refuses a tampered body (401), and on the app counts the stored deliveries and
    their jobs before and after: both must grow by exactly the number of 200 answers."""

    name = "webhook_ingest"
    description = "signed Zoom joined/left deliveries, 32 at a time (verify, store, 200)"
    uses_database = True
    events = 10_000
    warmup_events = 500
    concurrency = 32

    async def setup(self, app: AppContext) -> Plan:
        del app  # nothing to create: deliveries need no event, meeting or registrant
        request = HttpRequest(webhook.PATH, "POST", expected_status=200)
        return Plan(app=request, baseline=request)

    async def run(self, target: Target, client: LoadClient, settings: RunSettings) -> Measurement:
        del client  # every request differs (body and signature): the burst client sends them
        url = target.base_url + target.request.path
        run_id = secrets.token_hex(4)
        problems: list[str] = []
        before = await _webhook_rows(target.app.database_url) if target.app else None
        problems += await _probe_tampered(str(target.kind), url)
        acknowledged = 0
        if settings.warmup_s > 0 and self.warmup_events:
            warm = await self._burst(url, webhook.bodies(run_id, 0, self.warmup_events))
            acknowledged += warm.statuses.get(200, 0)
            problems += _burst_problems(f"{target.kind} warm-up", warm)
        burst = await self._burst(url, webhook.bodies(run_id, self.warmup_events, self.events))
        acknowledged += burst.statuses.get(200, 0)
        problems += _burst_problems(str(target.kind), burst)
        ok = burst.statuses.get(200, 0)
        extra: dict[str, float] = {"acknowledged": float(ok), "not_200": float(burst.requests - ok)}
        if target.app is not None and before is not None:
            after = await _webhook_rows(target.app.database_url)
            stored, jobs = after[0] - before[0], after[1] - before[1]
            if stored != acknowledged or jobs != acknowledged:
                problems.append(
                    f"app: {acknowledged} deliveries acknowledged (warm-up included), but "
                    f"{stored} stored and {jobs} zoom.webhook jobs enqueued"
                )
            extra["stored"] = float(stored)
        result = LoadResult(
            requests=burst.requests,
            duration_s=burst.duration_s,
            rps=ok / burst.duration_s if burst.duration_s else 0.0,  # acknowledged events/s
            p50_ms=burst.percentile(0.50),
            p99_ms=burst.percentile(0.99),
            unexpected_status=burst.requests - ok,
            socket_errors=burst.socket_errors,
            statuses=dict(burst.statuses),
        )
        return Measurement(result, tuple(problems), extra)

    async def _burst(self, url: str, bodies: list[bytes]) -> BurstResult:
        headers = webhook.sign_all(bodies)  # now: the app refuses timestamps 5 minutes old
        with on_cpu(1):
            return await fire(url, bodies, concurrency=self.concurrency, request_headers=headers)


def _burst_problems(label: str, burst: BurstResult) -> list[str]:
    problems = []
    not_ok = {status: n for status, n in burst.statuses.items() if status != 200}
    if not_ok or burst.socket_errors:
        stale = " (timestamps older than 5 minutes?)" if 401 in not_ok else ""
        problems.append(
            f"{label}: {sum(not_ok.values())} answers other than 200 {not_ok}{stale}, "
            f"{burst.socket_errors} connection errors, after {burst.duration_s:.0f} s"
        )
    if burst.requests == 0:
        problems.append(f"{label}: no request completed")
    return problems


async def _probe_tampered(label: str, url: str) -> list[str]:
    """A correctly signed body changed after signing must be refused: the check is real."""
    body = webhook.bodies(f"probe{secrets.token_hex(4)}", 0, 1)[0]
    headers = webhook.sign_all([body])[0]
    tampered = body.replace(b"participant_joined", b"participant_left")
    timeout = aiohttp.ClientTimeout(total=30)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.post(url, data=tampered, headers=headers) as response,
    ):
        await response.read()
        if response.status != 401:
            return [f"{label}: a tampered body answered {response.status}, expected 401"]
    return []


async def _webhook_rows(database_url: str) -> tuple[int, int]:
    """(stored webhook deliveries, ``zoom.webhook`` jobs) in the app's database."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            deliveries = await conn.scalar(text("SELECT count(*) FROM webhook_deliveries"))
            jobs = await conn.scalar(text("SELECT count(*) FROM jobs WHERE kind = 'zoom.webhook'"))
    finally:
        await engine.dispose()
    return int(deliveries or 0), int(jobs or 0)


PLAN_CHAPTERS = (
    ("BJ", "Africa/Porto-Novo"),
    ("SN", "Africa/Dakar"),
    ("KE", "Africa/Nairobi"),
    ("MU", "Indian/Mauritius"),
    ("IN", "Asia/Kolkata"),
    ("NP", "Asia/Kathmandu"),
    ("JP", "Asia/Tokyo"),
    ("BR", "America/Sao_Paulo"),
    ("NL", "America/St_Johns"),
    ("US", "America/New_York"),
)


@register
class Planner(HttpLoadWorkload):
    """``POST /api/v1/events/{id}/plan`` for 10 chapters over a whole day of 15-minute
    candidates (96 exact assignments), against ``POST /``."""

    name = "planner"
    description = "fair planning: 10 chapters, 96 candidate starts, exact assignment each"
    uses_database = True

    async def setup(self, app: AppContext) -> Plan:
        await _ensure_chapters(app.database_url)
        event_id = await create_published_event(app)
        path = f"/api/v1/events/{event_id}/plan"
        body = json.dumps({"date": "2026-12-19", "top": 3}).encode()
        answer = await app.api("POST", path, {"date": "2026-12-19", "top": 3}, expected=(200,))
        if len(answer.get("proposals", [])) != 3:
            raise BenchError(f"POST {path} did not return 3 proposals: {answer}")
        headers = (*app.auth_headers, ("Content-Type", "application/json"))
        return Plan(
            app=HttpRequest(path, "POST", headers, body),
            baseline=HttpRequest("/", "POST", (("Content-Type", "application/json"),), body),
        )


async def _ensure_chapters(database_url: str) -> None:
    """The planner plans the chapters in the database; the bench adds ten real ones."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(database_url)
    async with engine.begin() as conn:
        for code, zone in PLAN_CHAPTERS:
            exists = await conn.scalar(text("SELECT 1 FROM chapters WHERE code = :c"), {"c": code})
            if not exists:
                await conn.execute(
                    text(
                        "INSERT INTO chapters (code, name, country, timezone, languages, "
                        "hours_start, hours_end, created_at) VALUES (:c, :n, :c, :z, '[]', "
                        "'08:00', '22:00', CURRENT_TIMESTAMP)"
                    ),
                    {"c": code, "n": f"ISOC {code}", "z": zone},
                )
    await engine.dispose()
