"""Hub sessions: which upstream sessions fall at night where the hub meets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time

from scheduler.errors import SchedulingError
from scheduler.timezones import load_zone, minutes_outside

DAY_START = time(7, 0)
DAY_END = time(22, 0)


@dataclass(frozen=True)
class LocalSession:
    """An upstream session seen from the hub: UTC times, local times, and the night minutes."""

    starts_at: datetime
    ends_at: datetime
    local_start: datetime
    local_end: datetime
    night_minutes: int

    @property
    def at_night(self) -> bool:
        return self.night_minutes > 0


def localise(
    starts_at: datetime,
    ends_at: datetime,
    hub_timezone: str,
    *,
    day_start: time = DAY_START,
    day_end: time = DAY_END,
) -> LocalSession:
    """Place an upstream session in the hub's zone; minutes outside [day_start, day_end) are
    night minutes (a session from 21:30 to 23:00 local has 60)."""
    if starts_at.utcoffset() is None or ends_at.utcoffset() is None:
        raise SchedulingError("NAIVE_DATETIME", "session times must carry a time zone")
    if ends_at <= starts_at:
        raise SchedulingError("INVALID_SESSION", "a session must end after it starts")
    zone = load_zone(hub_timezone)
    start, end = starts_at.astimezone(UTC), ends_at.astimezone(UTC)
    return LocalSession(
        starts_at=start,
        ends_at=end,
        local_start=start.astimezone(zone),
        local_end=end.astimezone(zone),
        night_minutes=minutes_outside(start, end, zone, day_start, day_end),
    )
