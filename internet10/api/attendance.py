"""Attendance of an event, for its moderators and organisers."""

from __future__ import annotations

from pydantic import BaseModel, Field
from quart import Blueprint
from quart_schema import validate_response

from internet10.api.schemas import ErrorBody, iso_utc
from internet10.services import attendance, attendance_figures
from internet10.web import current_principal, state

blueprint = Blueprint("api_attendance", __name__, url_prefix="/api/v1")


class IntervalOut(BaseModel):
    registration_id: int | None
    name: str
    source: str = Field(description="zoom (webhooks), report (Zoom's report), checkin (room)")
    joined_at: str
    left_at: str | None


class SlotOut(BaseModel):
    slot_id: int
    position: int
    chapter: str | None
    title: str | None
    starts_at: str
    ends_at: str
    people: int


class StepOut(BaseModel):
    at: str
    people: int


class FunnelOut(BaseModel):
    registered: int
    confirmed: int
    clicked_join: int
    attended: int


class AttendanceOut(BaseModel):
    event_id: int
    target: int
    attended: int = Field(description="Unique people present at least min_minutes in all.")
    progress: float = Field(description="attended / target")
    present_now: int
    peak: int
    peak_at: str | None
    total_minutes: float
    median_minutes: float
    in_person: int
    online: int
    min_minutes: float
    funnel: FunnelOut
    breakdowns: dict[str, dict[str, int]] = Field(
        description="Attended people by chapter, country, language, place (room, online, "
        "both) and hub (the hub each first came through; a hub's own figures name itself); '' "
        "collects people without the attribute (guests; for hub: not through a hub)."
    )
    slots: list[SlotOut]
    timeline: list[StepOut] = Field(description="Concurrent people, from each instant on.")
    intervals: list[IntervalOut]


@blueprint.get("/events/<int:event_id>/attendance")
@validate_response(AttendanceOut, 200)
@validate_response(ErrorBody, 401)
@validate_response(ErrorBody, 403)
@validate_response(ErrorBody, 404)
async def event_attendance(event_id: int) -> AttendanceOut:
    """One de-duplicated count: a person counts once however many visits, devices and places
    (registration, else an unmatched guest by name); minutes are the union of their visits."""
    principal = await current_principal()
    st = state()
    async with st.db.read() as db:
        found = await attendance_figures.event_figures(
            db,
            principal,
            event_id,
            now=st.now(),
            min_minutes=st.settings.attendance_min_minutes,
        )
        listed = await attendance.intervals_of(db, event_id)  # event_figures checked access
    f = found.figures
    return AttendanceOut(
        event_id=event_id,
        target=f.target,
        attended=f.attended,
        progress=round(f.progress, 4),
        present_now=f.present_now,
        peak=f.peak,
        peak_at=iso_utc(f.peak_at) if f.peak_at else None,
        total_minutes=f.total_minutes,
        median_minutes=f.median_minutes,
        in_person=f.in_person,
        online=f.online,
        min_minutes=found.min_minutes,
        funnel=FunnelOut(**found.funnel.__dict__),
        breakdowns={name: dict(values) for name, values in f.breakdowns.items()},
        slots=[
            SlotOut(
                slot_id=s.slot_id,
                position=s.position,
                chapter=s.chapter,
                title=s.title,
                starts_at=iso_utc(s.starts_at),
                ends_at=iso_utc(s.ends_at),
                people=s.people,
            )
            for s in found.slots
        ],
        timeline=[StepOut(at=iso_utc(at), people=n) for at, n in f.timeline],
        intervals=[
            IntervalOut(
                registration_id=i.registration_id,
                name=i.name,
                source=i.source,
                joined_at=iso_utc(i.joined_at),
                left_at=iso_utc(i.left_at) if i.left_at else None,
            )
            for i in listed
        ],
    )
