"""Zoom's pace shared by every worker process through Redis, and kept in-process when Redis
fails."""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
import time
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from internet10.jobs.gate import ProviderGate
from internet10.jobs.pacing import RETRY_SECONDS, RedisPacer
from tests.live.processes import free_port

pytestmark = pytest.mark.integration

RATE = 50.0  # calls per second, all gates together
CALLS = 30


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


def _gate(pacer: RedisPacer | None) -> ProviderGate:
    return ProviderGate("Zoom", RATE, clock=lambda: dt.datetime.now(dt.UTC), pacer=pacer)


async def _call_times(gates: list[ProviderGate]) -> list[float]:
    """Each gate makes CALLS / len(gates) calls at once; the moments the calls went out."""
    moments: list[float] = []

    async def call() -> None:
        moments.append(time.monotonic())

    async def run(gate: ProviderGate) -> None:
        await asyncio.gather(*(gate.call(call) for _ in range(CALLS // len(gates))))

    await asyncio.gather(*(run(g) for g in gates))
    return sorted(moments)


async def test_gates_of_several_processes_share_one_pace_through_redis(
    redis: Redis, redis_url: str
) -> None:
    name = f"test-{secrets.token_hex(4)}"
    # Three "processes": three gates, each with its own connection, one schedule in Redis.
    clients = [Redis.from_url(redis_url) for _ in range(3)]
    try:
        gates = [_gate(RedisPacer(c, name, RATE)) for c in clients]
        moments = await _call_times(gates)
    finally:
        for c in clients:
            await c.aclose()
    span = moments[-1] - moments[0]
    # 30 calls at 50/s in total: 29 intervals of 20 ms, whichever gate made them. Each gate
    # alone would have sent its 10 calls in 9 intervals (0.18 s), all three together.
    assert span >= (CALLS - 1) / RATE * 0.9
    assert span < (CALLS - 1) / RATE + 1.0
    await redis.delete(f"internet10:pace:{name}")


async def test_with_redis_down_each_process_paces_itself() -> None:
    dead = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.5)
    try:
        pacer = RedisPacer(dead, "down", RATE)
        assert await pacer.reserve() is None
        moments = await _call_times([_gate(pacer)])
    finally:
        await dead.aclose()
    span = moments[-1] - moments[0]
    assert (CALLS - 1) / RATE * 0.9 <= span < (CALLS - 1) / RATE + 1.0


async def test_after_a_failure_redis_is_tried_again_only_after_a_while(redis_url: str) -> None:
    now = [100.0]
    calls = 0

    class Flaky(Redis):
        async def eval(self, *args: object) -> object:  # type: ignore[override]
            nonlocal calls
            calls += 1
            if calls == 1:
                raise ConnectionError("down")
            return await super().eval(*args)  # type: ignore[arg-type]

    client = Flaky.from_url(redis_url)
    try:
        pacer = RedisPacer(client, f"test-{secrets.token_hex(4)}", RATE, monotonic=lambda: now[0])
        assert await pacer.reserve() is None  # Redis failed: local pace
        assert await pacer.reserve() is None  # not tried again yet
        assert calls == 1
        now[0] += RETRY_SECONDS
        assert await pacer.reserve() == 0  # back on the shared schedule
        assert calls == 2
        await client.delete(pacer.key)
    finally:
        await client.aclose()
