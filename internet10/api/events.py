"""Events API: organisers create and change events; everyone reads published ones."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, StrictBool, StrictInt, ValidationError
from quart import Blueprint, request
from quart_schema import (
    RequestSchemaValidationError,
    validate_querystring,
    validate_request,
    validate_response,
)

from internet10.api.schemas import ErrorBody, Line, Strict, Text, TimeZone, UTCDateTime, iso_utc
from internet10.models import Event, EventKind, EventStatus
from internet10.services import events as service
from internet10.services.meetings import Overflow
from internet10.web import current_principal, google_policy, meeting_policy, state
from scheduler.agenda import AgendaParams, Break, total_minutes

blueprint = Blueprint("api_events", __name__, url_prefix="/api/v1/events")

Minutes = Annotated[StrictInt, Field(gt=0, le=14 * 24 * 60)]
Count = Annotated[StrictInt, Field(ge=0, le=1_000_000)]
RetransmitsId = Annotated[
    StrictInt,
    Field(
        gt=0,
        le=2**31 - 1,
        description="A hub only: the id of our event it retransmits (the Internet10 session "
        "followed from the hub's room); that event's attendance then counts the hub's people.",
    ),
]


class EventCreate(Strict):
    kind: Literal["internet10", "hub"]
    title: Line
    description: Text = ""
    starts_at: UTCDateTime
    duration_minutes: Minutes
    timezone: TimeZone
    capacity: Count
    participant_target: Count | None = Field(
        default=None, description="Defaults to 150 for Internet10, to the capacity for a hub."
    )
    upstream_event: Line | None = None
    retransmits_id: RetransmitsId | None = None
    venue: Line | None = None
    seats: Count | None = None
    bookings_need_approval: StrictBool = False


class EventUpdate(Strict):
    title: Line | None = None
    description: Text | None = None
    starts_at: UTCDateTime | None = None
    duration_minutes: Minutes | None = None
    timezone: TimeZone | None = None
    capacity: Count | None = None
    participant_target: Count | None = None
    upstream_event: Line | None = None
    retransmits_id: RetransmitsId | None = None
    venue: Line | None = None
    seats: Count | None = None
    bookings_need_approval: StrictBool | None = None


class EventOut(BaseModel):
    id: int
    kind: str
    title: str
    description: str
    starts_at: str
    ends_at: str
    duration_minutes: int
    timezone: str
    capacity: int
    participant_target: int
    status: str
    upstream_event: str | None
    retransmits_id: int | None
    venue: str | None
    seats: int | None
    bookings_need_approval: bool
    sequence: int
    public_url: str
    online_meeting: bool = Field(description="The event's online meeting exists (Zoom).")
    overflow_livestream: bool


class EventList(BaseModel):
    events: list[EventOut]


class EventQuery(BaseModel):
    kind: Literal["internet10", "hub"] | None = None


INTERNET10_TARGET = 150


def event_out(event: Event) -> EventOut:
    return EventOut(
        id=event.id,
        kind=event.kind,
        title=event.title,
        description=event.description,
        starts_at=iso_utc(event.starts_at),
        ends_at=iso_utc(event.ends_at),
        duration_minutes=event.duration_minutes,
        timezone=event.timezone,
        capacity=event.capacity,
        participant_target=event.participant_target,
        status=event.status,
        upstream_event=event.upstream_event,
        retransmits_id=event.retransmits_id,
        venue=event.venue,
        seats=event.seats,
        bookings_need_approval=event.bookings_need_approval,
        sequence=event.sequence,
        public_url=f"{state().settings.base_url_str}/events/{event.id}",
        online_meeting=event.meeting_id is not None,
        overflow_livestream=event.overflow_livestream,
    )


@blueprint.post("")
@validate_request(EventCreate)
@validate_response(EventOut, 201)
@validate_response(ErrorBody, 401)
@validate_response(ErrorBody, 403)
@validate_response(ErrorBody, 422)
async def create_event(data: EventCreate) -> tuple[EventOut, int]:
    """Create an event (organisers). It starts as a draft."""
    principal = await current_principal()
    st = state()
    target = data.participant_target
    if target is None:
        target = INTERNET10_TARGET if data.kind == "internet10" else data.capacity
    fields = service.EventFields(
        kind=EventKind(data.kind),
        title=data.title,
        description=data.description,
        starts_at=data.starts_at,
        duration_minutes=data.duration_minutes,
        timezone=data.timezone,
        capacity=data.capacity,
        participant_target=target,
        upstream_event=data.upstream_event,
        retransmits_id=data.retransmits_id,
        venue=data.venue,
        seats=data.seats,
        bookings_need_approval=data.bookings_need_approval,
    )
    async with st.db.write() as db:
        event = await service.create_event(db, principal, fields, now=st.now())
        return event_out(event), 201


@blueprint.get("")
@validate_querystring(EventQuery)
@validate_response(EventList, 200)
@validate_response(ErrorBody, 401)
async def list_events(query_args: EventQuery) -> EventList:
    """Published events for everyone; drafts too for organisers."""
    principal = await current_principal()
    st = state()
    kind = EventKind(query_args.kind) if query_args.kind else None
    async with st.db.read() as db:
        rows = await service.list_events(db, principal, kind=kind)
        return EventList(events=[event_out(e) for e in rows])


@blueprint.get("/<int:event_id>")
@validate_response(EventOut, 200)
@validate_response(ErrorBody, 401)
@validate_response(ErrorBody, 404)
async def get_event(event_id: int) -> EventOut:
    principal = await current_principal()
    st = state()
    async with st.db.read() as db:
        return event_out(await service.get_event(db, principal, event_id))


@blueprint.patch("/<int:event_id>")
@validate_request(EventUpdate)
@validate_response(EventOut, 200)
@validate_response(ErrorBody, 401)
@validate_response(ErrorBody, 403)
@validate_response(ErrorBody, 404)
@validate_response(ErrorBody, 409)
@validate_response(ErrorBody, 422)
async def update_event(event_id: int, data: EventUpdate) -> EventOut:
    """Change an event (organisers). Only the fields given change."""
    principal = await current_principal()
    st = state()
    changes = service.EventChanges(**data.model_dump(exclude_unset=True, exclude_none=True))
    async with st.db.write() as db:
        event = await service.update_event(
            db,
            principal,
            event_id,
            changes,
            now=st.now(),
            meetings=meeting_policy(),
            google=google_policy(),
        )
        return event_out(event)


async def _transition(
    event_id: int, target: EventStatus, overflow: Overflow | None = None
) -> EventOut:
    principal = await current_principal()
    st = state()
    async with st.db.write() as db:
        event = await service.change_status(
            db,
            principal,
            event_id,
            target,
            now=st.now(),
            meetings=meeting_policy(),
            overflow=overflow,
            google=google_policy(),
        )
        return event_out(event)


class PublishIn(Strict):
    overflow: Overflow | None = Field(
        default=None,
        description="Needed when the event expects more people than one meeting host holds "
        "(409 HOST_CAPACITY otherwise): 'livestream' sends the overflow to YouTube Live, "
        "'none' publishes as it is.",
    )


@blueprint.post("/<int:event_id>/publish")
@validate_response(EventOut, 200)
@validate_response(ErrorBody, 401)
@validate_response(ErrorBody, 403)
@validate_response(ErrorBody, 404)
@validate_response(ErrorBody, 409)
@validate_response(ErrorBody, 422)
async def publish_event(event_id: int) -> EventOut:
    """Publish a draft (organisers). Publishing twice is harmless. The body is optional:
    ``{"overflow": "none" | "livestream"}`` (see PublishIn)."""
    raw = await request.get_data()
    choice = PublishIn()
    if raw.strip():
        try:
            choice = PublishIn.model_validate_json(raw)
        except ValidationError as exc:
            raise RequestSchemaValidationError(exc) from None
    return await _transition(event_id, EventStatus.PUBLISHED, choice.overflow)


@blueprint.post("/<int:event_id>/cancel")
@validate_response(EventOut, 200)
@validate_response(ErrorBody, 401)
@validate_response(ErrorBody, 403)
@validate_response(ErrorBody, 404)
@validate_response(ErrorBody, 409)
async def cancel_event(event_id: int) -> EventOut:
    """Cancel an event (organisers) that has not ended."""
    return await _transition(event_id, EventStatus.CANCELLED)


@blueprint.post("/<int:event_id>/start")
@validate_response(EventOut, 200)
@validate_response(ErrorBody, 401)
@validate_response(ErrorBody, 403)
@validate_response(ErrorBody, 404)
@validate_response(ErrorBody, 409)
async def start_event(event_id: int) -> EventOut:
    """Mark a published event live (organisers): its YouTube broadcast, if any, goes live.
    Starting its first slot does the same."""
    return await _transition(event_id, EventStatus.LIVE)


@blueprint.post("/<int:event_id>/end")
@validate_response(EventOut, 200)
@validate_response(ErrorBody, 401)
@validate_response(ErrorBody, 403)
@validate_response(ErrorBody, 404)
@validate_response(ErrorBody, 409)
async def end_event(event_id: int) -> EventOut:
    """Mark a live event ended (organisers): its YouTube broadcast, if any, completes."""
    return await _transition(event_id, EventStatus.ENDED)


class BreakIn(Strict):
    after_slot: Annotated[StrictInt, Field(ge=1, le=100)]
    minutes: Annotated[StrictInt, Field(ge=1, le=240)]


class AgendaIn(Strict):
    opening: Annotated[StrictInt, Field(ge=0, le=240)] = 15
    slots: Annotated[StrictInt, Field(ge=1, le=100)] = 10
    presentation: Annotated[StrictInt, Field(ge=1, le=240)] = 15
    debate: Annotated[StrictInt, Field(ge=0, le=240)] = 8
    breaks: Annotated[list[BreakIn], Field(max_length=20)] = Field(
        default_factory=lambda: [BreakIn(after_slot=5, minutes=10)]
    )
    closing: Annotated[StrictInt, Field(ge=0, le=240)] = 15


class AgendaOut(BaseModel):
    opening: int
    slots: int
    presentation: int
    debate: int
    breaks: list[dict[str, int]]
    closing: int
    total_minutes: int


@blueprint.put("/<int:event_id>/agenda")
@validate_request(AgendaIn)
@validate_response(AgendaOut, 200)
@validate_response(ErrorBody, 401)
@validate_response(ErrorBody, 403)
@validate_response(ErrorBody, 404)
@validate_response(ErrorBody, 409)
@validate_response(ErrorBody, 422)
async def set_agenda(event_id: int, data: AgendaIn) -> AgendaOut:
    """Change the running order's shape (organisers): it must fit the event's duration."""
    principal = await current_principal()
    st = state()
    params = AgendaParams(
        opening=data.opening,
        slots=data.slots,
        presentation=data.presentation,
        debate=data.debate,
        breaks=tuple(Break(b.after_slot, b.minutes) for b in data.breaks),
        closing=data.closing,
    )
    async with st.db.write() as db:
        await service.change_agenda(db, principal, event_id, params, now=st.now())
    return AgendaOut(
        opening=params.opening,
        slots=params.slots,
        presentation=params.presentation,
        debate=params.debate,
        breaks=[{"after_slot": b.after_slot, "minutes": b.minutes} for b in params.breaks],
        closing=params.closing,
        total_minutes=total_minutes(params),
    )
