"""``internet10 serve --workers 2``: one port, two processes; ``/metrics`` adds both up, whichever
of them answers the scrape."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.scaleout.procs import postgres_only, serving

pytestmark = pytest.mark.e2e

HEALTHZ = {"method": "GET", "route": "/healthz", "status": "200"}


def _healthz_count(text: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "internet10_http_requests_total" and sample.labels == HEALTHZ:
                return sample.value
    return 0.0


async def test_metrics_of_two_workers_add_up_whichever_answers(
    database_url: str, tmp_path: Path
) -> None:
    postgres_only()
    shared = tmp_path / "metrics"
    shared.mkdir()  # prometheus-client wants it to exist when it is first imported
    env = {"INTERNET10_DATABASE_URL": database_url, "PROMETHEUS_MULTIPROC_DIR": str(shared)}
    async with (
        serving("app", tmp_path, env, workers=2) as app,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http,
    ):
        # serving() polled /healthz until the first answer: count from what /metrics says now
        async with http.get(f"{app.base}/metrics") as response:
            before = _healthz_count(await response.text())

        async def probe() -> int:
            async with http.get(f"{app.base}/healthz") as response:
                return response.status

        # Both workers accept on one socket; which one takes a connection is the kernel's
        # choice: send rounds of new connections until both have answered some.
        sent = 0
        for _ in range(40):
            statuses = await asyncio.gather(*(probe() for _ in range(40)))
            assert set(statuses) == {200}
            sent += len(statuses)
            if len(list(shared.glob("counter_*.db"))) == 2:
                break
        seen = []
        for _ in range(8):  # new connections: the kernel hands them to either worker
            async with http.get(f"{app.base}/metrics") as response:
                assert response.status == 200
                seen.append(_healthz_count(await response.text()) - before)
        writers = sorted(p.name for p in shared.glob("counter_*.db"))
    assert seen == [float(sent)] * 8
    assert len(writers) == 2, writers  # both workers counted requests: the sums are real
