"""A fixed burst of distinct requests at a fixed concurrency (aiohttp, keep-alive), timing each
one: for workloads where every request differs (registrations with distinct e-mails, webhook
deliveries each with its own signature header)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import aiohttp


@dataclass(frozen=True)
class BurstResult:
    requests: int
    duration_s: float
    statuses: Counter[int]
    latencies_ms: list[float]
    socket_errors: int

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return 0.0
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@contextlib.contextmanager
def on_cpu(cpu: int) -> Iterator[None]:
    """Run the client on ``cpu`` (the servers are pinned to the other core), when possible."""
    previous = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    try:
        if previous is not None and cpu in previous and len(previous) > 1:
            os.sched_setaffinity(0, {cpu})
        yield
    finally:
        if previous is not None:
            os.sched_setaffinity(0, previous)


async def fire(
    url: str,
    bodies: Sequence[bytes],
    *,
    concurrency: int,
    headers: dict[str, str] | None = None,
    request_headers: Sequence[Mapping[str, str]] | None = None,
) -> BurstResult:
    """POST every body once, ``concurrency`` at a time. ``request_headers[i]``, when given, is
    added to ``headers`` for ``bodies[i]`` (prepared beforehand: not timed)."""
    if request_headers is not None and len(request_headers) != len(bodies):
        raise ValueError("request_headers must have one entry per body")
    send_headers = {"Content-Type": "application/json", **(headers or {})}
    queue: asyncio.Queue[tuple[bytes, dict[str, str]]] = asyncio.Queue()
    for i, body in enumerate(bodies):
        own = {**send_headers, **request_headers[i]} if request_headers else send_headers
        queue.put_nowait((body, own))
    statuses: Counter[int] = Counter()
    latencies: list[float] = []
    errors = 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=120)

    async def worker(http: aiohttp.ClientSession) -> None:
        nonlocal errors
        while True:
            try:
                body, body_headers = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            started = time.perf_counter_ns()
            try:
                async with http.post(url, data=body, headers=body_headers) as response:
                    await response.read()
                    statuses[response.status] += 1
            except (aiohttp.ClientError, TimeoutError):
                errors += 1
                continue
            latencies.append((time.perf_counter_ns() - started) / 1e6)

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        began = time.perf_counter()
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))
        duration = time.perf_counter() - began
    return BurstResult(len(latencies), duration, statuses, latencies, errors)
