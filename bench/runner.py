"""The measurement loop: servers up, workloads set up, interleaved runs, medians, clean-up."""

from __future__ import annotations

import contextlib
import statistics
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import webhook
from bench.backends import (
    Backend,
    create_organiser,
    drop_backend,
    migrate,
    postgres_backend,
    sqlite_backend,
)
from bench.client import LoadClient, make_client
from bench.servers import Pinning, Server, plan_pinning, start_hypercorn, stop_server
from bench.workloads import (
    AppContext,
    Measurement,
    RunSettings,
    Target,
    TargetKind,
    Workload,
)

APP_ASGI = "internet10.asgi:app"
BASELINE_ASGI = "bench.baseline:app"


@dataclass(frozen=True)
class Options:
    settings: RunSettings
    workloads: Sequence[Workload]
    client: str = "auto"  # "auto", "wrk" or "aiohttp"
    pin: bool = True
    postgres_url: str | None = None
    redis_url: str | None = None
    keep_logs: Path | None = None


@dataclass
class TargetSummary:
    kind: TargetKind
    runs: list[Measurement] = field(default_factory=list)

    def median(self, figure: str) -> float:
        return float(statistics.median(float(getattr(m.result, figure)) for m in self.runs))

    @property
    def rps(self) -> float:
        return self.median("rps")

    @property
    def p50_ms(self) -> float:
        return self.median("p50_ms")

    @property
    def p99_ms(self) -> float:
        return self.median("p99_ms")

    @property
    def rps_spread(self) -> float:
        """(max - min) / median of the runs' req/s: how noisy this target's figures were."""
        values = [m.result.rps for m in self.runs]
        median = statistics.median(values)
        return (max(values) - min(values)) / median if median else float("nan")

    @property
    def errors(self) -> int:
        return sum(m.result.errors for m in self.runs)

    @property
    def requests(self) -> int:
        return sum(m.result.requests for m in self.runs)

    def extra_medians(self) -> dict[str, float]:
        names = sorted({name for m in self.runs for name in m.extra})
        return {
            name: statistics.median(m.extra[name] for m in self.runs if name in m.extra)
            for name in names
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "median": {
                "rps": self.rps,
                "p50_ms": self.p50_ms,
                "p99_ms": self.p99_ms,
                **self.extra_medians(),
            },
            "rps_spread": self.rps_spread,
            "requests": self.requests,
            "errors": self.errors,
            "runs": [
                {**m.result.to_dict(), "extra": dict(m.extra), "problems": list(m.problems)}
                for m in self.runs
            ],
        }


@dataclass
class WorkloadResult:
    workload: str
    backend: str
    baseline: TargetSummary
    app: TargetSummary
    problems: list[str] = field(default_factory=list)

    @property
    def rps_ratio(self) -> float:
        return self.app.rps / self.baseline.rps if self.baseline.rps else float("nan")

    @property
    def p99_ratio(self) -> float:
        return self.app.p99_ms / self.baseline.p99_ms if self.baseline.p99_ms else float("nan")

    def to_dict(self) -> dict[str, Any]:
        return {
            "workload": self.workload,
            "backend": self.backend,
            "baseline": self.baseline.to_dict(),
            "app": self.app.to_dict(),
            "ratio_app_to_baseline": {"rps": self.rps_ratio, "p99": self.p99_ratio},
            "problems": self.problems,
        }


@dataclass
class Outcome:
    client: str
    pinning: Pinning
    results: list[WorkloadResult] = field(default_factory=list)
    backends: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        return [f"{r.workload} [{r.backend}] {p}" for r in self.results for p in r.problems]


def _progress(message: str) -> None:
    print(f"· {message}", flush=True)


def _describe(m: Measurement) -> str:
    r = m.result
    text = f"{r.rps:,.0f} req/s, p50 {r.p50_ms:.1f} ms, p99 {r.p99_ms:.1f} ms, {r.requests:,} req"
    if r.errors:
        text += f", {r.errors} ERRORS"
    return text


async def measure_workload(
    workload: Workload,
    app: AppContext,
    app_server: Server,
    baseline_server: Server,
    client: LoadClient,
    settings: RunSettings,
) -> WorkloadResult:
    """Set up, then run baseline and app alternately ``settings.runs`` times each."""
    plan = await workload.setup(app)
    targets = [
        Target(TargetKind.BASELINE, baseline_server.url, plan.baseline, plan, None),
        Target(TargetKind.APP, app_server.url, plan.app, plan, app),
    ]
    summaries = {t.kind: TargetSummary(t.kind) for t in targets}
    result = WorkloadResult(
        workload.name, app.backend, summaries[TargetKind.BASELINE], summaries[TargetKind.APP]
    )
    for repetition in range(1, settings.runs + 1):
        for target in targets:
            measurement = await workload.run(target, client, settings)
            summaries[target.kind].runs.append(measurement)
            result.problems.extend(measurement.problems)
            _progress(
                f"{workload.name} [{app.backend}] {target.kind} run "
                f"{repetition}/{settings.runs}: {_describe(measurement)}"
            )
            for server in (baseline_server, app_server):
                if not server.alive():
                    result.problems.append(f"{server.name} server died:\n{server.log_tail()}")
                    return result
    return result


async def _backend_for(name: str, options: Options, directory: Path) -> Backend:
    if name == "sqlite":
        return sqlite_backend(directory)
    assert options.postgres_url is not None
    return await postgres_backend(options.postgres_url, options.redis_url)


async def run(options: Options) -> Outcome:
    """Run every selected workload on every backend; always stop what was started."""
    pinning = plan_pinning(options.pin)
    client = make_client(options.client, pinning.client)
    outcome = Outcome(client.name, pinning)
    backends = ["sqlite"]
    if options.postgres_url and any(w.uses_database for w in options.workloads):
        backends.append("postgresql")
    outcome.backends = backends
    _progress(f"client {client.name}; {pinning.description}; backends {', '.join(backends)}")

    async with contextlib.AsyncExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-")))
        logs = options.keep_logs or tmp
        logs.mkdir(parents=True, exist_ok=True)
        baseline = await start_hypercorn(
            "baseline",
            BASELINE_ASGI,
            env=webhook.server_env(),
            log_dir=logs,
            pin=pinning.server,
        )
        stack.push_async_callback(stop_server, baseline)
        _progress(f"baseline {BASELINE_ASGI} on {baseline.url}")

        for backend_name in backends:
            workloads = [
                w
                for w in options.workloads
                if (backend_name == "sqlite" or w.uses_database)
                and backend_name in getattr(w, "backends", (backend_name,))  # e.g. PostgreSQL only
            ]
            backend = await _backend_for(backend_name, options, tmp)
            stack.push_async_callback(drop_backend, backend)
            _progress(f"[{backend_name}] migrating {backend.display_url}")
            await migrate(backend)
            token = await create_organiser(backend)
            app_server = await start_hypercorn(
                f"app-{backend_name}",
                APP_ASGI,
                env=backend.env,
                log_dir=logs,
                pin=pinning.server,
                ready_path="/healthz",
            )
            try:
                _progress(f"[{backend_name}] app {APP_ASGI} on {app_server.url}")
                app = AppContext(app_server.url, backend_name, backend.database_url, token)
                for workload in workloads:
                    outcome.results.append(
                        await measure_workload(
                            workload, app, app_server, baseline, client, options.settings
                        )
                    )
            finally:
                await stop_server(app_server)
    return outcome
