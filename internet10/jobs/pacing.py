"""Pacing a provider's calls across every worker process and host: one schedule in Redis.

A provider's limit is per account (Zoom: about 30 registrant calls a second), not per process.
Each call reserves the next free moment of a schedule shared in Redis (one Lua script, on
Redis's own clock, so hosts whose clocks differ still agree): ``at = max(now, next)``,
``next = at + interval``; the caller waits until ``at``. Calls are so spaced evenly at
``calls_per_second`` in total, however many workers run.

When Redis does not answer, :meth:`RedisPacer.reserve` returns ``None`` and the caller paces
itself in-process (the gate's own schedule); Redis is tried again after :data:`RETRY_SECONDS`
(a Redis that hangs costs one timeout per interval, not one per call). Calls then go out at up to
``calls_per_second`` per process for that while, which the provider's 429 and the gate's
back-off absorb. Losing Redis slows nothing down and stops nothing."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

KEY_PREFIX = "internet10:pace:"
RETRY_SECONDS = 10.0  # after a Redis failure, pace in-process this long before trying again

# KEYS[1]: the schedule; ARGV[1]: the interval in microseconds. Returns the wait in microseconds.
RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local nxt = tonumber(redis.call('GET', KEYS[1]) or '0')
local at = math.max(now, nxt)
local after = at + interval
local ttl = math.ceil((after - now) / 1000) + 1000
redis.call('SET', KEYS[1], string.format('%.0f', after), 'PX', ttl)
return string.format('%.0f', at - now)
"""


class RedisPacer:
    def __init__(
        self,
        redis: Redis,
        name: str,
        calls_per_second: float,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.redis = redis
        self.key = KEY_PREFIX + name
        self.interval_us = max(1, round(1_000_000 / calls_per_second))
        self._monotonic = monotonic
        self._failing = False
        self._retry_at = 0.0

    async def reserve(self) -> float | None:
        """Seconds to wait for this call's slot; ``None`` when Redis failed (pace locally)."""
        if self._failing and self._monotonic() < self._retry_at:
            return None
        try:
            waited = await self.redis.eval(RESERVE, 1, self.key, self.interval_us)
        except (RedisError, OSError) as exc:
            if not self._failing:
                log.warning("pacing %s in-process: Redis failed (%s)", self.key, exc)
                self._failing = True
            self._retry_at = self._monotonic() + RETRY_SECONDS
            return None
        if self._failing:
            log.warning("pacing %s through Redis again", self.key)
            self._failing = False
        return int(waited) / 1_000_000
