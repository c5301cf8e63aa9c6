"""Prometheus metrics, all named ``internet10_*``.

Counted in the serving processes: requests (method, route template, status), their latency,
live subscribers and registrations. Read from the database when ``/metrics`` is scraped (one
grouped query on the jobs table, which its ``(status, run_after)`` index serves): the job queue,
failed jobs and the webhook lag. Those describe the whole deployment, whichever process answers.

``internet10 serve --workers N`` runs N processes behind one port: a scrape reaches one of them.
They share their figures through prometheus-client's multiprocess mode: the CLI gives the
workers a private ``PROMETHEUS_MULTIPROC_DIR`` (one per host, emptied at start), each process
writes its counters there, and whichever answers the scrape adds them all up. The mode is chosen
when prometheus-client is first imported, from that variable, which is why the CLI sets it
before it starts the workers. Each host is a scrape target of its own.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import glob
import os
import re
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from internet10.models import Job, JobStatus

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
WEBHOOK_JOB = "zoom.webhook"  # services.attendance.JOB_KIND, named here to avoid the import
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

REQUESTS = Counter(
    "internet10_http_requests",
    "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "internet10_http_request_duration_seconds",
    "Time from the request's arrival in the app to its response (for a live stream: to the "
    "start of the stream).",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
LIVE_SUBSCRIBERS = Gauge(
    "internet10_live_subscribers",
    "Open live (Server-Sent Events) streams, summed over this host's serving processes.",
    multiprocess_mode="livesum",
)
REGISTRATIONS = Counter(
    "internet10_registrations",
    "Registrations committed, by the status they got (confirmed or waitlisted).",
    ["status"],
)


def multiprocess_dir() -> str | None:
    path = os.environ.get(MULTIPROC_ENV)
    return path if path and os.path.isdir(path) else None


def prepare_multiprocess_dir(path: str) -> None:
    """Empty ``path`` (made if missing): figures of processes of an earlier run must not count."""
    os.makedirs(path, exist_ok=True)
    for stale in glob.glob(os.path.join(path, "*.db")):
        with contextlib.suppress(FileNotFoundError):
            os.remove(stale)


_PID = re.compile(r"_(\d+)\.db$")


def _forget_dead_processes(path: str) -> None:
    """Live gauges of processes that are gone no longer count (a worker Hypercorn restarted)."""
    for name in glob.glob(os.path.join(path, "gauge_live*_*.db")):
        match = _PID.search(name)
        if match is None:
            continue
        pid = int(match.group(1))
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            mark_process_dead(pid, path)  # type: ignore[no-untyped-call]
        except PermissionError:
            pass  # alive, someone else's


class _Families:
    """A collector that returns families computed beforehand (the database's, read async)."""

    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return iter(self._families)


def exposition(database_families: list[Metric]) -> bytes:
    """The text a scrape gets: this process's (or this host's) figures, then the database's."""
    path = multiprocess_dir()
    if path is not None:
        _forget_dead_processes(path)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path)  # type: ignore[no-untyped-call]
        own = generate_latest(registry)
    else:
        own = generate_latest(REGISTRY)
    extra = CollectorRegistry()
    extra.register(_Families(database_families))
    return own + generate_latest(extra)


async def database_families(db: AsyncSession, *, now: dt.datetime) -> list[Metric]:
    """Queue depth, failures and webhook lag, from one grouped query on unfinished jobs."""
    due = case((Job.run_after <= now, True), else_=False)
    rows = (
        await db.execute(
            select(
                Job.kind,
                Job.status,
                due,
                func.count(),
                func.min(Job.run_after),
                func.min(Job.created_at),
            )
            .where(
                Job.status.in_(
                    [JobStatus.PENDING.value, JobStatus.RUNNING.value, JobStatus.FAILED.value]
                )
            )
            .group_by(Job.kind, Job.status, due)
        )
    ).all()
    depth = GaugeMetricFamily(
        "internet10_job_queue_depth",
        "Jobs waiting or running, by kind and state: due (may run now), scheduled (later), "
        "running (claimed by a worker).",
        labels=["kind", "state"],
    )
    failed = GaugeMetricFamily(
        "internet10_jobs_failed",
        "Jobs that gave up (listed on the failed-jobs page until retried), by kind.",
        labels=["kind"],
    )
    oldest = GaugeMetricFamily(
        "internet10_job_oldest_due_seconds",
        "How long the oldest due job has been waiting (0 when none is).",
    )
    lag = GaugeMetricFamily(
        "internet10_webhook_lag_seconds",
        "Age of the oldest Zoom webhook received and not yet processed (0 when none is): the "
        "time from receipt to processing, as it stands.",
    )
    backlog = GaugeMetricFamily(
        "internet10_webhooks_unprocessed",
        "Zoom webhooks received and not yet processed.",
    )
    counts: dict[tuple[str, str], int] = {}
    failures: dict[str, int] = {}
    oldest_due: dt.datetime | None = None
    oldest_webhook: dt.datetime | None = None
    webhooks = 0
    for kind, status, is_due, count, first_run, first_created in rows:
        if status == JobStatus.FAILED.value:
            failures[kind] = failures.get(kind, 0) + int(count)
            continue
        state = (
            "running" if status == JobStatus.RUNNING.value else ("due" if is_due else "scheduled")
        )
        counts[(kind, state)] = counts.get((kind, state), 0) + int(count)
        if state == "due" and (oldest_due is None or first_run < oldest_due):
            oldest_due = first_run
        if kind == WEBHOOK_JOB:
            webhooks += int(count)
            if oldest_webhook is None or first_created < oldest_webhook:
                oldest_webhook = first_created
    for (kind, state), count in sorted(counts.items()):
        depth.add_metric([kind, state], count)
    for kind, count in sorted(failures.items()):
        failed.add_metric([kind], count)
    oldest.add_metric([], _age(now, oldest_due))
    lag.add_metric([], _age(now, oldest_webhook))
    backlog.add_metric([], webhooks)
    return [depth, failed, oldest, lag, backlog]


def database_down() -> list[Metric]:
    up = GaugeMetricFamily(
        "internet10_metrics_database_up", "Whether the database answered this scrape."
    )
    up.add_metric([], 0)
    return [up]


def _age(now: dt.datetime, since: dt.datetime | None) -> float:
    return max(0.0, (now - since).total_seconds()) if since is not None else 0.0


def after_commit(db: AsyncSession, callback: Callable[[], Any]) -> None:
    """Run ``callback`` once the caller's write transaction has committed (``Database.write``
    runs them), never if it rolls back: a counter must not count what did not happen."""
    db.info.setdefault(AFTER_COMMIT_KEY, []).append(callback)


AFTER_COMMIT_KEY = "internet10.after_commit"
