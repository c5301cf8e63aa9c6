"""Fair planning API: organisers ask for proposals and apply one to an Internet10 event."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, Field, StrictBool, StrictInt, StringConstraints
from quart import Blueprint
from quart_schema import validate_request, validate_response

from internet10.api.events import EventOut, event_out
from internet10.api.schemas import ErrorBody, Strict, UTCDateTime
from internet10.errors import ValidationFailed
from internet10.services import planning as service
from internet10.web import current_principal, state
from scheduler.planner import proposal_to_json

blueprint = Blueprint("api_planning", __name__, url_prefix="/api/v1/events")


def _date(value: Any) -> dt.date:
    if not isinstance(value, str):
        raise ValueError("must be a date as YYYY-MM-DD")
    try:
        return service.parse_date(value)
    except ValidationFailed as exc:
        raise ValueError(exc.message.removeprefix("date: ")) from None


PlanDate = Annotated[dt.date, BeforeValidator(_date)]
ChapterCode = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)]


class PlanRequest(Strict):
    date: PlanDate | None = Field(
        default=None,
        description="The event's date in its own time zone; defaults to its current start date.",
    )
    chapters: list[ChapterCode] | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="Chapter codes to plan, first listed wins ties; default: every chapter.",
    )
    top: Annotated[StrictInt, Field(ge=1, le=service.MAX_TOP)] = service.DEFAULT_TOP


class SlotOut(BaseModel):
    position: int
    chapter: str
    starts_at: str
    ends_at: str
    local_start: str
    local_end: str
    minutes_outside: int


class UnservedOut(BaseModel):
    chapter: str
    minutes_outside: int


class ProposalOut(BaseModel):
    starts_at: str
    ends_at: str
    order: list[str] = Field(description="Chapter codes by slot position; open slots omitted.")
    minutes_outside_total: int
    session_minutes_outside_total: int
    slots: list[SlotOut]
    unserved: list[UnservedOut]


class PlanOut(BaseModel):
    proposals: list[ProposalOut]


class ApplyRequest(Strict):
    starts_at: UTCDateTime
    order: list[ChapterCode | None] = Field(
        min_length=1,
        max_length=100,
        description=(
            "Chapter code for slot 1, 2, ...; null leaves that slot open. To apply a proposal "
            "whose slots skip positions, put each slot's chapter at index position - 1."
        ),
    )
    force: StrictBool = Field(
        default=False, description="Move chapters that already booked another slot."
    )


@blueprint.post("/<int:event_id>/plan")
@validate_request(PlanRequest)
@validate_response(PlanOut, 200)
@validate_response(ErrorBody, 401)
@validate_response(ErrorBody, 403)
@validate_response(ErrorBody, 404)
@validate_response(ErrorBody, 409)
@validate_response(ErrorBody, 422)
async def propose(event_id: int, data: PlanRequest) -> PlanOut:
    """Best start times on a date and, for each, the fairest running order (organisers).

    The same JSON as ``internet10 plan --json``, computed from the event's agenda and zone.
    """
    principal = await current_principal()
    st = state()
    async with st.db.read() as db:
        result = await service.propose(
            db,
            principal,
            event_id,
            now=st.now(),
            date=data.date,
            chapters=data.chapters,
            top=data.top,
        )
    return PlanOut.model_validate({"proposals": [proposal_to_json(p) for p in result.proposals]})


@blueprint.post("/<int:event_id>/plan/apply")
@validate_request(ApplyRequest)
@validate_response(EventOut, 200)
@validate_response(ErrorBody, 401)
@validate_response(ErrorBody, 403)
@validate_response(ErrorBody, 404)
@validate_response(ErrorBody, 409)
@validate_response(ErrorBody, 422)
async def apply(event_id: int, data: ApplyRequest) -> EventOut:
    """Move the event to a proposal's start and give its slots to the chapters in order."""
    principal = await current_principal()
    st = state()
    async with st.db.write() as db:
        event = await service.apply(
            db,
            principal,
            event_id,
            starts_at=data.starts_at,
            order=data.order,
            force=data.force,
            now=st.now(),
        )
        return event_out(event)
