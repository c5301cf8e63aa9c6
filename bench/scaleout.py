"""Scale-out workloads: the same app with one Hypercorn worker and with two, on this machine.

``scaleout_registration`` (a registration burst, here) and ``scaleout_fanout_1000`` (1,000 live
subscribers, 20 changes: :mod:`bench.scaleout_fanout`) compare two servers of the app itself,
not the app and the raw ASGI baseline: the runner's *baseline* target is the app with
``--workers 1``, its *app* target the app with ``--workers 2``, each started fresh for each run
from the same Hypercorn command, the worker count aside. The app/baseline ratio of their
throughput is therefore the speed-up of a second worker.

Neither server is pinned: a second worker can only help if it has a core to run on. The load
client stays on its CPU (as in every workload), so on a 2-core machine the servers, PostgreSQL
and the client share two cores: the speed-up measured here is what a second worker gains on a
machine that is already busy, not what a second host would. Both workloads run on PostgreSQL
only (several processes on one SQLite file queue on its one writer), with Redis (the two
workers' subscribers hear each other's changes through it).
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from bench.backends import app_env
from bench.client import LoadClient
from bench.servers import (
    HYPERCORN_BACKLOG,
    REPO_ROOT,
    BenchError,
    Server,
    _wait_ready,
    free_port,
    stop_server,
    subprocess_env,
)
from bench.workloads import (
    AppContext,
    Measurement,
    Plan,
    RegistrationBurst,
    RunSettings,
    Target,
    TargetKind,
    register,
)

APP_ASGI = "internet10.asgi:app"
POSTGRESQL_ONLY = ("postgresql",)


def workers_for(target: Target) -> int:
    return 1 if target.kind is TargetKind.BASELINE else 2


def _redis() -> str | None:
    return os.environ.get("INTERNET10_TEST_REDIS_URL") or None


async def start_app(name: str, workers: int, env: Mapping[str, str], log_dir: Path) -> Server:
    """The app under Hypercorn with ``workers`` processes, not pinned, on a free port."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "hypercorn",
        APP_ASGI,
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--backlog",
        str(HYPERCORN_BACKLOG),
    ]
    log_path = log_dir / f"{name}-{port}.log"
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
            env=subprocess_env(env),
            cwd=REPO_ROOT,
            start_new_session=True,
        )
    server = Server(name, APP_ASGI, port, process, log_path, tuple(command))
    try:
        if not await _wait_ready(server, "/healthz", 60):
            raise BenchError(f"{name} exited at start:\n{server.log_tail()}")
    except BaseException:
        await stop_server(server)
        raise
    return server


def _context(plan: Plan, base_url: str) -> AppContext:
    data = plan.data
    return AppContext(base_url, str(data["backend"]), str(data["database_url"]), str(data["token"]))


def _with_app(plan: Plan, app: AppContext) -> Plan:
    return replace(
        plan,
        data={
            **plan.data,
            "backend": app.backend,
            "database_url": app.database_url,
            "token": app.organiser_token,
        },
    )


@register
class ScaleoutRegistration:
    """The registration burst (``registration_burst``: exact counts checked), 4,000 attempts
    for 150 places at concurrency 200, on the app with 1 worker (baseline) and 2 (app)."""

    name = "scaleout_registration"
    description = (
        "4,000 registrations for 150 places, 200 at a time: 1 worker (baseline) vs 2 (app)"
    )
    uses_database = True
    backends = POSTGRESQL_ONLY
    attempts = 4_000

    async def setup(self, app: AppContext) -> Plan:
        return _with_app(await RegistrationBurst().setup(app), app)

    async def run(self, target: Target, client: LoadClient, settings: RunSettings) -> Measurement:
        workers = workers_for(target)
        burst = RegistrationBurst()
        burst.attempts = self.attempts
        database_url = str(target.plan.data["database_url"])
        with tempfile.TemporaryDirectory(prefix="bench-scaleout-") as tmp:
            server = await start_app(
                f"app-{workers}w", workers, app_env(database_url, _redis()), Path(tmp)
            )
            try:
                app = _context(target.plan, server.url)
                inner = Target(TargetKind.APP, server.url, target.plan.app, target.plan, app)
                measured = await burst.run(inner, client, settings)
                if not server.alive():
                    raise BenchError(f"{server.name} died:\n{server.log_tail()}")
            finally:
                await stop_server(server)
        label = f"{workers} worker{'s' if workers > 1 else ''}"
        problems = tuple(p.replace("app:", f"{label}:", 1) for p in measured.problems)
        return Measurement(measured.result, problems, {**measured.extra, "workers": workers})
