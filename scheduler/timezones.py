"""Exact wall-clock arithmetic against IANA time zones.

A moment is *inside* a chapter's acceptable hours when its local wall-clock time of
day, in the chapter's zone, lies in ``[hours_start, hours_end)``; when
``hours_end <= hours_start`` the window wraps past midnight (``20:00-02:00`` accepts
20:00..23:59 and 00:00..01:59; ``08:00-08:00`` accepts the whole day). This is
evaluated per instant, so DST days of 23 or 25 hours, a repeated hour (counted
twice if acceptable) and a skipped hour (never lived) are all handled exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from scheduler.errors import SchedulingError

__all__ = ["load_zone", "minutes_outside"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)
_DAY = 86_400
# Offset transitions are assumed to be more than this far apart (true of all tzdata).
_PROBE = 3_600

# (start, end, utc offset) in POSIX seconds: the offset is constant on [start, end).
OffsetPiece = tuple[int, int, int]


def load_zone(name: object, field: str = "timezone") -> ZoneInfo:
    """Load an IANA zone, raising ``SchedulingError("INVALID_TIMEZONE")`` for bad names."""
    if not isinstance(name, str) or not name or name != name.strip():
        raise SchedulingError("INVALID_TIMEZONE", f"unknown time zone {_quote(name)}", field=field)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        # ValueError: "", "../etc", "/abs" or NUL bytes; OSError: a directory such as "Europe".
        raise SchedulingError(
            "INVALID_TIMEZONE", f"unknown time zone {_quote(name)}", field=field
        ) from exc


def _quote(value: object) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(value)


def to_posix(value: datetime, field: str = "datetime") -> int:
    """Whole POSIX seconds of an aware datetime (sub-second parts are floored)."""
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise SchedulingError(
            "NAIVE_DATETIME", f"{field} must be a timezone-aware datetime", field=field
        )
    return (value - _EPOCH) // _SECOND


def from_posix(seconds: int) -> datetime:
    return _EPOCH + timedelta(seconds=seconds)


def _offset(zone: tzinfo, seconds: int) -> int:
    offset = from_posix(seconds).astimezone(zone).utcoffset()
    assert offset is not None
    return offset // _SECOND


def offset_pieces(zone: tzinfo, start: int, end: int) -> list[OffsetPiece]:
    """Split ``[start, end)`` (POSIX seconds) into runs of constant UTC offset."""
    pieces: list[OffsetPiece] = []
    piece_start = start
    while piece_start < end:
        offset = _offset(zone, piece_start)
        last = end - 1
        low = piece_start
        high: int | None = None
        probe = piece_start
        while probe < last:
            probe = min(probe + _PROBE, last)
            if _offset(zone, probe) != offset:
                high = probe
                break
            low = probe
        if high is None:
            pieces.append((piece_start, end, offset))
            break
        # Smallest second in (low, high] whose offset differs.
        while high - low > 1:
            middle = (low + high) // 2
            if _offset(zone, middle) == offset:
                low = middle
            else:
                high = middle
        pieces.append((piece_start, high, offset))
        piece_start = high
    return pieces


def seconds_of_day(value: time) -> int:
    return value.hour * 3600 + value.minute * 60 + value.second


def inside_seconds(
    pieces: Sequence[OffsetPiece], start: int, end: int, window_start: int, window_end: int
) -> int:
    """Seconds of ``[start, end)`` whose wall time of day is in the window.

    ``pieces`` must cover ``[start, end)``; window bounds are seconds after local midnight.
    """
    if window_end <= window_start:
        window_end += _DAY
    total = 0
    for piece_start, piece_end, offset in pieces:
        low = max(start, piece_start)
        high = min(end, piece_end)
        if low >= high:
            continue
        wall_low = low + offset
        wall_high = high + offset
        for day in range(wall_low // _DAY - 1, (wall_high - 1) // _DAY + 1):
            base = day * _DAY
            overlap = min(wall_high, base + window_end) - max(wall_low, base + window_start)
            if overlap > 0:
                total += overlap
    return total


def minutes_outside(
    start_utc: datetime,
    end_utc: datetime,
    zone: tzinfo | str,
    hours_start: time,
    hours_end: time,
) -> int:
    """Whole minutes of ``[start_utc, end_utc)`` outside the local acceptable hours.

    See the module docstring for the exact semantics. Both datetimes must be aware
    (any offset); ``end_utc`` must not be before ``start_utc``.
    """
    tz = load_zone(zone) if isinstance(zone, str) else zone
    start = to_posix(start_utc, "start_utc")
    end = to_posix(end_utc, "end_utc")
    if end < start:
        raise SchedulingError("INVALID_INTERVAL", "end_utc is before start_utc", field="end_utc")
    if start == end:
        return 0
    inside = inside_seconds(
        offset_pieces(tz, start, end),
        start,
        end,
        seconds_of_day(hours_start),
        seconds_of_day(hours_end),
    )
    return (end - start - inside) // 60
