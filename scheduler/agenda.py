"""Running order of a conference: the fixed agenda and the live estimate.

All durations are whole minutes. Offsets are minutes from the event start.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from scheduler.errors import SchedulingError

__all__ = [
    "ActualTimes",
    "AgendaItem",
    "AgendaParams",
    "Break",
    "PlannedSlot",
    "SlotEstimate",
    "SlotStatus",
    "build_agenda",
    "estimate_running_order",
    "planned_slots",
    "slot_times",
    "total_minutes",
    "validate_params",
]

_MINUTE = timedelta(minutes=1)
_HALF_MINUTE = timedelta(seconds=30)

ItemKind = Literal["opening", "slot", "break", "closing"]
SlotStatus = Literal["done", "live", "upcoming", "skipped"]


@dataclass(frozen=True)
class Break:
    """A pause of ``minutes`` right after chapter slot ``after_slot`` (1-based)."""

    after_slot: int
    minutes: int


@dataclass(frozen=True)
class AgendaParams:
    """Agenda shape in minutes. A slot is ``presentation`` followed by ``debate``."""

    opening: int = 15
    slots: int = 10
    presentation: int = 15
    debate: int = 8
    breaks: tuple[Break, ...] = (Break(after_slot=5, minutes=10),)
    closing: int = 15

    @property
    def slot_minutes(self) -> int:
        return self.presentation + self.debate


@dataclass(frozen=True)
class AgendaItem:
    """One agenda block, ``[start_offset, end_offset)`` in minutes from the event start.

    ``position`` is the 1-based slot position for ``kind == "slot"`` and ``None`` otherwise.
    ``presentation_end_offset`` is set only for slots: the presentation runs
    ``[start_offset, presentation_end_offset)`` and the debate the rest of the slot.
    """

    kind: ItemKind
    position: int | None
    start_offset: int
    end_offset: int
    presentation_end_offset: int | None = None

    @property
    def minutes(self) -> int:
        return self.end_offset - self.start_offset


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def validate_params(params: AgendaParams) -> None:
    """Raise :class:`SchedulingError` unless ``params`` describe a well-formed agenda."""
    for name in ("opening", "debate", "closing"):
        value = getattr(params, name)
        if not _is_int(value) or value < 0:
            raise SchedulingError(
                "INVALID_MINUTES",
                f"{name} must be a whole number of minutes >= 0, got {value!r}",
                field=name,
            )
    if not _is_int(params.presentation) or params.presentation < 1:
        raise SchedulingError(
            "INVALID_MINUTES",
            f"presentation must be a whole number of minutes >= 1, got {params.presentation!r}",
            field="presentation",
        )
    if not _is_int(params.slots) or params.slots < 1:
        raise SchedulingError(
            "INVALID_SLOTS",
            f"slots must be a whole number >= 1, got {params.slots!r}",
            field="slots",
        )
    seen: set[int] = set()
    for index, brk in enumerate(params.breaks):
        if not isinstance(brk, Break):
            raise SchedulingError(
                "INVALID_BREAK", f"breaks[{index}]: expected a Break, got {brk!r}", field="breaks"
            )
        if not _is_int(brk.after_slot) or not 1 <= brk.after_slot <= params.slots - 1:
            raise SchedulingError(
                "INVALID_BREAK",
                f"breaks[{index}]: after_slot must be between 1 and {params.slots - 1}"
                f" (a break sits between two slots), got {brk.after_slot!r}",
                field="breaks",
            )
        if brk.after_slot in seen:
            raise SchedulingError(
                "INVALID_BREAK",
                f"breaks[{index}]: more than one break after slot {brk.after_slot}",
                field="breaks",
            )
        seen.add(brk.after_slot)
        if not _is_int(brk.minutes) or brk.minutes < 0:
            raise SchedulingError(
                "INVALID_BREAK",
                f"breaks[{index}]: minutes must be a whole number >= 0, got {brk.minutes!r}",
                field="breaks",
            )


def total_minutes(params: AgendaParams) -> int:
    """Length of the whole agenda in minutes (validates ``params``)."""
    validate_params(params)
    return (
        params.opening
        + params.slots * params.slot_minutes
        + sum(brk.minutes for brk in params.breaks)
        + params.closing
    )


def build_agenda(params: AgendaParams, duration_minutes: int) -> tuple[AgendaItem, ...]:
    """Contiguous, ordered agenda items covering ``[0, total_minutes(params))``.

    Always contains the opening, every slot, every break (in slot order) and the
    closing, even when one of them lasts 0 minutes. Raises ``AGENDA_TOO_LONG`` when
    the agenda does not fit in ``duration_minutes``.
    """
    total = total_minutes(params)
    if not _is_int(duration_minutes) or duration_minutes < 0:
        raise SchedulingError(
            "INVALID_MINUTES",
            f"duration_minutes must be a whole number of minutes >= 0, got {duration_minutes!r}",
            field="duration_minutes",
        )
    if total > duration_minutes:
        raise SchedulingError(
            "AGENDA_TOO_LONG",
            f"the agenda needs {total} minutes but the event lasts only {duration_minutes} minutes",
            field="duration_minutes",
        )
    break_after = {brk.after_slot: brk.minutes for brk in params.breaks}
    items: list[AgendaItem] = [AgendaItem("opening", None, 0, params.opening)]
    cursor = params.opening
    for position in range(1, params.slots + 1):
        end = cursor + params.slot_minutes
        items.append(AgendaItem("slot", position, cursor, end, cursor + params.presentation))
        cursor = end
        if position in break_after:
            end = cursor + break_after[position]
            items.append(AgendaItem("break", None, cursor, end))
            cursor = end
    items.append(AgendaItem("closing", None, cursor, cursor + params.closing))
    return tuple(items)


def _require_aware(value: datetime, field: str) -> datetime:
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise SchedulingError(
            "NAIVE_DATETIME", f"{field} must be a timezone-aware datetime", field=field
        )
    return value.astimezone(UTC)


def slot_times(params: AgendaParams, starts_at: datetime) -> list[tuple[int, datetime, datetime]]:
    """``(position, start, end)`` in UTC for every chapter slot of an event at ``starts_at``."""
    start = _require_aware(starts_at, "starts_at")
    return [
        (
            item.position,
            start + item.start_offset * _MINUTE,
            start + item.end_offset * _MINUTE,
        )
        for item in build_agenda(params, total_minutes(params))
        if item.kind == "slot" and item.position is not None
    ]


# --------------------------------------------------------------------------- live running order


@dataclass(frozen=True)
class PlannedSlot:
    """A slot as scheduled: ``[starts_at, ends_at)``, aware datetimes."""

    position: int
    starts_at: datetime
    ends_at: datetime


@dataclass(frozen=True)
class ActualTimes:
    """What actually happened to a slot so far.

    ``extended_minutes`` is extra time granted on top of the planned slot length.
    A ``skipped`` slot takes no time, whatever its other fields say.
    """

    actual_start: datetime | None = None
    actual_end: datetime | None = None
    skipped: bool = False
    extended_minutes: int = 0


@dataclass(frozen=True)
class SlotEstimate:
    """Planned vs estimated times (UTC) of one slot.

    ``drift_minutes`` is ``estimated_start - planned_start`` rounded to the nearest
    minute (half a minute rounds up); positive means late.
    """

    position: int
    planned_start: datetime
    planned_end: datetime
    estimated_start: datetime
    estimated_end: datetime
    status: SlotStatus
    drift_minutes: int


def planned_slots(params: AgendaParams, starts_at: datetime) -> tuple[PlannedSlot, ...]:
    """The agenda's chapter slots as :class:`PlannedSlot` values (UTC)."""
    return tuple(PlannedSlot(pos, start, end) for pos, start, end in slot_times(params, starts_at))


