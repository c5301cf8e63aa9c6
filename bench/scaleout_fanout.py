"""``scaleout_fanout_1000``: :mod:`bench.fanout`'s ``live_fanout_1000`` on the app with one
Hypercorn worker (the runner's baseline target) and with two (its app target); see
:mod:`bench.scaleout` for the method."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bench.backends import app_env
from bench.client import LoadClient
from bench.fanout import LiveFanout
from bench.scaleout import POSTGRESQL_ONLY, _context, _redis, _with_app, start_app, workers_for
from bench.servers import BenchError, Server
from bench.workloads import (
    AppContext,
    Measurement,
    Plan,
    RunSettings,
    Target,
    TargetKind,
    register,
)


@dataclass(frozen=True)
class _FanoutOn(LiveFanout):
    """``LiveFanout`` on a server of ``workers`` processes (not pinned), with Redis."""

    workers: int = 1

    async def _start(self, target: Target, directory: Path, pin: tuple[str, ...]) -> Server:
        del pin  # a second worker needs the second core
        assert target.app is not None
        env = app_env(target.app.database_url, _redis())
        return await start_app(f"app-fanout-{self.workers}w", self.workers, env, directory)


@register
class ScaleoutFanout:
    """``live_fanout_1000`` (1,000 subscribers, 20 changes, every delivery checked) on the app
    with 1 worker (baseline) and 2 (app): the subscribers' connections spread over both
    workers, and the changes reach the other worker's subscribers through Redis."""

    name = "scaleout_fanout_1000"
    description = "1,000 live subscribers, 20 changes: 1 worker (baseline) vs 2 (app), Redis"
    uses_database = True
    backends = POSTGRESQL_ONLY
    subscribers = 1_000

    async def setup(self, app: AppContext) -> Plan:
        if _redis() is None:
            raise BenchError("scaleout_fanout_1000 needs Redis ($INTERNET10_TEST_REDIS_URL)")
        return _with_app(await LiveFanout(self.subscribers).setup(app), app)

    async def run(self, target: Target, client: LoadClient, settings: RunSettings) -> Measurement:
        workers = workers_for(target)
        app = _context(target.plan, "")
        inner = Target(TargetKind.APP, "", target.plan.app, target.plan, app)
        measured = await _FanoutOn(self.subscribers, workers=workers).run(inner, client, settings)
        label = f"{workers} worker{'s' if workers > 1 else ''}"
        problems = tuple(p.replace("app", label, 1) for p in measured.problems)
        return Measurement(measured.result, problems, {**measured.extra, "workers": workers})
