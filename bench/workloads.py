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

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, Protocol, TypeVar

import aiohttp

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
