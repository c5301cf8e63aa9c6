"""Attendance of an event, for its moderators and organisers."""

from __future__ import annotations

from pydantic import BaseModel
from quart import Blueprint
from quart_schema import validate_response

from internet10.api.schemas import ErrorBody, iso_utc
from internet10.services import attendance as service
from internet10.web import current_principal, state

blueprint = Blueprint("api_attendance", __name__, url_prefix="/api/v1")


class IntervalOut(BaseModel):
    registration_id: int | None
    name: str
    source: str
    joined_at: str
    left_at: str | None


class AttendanceOut(BaseModel):
    event_id: int
    people: int
    present_now: int
    intervals: list[IntervalOut]


@blueprint.get("/events/<int:event_id>/attendance")
@validate_response(AttendanceOut, 200)
@validate_response(ErrorBody, 401)
@validate_response(ErrorBody, 403)
@validate_response(ErrorBody, 404)
async def event_attendance(event_id: int) -> AttendanceOut:
    """Unique people who attended (a registration counts once, an unmatched guest once), who is
    in the meeting now, and every join..leave interval (sources: ``zoom`` webhooks, the
    participants ``report``)."""
    principal = await current_principal()
    async with state().db.read() as db:
        found = await service.snapshot(db, principal, event_id)
    return AttendanceOut(
        event_id=found.event_id,
        people=found.people,
        present_now=found.present_now,
        intervals=[
            IntervalOut(
                registration_id=i.registration_id,
                name=i.name,
                source=i.source,
                joined_at=iso_utc(i.joined_at),
                left_at=iso_utc(i.left_at) if i.left_at else None,
            )
            for i in found.intervals
        ],
    )
