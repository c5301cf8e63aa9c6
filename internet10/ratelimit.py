"""Fixed-window rate limits: in-process by default, shared through Redis when configured (so
several workers and hosts count together). While Redis fails, each process counts on its own:
limits protect the service, they must not take it down, nor vanish with Redis."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from internet10.errors import RateLimited


@dataclass(frozen=True)
class Limit:
    name: str
    per_window: int
    window_seconds: int = 60


class Limiter(Protocol):
    async def hit(self, limit: Limit, who: str) -> int | None:
        """Count one hit; return seconds to wait when over the limit, else ``None``."""
        ...


@dataclass
class InProcessLimiter:
    clock: Callable[[], float] = time.monotonic
    _windows: dict[tuple[str, str, int], int] = field(default_factory=dict)

    async def hit(self, limit: Limit, who: str) -> int | None:
        now = self.clock()
        window = int(now // limit.window_seconds)
        key = (limit.name, who, window)
        count = self._windows.get(key, 0) + 1
        self._windows[key] = count
        if len(self._windows) > 100_000:  # forget old windows
            self._windows = {k: v for k, v in self._windows.items() if k[2] >= window}
        if count > limit.per_window:
            return max(1, math.ceil((window + 1) * limit.window_seconds - now))
        return None


REDIS_AGAIN_AFTER_SECONDS = 10.0


@dataclass
class RedisLimiter:
    """``fallback`` counts while Redis fails: each process on its own (a looser limit than the
    shared one, never none). After a failure, Redis is tried again only after
    ``REDIS_AGAIN_AFTER_SECONDS``, so a Redis that hangs costs one timeout per interval, not one
    per request."""

    redis: Redis
    clock: Callable[[], float] = time.time
    fallback: InProcessLimiter = field(default_factory=InProcessLimiter)
    _redis_again_at: float = field(default=float("-inf"), init=False, repr=False)

    async def hit(self, limit: Limit, who: str) -> int | None:
        now = self.clock()
        if now < self._redis_again_at:
            return await self.fallback.hit(limit, who)
        window = int(now // limit.window_seconds)
        key = f"internet10:rl:{limit.name}:{who}:{window}"
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.incr(key)
                pipe.expire(key, limit.window_seconds + 1)
                count, _ = await pipe.execute()
        except (RedisError, OSError):
            self._redis_again_at = self.clock() + REDIS_AGAIN_AFTER_SECONDS
            # The pool's idle connections are likely as dead as this one (Redis restarted):
            # drop them, or the first try after the pause would meet one and fail again.
            with contextlib.suppress(RedisError, OSError):
                await self.redis.connection_pool.disconnect(inuse_connections=False)
            return await self.fallback.hit(limit, who)
        if int(count) > limit.per_window:
            return max(1, math.ceil((window + 1) * limit.window_seconds - now))
        return None


async def enforce(limiter: Limiter, limit: Limit, who: str) -> None:
    if limit.per_window <= 0:
        return
    wait = await limiter.hit(limit, who)
    if wait is not None:
        raise RateLimited(f"Too many requests; try again in {wait} seconds.", retry_after=wait)
