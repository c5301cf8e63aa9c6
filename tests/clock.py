"""A clock that tests move by hand (the service and the worker take ``clock`` as an argument)."""

from __future__ import annotations

import datetime as dt


class Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float = 0.0, **delta: float) -> None:
        self.now += dt.timedelta(seconds=seconds, **delta)