def _round_minutes(delta: timedelta) -> int:
    whole, rest = divmod(delta, _MINUTE)
    return int(whole) + (1 if rest >= _HALF_MINUTE else 0)


def estimate_running_order(
    planned: Sequence[PlannedSlot],
    actual: Mapping[int, ActualTimes],
    now: datetime,
) -> list[SlotEstimate]:
    """Estimate the live running order, slot by slot in position order.

    * done (``actual_end`` set): ends at ``actual_end``; starts at ``actual_start``
      (or, if unknown, at its propagated start capped at ``actual_end``).
    * live (started, not ended): ends at
      ``max(actual_start + planned length + extended_minutes, now)``.
    * upcoming: starts at ``max(planned start, previous estimated end + planned gap, now)``
      and lasts its planned length plus ``extended_minutes``. Drift therefore
      propagates forward but never pulls a slot earlier than planned.
    * skipped: zero length at ``max(planned start, previous estimated end + planned gap)``.

    The planned gap between two slots is ``max(0, start - previous planned end)``
    (e.g. a break).
    """
    now_utc = _require_aware(now, "now")
    by_position: dict[int, PlannedSlot] = {}
    for index, slot in enumerate(planned):
        field = f"planned[{index}]"
        start = _require_aware(slot.starts_at, f"{field}.starts_at")
        end = _require_aware(slot.ends_at, f"{field}.ends_at")
        if end < start:
            raise SchedulingError(
                "INVALID_PLAN", f"{field}: ends_at is before starts_at", field=field
            )
        if slot.position in by_position:
            raise SchedulingError(
                "INVALID_PLAN", f"{field}: duplicate slot position {slot.position}", field=field
            )
        by_position[slot.position] = PlannedSlot(slot.position, start, end)
    for position in actual:
        if position not in by_position:
            raise SchedulingError(
                "UNKNOWN_SLOT",
                f"actual times given for slot {position}, which is not planned",
                field="actual",
            )

    estimates: list[SlotEstimate] = []
    previous: PlannedSlot | None = None
    previous_end: datetime | None = None
    for position in sorted(by_position):
        slot = by_position[position]
        facts = actual.get(position, ActualTimes())
        field = f"actual[{position}]"
        if not _is_int(facts.extended_minutes) or facts.extended_minutes < 0:
            raise SchedulingError(
                "INVALID_MINUTES",
                f"{field}: extended_minutes must be a whole number >= 0",
                field=f"{field}.extended_minutes",
            )
        length = slot.ends_at - slot.starts_at + facts.extended_minutes * _MINUTE
        earliest = slot.starts_at
        if previous is not None and previous_end is not None:
            gap = max(timedelta(0), slot.starts_at - previous.ends_at)
            earliest = max(earliest, previous_end + gap)

        status: SlotStatus
        if facts.skipped:
            status = "skipped"
            start = end = earliest
        else:
            actual_start = (
                None
                if facts.actual_start is None
                else _require_aware(facts.actual_start, f"{field}.actual_start")
            )
            actual_end = (
                None
                if facts.actual_end is None
                else _require_aware(facts.actual_end, f"{field}.actual_end")
            )
            if actual_end is not None:
                status = "done"
                start = actual_start if actual_start is not None else min(earliest, actual_end)
                end = actual_end
                if end < start:
                    raise SchedulingError(
                        "INVALID_ACTUAL_TIMES",
                        f"{field}: actual_end is before actual_start",
                        field=field,
                    )
            elif actual_start is not None:
                status = "live"
                start = actual_start
                end = max(actual_start + length, now_utc)
            else:
                status = "upcoming"
                start = max(earliest, now_utc)
                end = start + length

        estimates.append(
            SlotEstimate(
                position=position,
                planned_start=slot.starts_at,
                planned_end=slot.ends_at,
                estimated_start=start,
                estimated_end=end,
                status=status,
                drift_minutes=_round_minutes(start - slot.starts_at),
            )
        )
        previous = slot
        previous_end = end
    return estimates
