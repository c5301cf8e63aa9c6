"""The live running order: read it (everyone who may see the event), drive it (moderators)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, StrictInt
from quart import Blueprint
from quart_schema import validate_request, validate_response

from internet10.api.schemas import ErrorBody, Strict, iso_utc
from internet10.services import running as service
from internet10.web import current_principal, state

blueprint = Blueprint("api_running", __name__, url_prefix="/api/v1")


class LiveActionIn(Strict):
    action: Literal["start", "end", "extend", "skip", "unskip"]
    minutes: Annotated[StrictInt, Field(ge=1, le=service.MAX_EXTENSION_MINUTES)] | None = None


class RunningSlotOut(BaseModel):
    id: int
    position: int
    chapter: str | None
    title: str | None
    status: str
    planned_start: str
    planned_end: str
    estimated_start: str
    estimated_end: str
    drift_minutes: int


class RunningOrderOut(BaseModel):
    event_id: int
    event_status: str
    slots: list[RunningSlotOut]


async def _order(event_id: int) -> RunningOrderOut:
    principal = await current_principal()
    st = state()
    async with st.db.read() as db:
        event, rows = await service.running_order(db, principal, event_id, now=st.now())
    return RunningOrderOut(
        event_id=event.id,
        event_status=event.status,
        slots=[
            RunningSlotOut(
                id=r.slot.id,
                position=r.slot.position,
                chapter=r.chapter.code if r.chapter else None,
                title=r.slot.title,
                status=r.estimate.status,
                planned_start=iso_utc(r.estimate.planned_start),
                planned_end=iso_utc(r.estimate.planned_end),
                estimated_start=iso_utc(r.estimate.estimated_start),
                estimated_end=iso_utc(r.estimate.estimated_end),
                drift_minutes=r.estimate.drift_minutes,
            )
            for r in rows
        ],
    )


@blueprint.get("/events/<int:event_id>/running-order")
@validate_response(RunningOrderOut, 200)
@validate_response(ErrorBody, 401)
@validate_response(ErrorBody, 404)
async def get_running_order(event_id: int) -> RunningOrderOut:
    """Planned and estimated times of every slot, re-estimated from what actually happened."""
    return await _order(event_id)


@blueprint.post("/slots/<int:slot_id>/live")
@validate_request(LiveActionIn)
@validate_response(RunningOrderOut, 200)
@validate_response(ErrorBody, 401)
@validate_response(ErrorBody, 403)
@validate_response(ErrorBody, 404)
@validate_response(ErrorBody, 409)
@validate_response(ErrorBody, 422)
async def drive_slot(slot_id: int, data: LiveActionIn) -> RunningOrderOut:
    """Mark a slot started or ended, extend it by some minutes, or skip it (moderators)."""
    principal = await current_principal()
    st = state()
    async with st.db.write() as db:
        slot = await service.act(
            db, principal, slot_id, data.action, now=st.now(), minutes=data.minutes
        )
        event_id = slot.event_id
    return await _order(event_id)
