"""What every request goes through on its way in and out: its request id, one access-log line
(JSON: ``request_id``, ``method``, ``route``, ``status``, ``duration_ms``), and the request
metrics. Installed by ``create_app`` before its own hooks, so the id exists for everything
after it, including the jobs the request enqueues (``services.outbox.enqueue``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from quart import Quart, Response, g, request

from internet10 import metrics, tracing
from internet10.state import AppState

log = logging.getLogger("internet10.access")

UNMATCHED = "<unmatched>"  # no route: the path itself may be anything, it is not a label
SAMPLE_SECONDS = 2.0  # how often a process writes its open-stream count for the gauge


def install(app: Quart, st: AppState) -> None:
    sampler: list[asyncio.Task[None]] = []

    @app.before_request
    async def _start() -> None:
        g.started = time.perf_counter()
        g.request_id = tracing.from_header(request.headers.get(tracing.HEADER))
        tracing.request_id.set(g.request_id)

    @app.after_request
    async def _finish(response: Response) -> Response:
        started = g.get("started")
        rid = g.get("request_id") or tracing.new_request_id()
        response.headers[tracing.HEADER] = rid
        rule = request.url_rule
        route = rule.rule if rule is not None else UNMATCHED
        seconds = time.perf_counter() - started if started is not None else 0.0
        method = request.method
        metrics.REQUESTS.labels(method=method, route=route, status=str(response.status_code)).inc()
        metrics.LATENCY.labels(method=method, route=route).observe(seconds)
        log.info(
            "%s %s %s",
            method,
            route,
            response.status_code,
            extra={
                "request_id": rid,
                "method": method,
                "route": route,
                "status": response.status_code,
                "duration_ms": round(seconds * 1000, 2),
            },
        )
        return response

    async def sample() -> None:
        while True:
            broker = st.broker
            metrics.LIVE_SUBSCRIBERS.set(broker.subscriber_count() if broker is not None else 0)
            await asyncio.sleep(SAMPLE_SECONDS)

    @app.before_serving
    async def _sample() -> None:
        sampler.append(asyncio.get_running_loop().create_task(sample()))

    @app.after_serving
    async def _stop_sampling() -> None:
        while sampler:
            task = sampler.pop()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        metrics.LIVE_SUBSCRIBERS.set(0)
