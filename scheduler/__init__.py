"""Pure, synchronous scheduling logic: agenda, live running order and fair planning."""

from scheduler.agenda import (
    ActualTimes,
    AgendaItem,
    AgendaParams,
    Break,
    PlannedSlot,
    SlotEstimate,
    build_agenda,
    estimate_running_order,
    planned_slots,
    slot_times,
    total_minutes,
)
from scheduler.errors import SchedulingError
from scheduler.planner import (
    ChapterWindow,
    PlanResult,
    Proposal,
    ProposedSlot,
    Unserved,
    optimal_assignment,
    parse_chapters_json,
    parse_hours,
    plan,
    proposal_to_json,
)
from scheduler.timezones import load_zone, minutes_outside

__all__ = [
    "ActualTimes",
    "AgendaItem",
    "AgendaParams",
    "Break",
    "ChapterWindow",
    "PlanResult",
    "PlannedSlot",
    "Proposal",
    "ProposedSlot",
    "SchedulingError",
    "SlotEstimate",
    "Unserved",
    "build_agenda",
    "estimate_running_order",
    "load_zone",
    "minutes_outside",
    "optimal_assignment",
    "parse_chapters_json",
    "parse_hours",
    "plan",
    "planned_slots",
    "proposal_to_json",
    "slot_times",
    "total_minutes",
]
