"""Calling a provider from jobs: paced under its per-second limit, and not called at all while
it is known to be down.

After a retryable failure the gate closes until the provider's own ``retry_at`` (a 429's
Retry-After, the daily limit's reset) or, without one, for a delay doubling from 1 s up to
``MAX_CLOSED``. While it is closed, jobs are deferred; neither they nor the job that met the
failure spend an attempt, so an outage of any length drains as a queue once the provider is
back, instead of failing the jobs. Only refusals (retrying cannot help) fail a job.

One gate per provider (Zoom, Google Calendar, YouTube, the mail server): each fails in its own
way and has its own limits. A provider's errors carry ``message``, ``retryable``, ``retry_at``
and ``status`` (Zoom's ``ProviderError``, Google's ``GoogleError``, ``MailServerUnavailable``:
a mail server down or closing; a refusal of one message is not the gate's business)."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import time
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar, cast

from integrations.google import GoogleError
from integrations.mail import MailServerUnavailable
from integrations.zoom import ProviderError
from internet10.jobs.pacing import RedisPacer
from internet10.jobs.worker import PermanentJobError, RetryLater

T = TypeVar("T")

MAX_CLOSED = dt.timedelta(seconds=60)
PROVIDER_ERRORS: tuple[type[Exception], ...] = (ProviderError, GoogleError, MailServerUnavailable)
SPREAD_SECONDS = 2.0  # deferred jobs come back spread over this, not all at one instant


class ProviderFailure(Protocol):
    message: str
    retryable: bool
    retry_at: dt.datetime | None
    status: int | None


class ProviderGate:
    def __init__(
        self,
        name: str,
        calls_per_second: float,
        *,
        clock: Callable[[], dt.datetime],
        monotonic: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        pacer: RedisPacer | None = None,
    ) -> None:
        """``pacer``: the pace shared by every process through Redis (see ``pacing``); without
        one, or while Redis fails, this process spaces its own calls."""
        self.name = name
        self._pacer = pacer
        self._interval = 1.0 / calls_per_second
        self._clock = clock
        self._monotonic = monotonic
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not a secret
        self._next_call = 0.0
        self._pace_lock = asyncio.Lock()
        self._closed_until: dt.datetime | None = None
        self._failures = 0

    async def pace(self) -> None:
        """Wait for the next call slot: the shared one when Redis paces, else this process's
        (calls are spaced evenly)."""
        if self._pacer is not None:
            wait = await self._pacer.reserve()
            if wait is not None:
                if wait > 0:
                    await asyncio.sleep(wait)
                return
        async with self._pace_lock:
            now = self._monotonic()
            at = max(now, self._next_call)
            self._next_call = at + self._interval
        if at > now:
            await asyncio.sleep(at - now)

    def _check(self) -> None:
        closed_until = self._closed_until
        if closed_until is not None and closed_until > self._clock():
            spread = dt.timedelta(seconds=self._rng.uniform(0, SPREAD_SECONDS))
            raise RetryLater(
                f"{self.name} is unavailable until {closed_until.isoformat()}",
                not_before=closed_until + spread,
                attempted=False,
            )

    def _failed(self, exc: ProviderFailure) -> RetryLater:
        now = self._clock()
        self._failures += 1
        if exc.retry_at is not None:
            until = max(exc.retry_at, now)
        else:
            delay = min(MAX_CLOSED.total_seconds(), 2.0 ** (self._failures - 1))
            until = now + dt.timedelta(seconds=delay)
        self._closed_until = until
        # The job that met the failure comes back after the ones deferred meanwhile (they come
        # back within SPREAD_SECONDS of the reopening), so the next probe is another job; and
        # it spends no attempt: an outage of any length, or a long rate limit, must not use up
        # a job's attempts (only refusals, which retrying cannot help, fail a job).
        spread = dt.timedelta(seconds=self._rng.uniform(SPREAD_SECONDS, 2 * SPREAD_SECONDS))
        return RetryLater(
            f"{self.name}: {describe(exc)}", not_before=until + spread, attempted=False
        )

    async def call(self, action: Callable[[], Awaitable[T]], *, paced: bool = True) -> T:
        """Run one provider call: deferred while the gate is closed, paced, errors mapped to
        the worker's (retryable -> RetryLater, others -> PermanentJobError)."""
        self._check()
        if paced:
            await self.pace()
            self._check()
        try:
            result = await action()
        except PROVIDER_ERRORS as caught:
            exc = cast(ProviderFailure, caught)
            if exc.retryable:
                raise self._failed(exc) from None
            raise PermanentJobError(f"{self.name}: {describe(exc)}") from None
        self._failures, self._closed_until = 0, None
        return result


def describe(exc: ProviderFailure) -> str:
    """The provider's message with its own code (Zoom) or reason (Google) and the HTTP status,
    each once: Google's messages already name them."""
    parts = [exc.message]
    code = getattr(exc, "code", None)
    if code is not None:
        parts.append(f"code {code}")
    reason = getattr(exc, "reason", None)
    if reason is not None and reason not in exc.message:
        parts.append(f"reason {reason}")
    if exc.status is not None and f"HTTP {exc.status}" not in exc.message:
        parts.append(f"HTTP {exc.status}")
    return ", ".join(parts)
