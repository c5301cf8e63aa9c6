"""Slots API: chapters book, edit, cancel and swap slots; organisers approve, assign and move."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, StrictInt
from quart import Blueprint
from quart_schema import validate_request, validate_response

from internet10.api.schemas import ErrorBody, Strict, iso_utc
from internet10.models import SlotSwap
from internet10.services import booking as service
from internet10.web import current_principal, google_policy, state

blueprint = Blueprint("api_slots", __name__, url_prefix="/api/v1")

Title = Annotated[str, Field(max_length=service.TITLE_MAX), AfterValidator(service.clean_title)]
Abstract = Annotated[
    str, Field(max_length=service.ABSTRACT_MAX), AfterValidator(service.clean_abstract)
]
Name = Annotated[str, Field(max_length=service.NAME_MAX), AfterValidator(service.clean_name)]
Email = Annotated[str, Field(max_length=320), AfterValidator(service.clean_email)]
SlidesURL = Annotated[
    str,
    Field(max_length=service.URL_MAX, description="An https:// link."),
    AfterValidator(service.clean_slides_url),
]
Language = Literal["fr", "en"]
ChapterCode = Annotated[str, Field(min_length=1, max_length=32)]
Id = Annotated[StrictInt, Field(ge=1, le=2**31 - 1)]


class SpeakerIn(Strict):
    name: Name
    email: Email


Speakers = Annotated[list[SpeakerIn], Field(min_length=1, max_length=service.SPEAKERS_MAX)]


class BookingCreate(Strict):
    chapter: ChapterCode | None = Field(
        default=None, description="Organisers only: the chapter to book for."
    )
    title: Title
    abstract: Abstract = ""
    language: Language
    speakers: Speakers
    slides_url: SlidesURL | None = None


class BookingUpdate(Strict):
    """Only the fields given change; ``slides_url: null`` removes the link."""

    title: Title | None = None
    abstract: Abstract | None = None
    language: Language | None = None
    speakers: Speakers | None = None
    slides_url: SlidesURL | None = None


class AssignIn(Strict):
    chapter: ChapterCode


class SwapIn(Strict):
    to_slot_id: Id


class ChapterOut(BaseModel):
    code: str
    name: str
    timezone: str


class SpeakerOut(BaseModel):
    name: str
    email: str


class PresentationOut(BaseModel):
    title: str
    abstract: str
    language: str
    slides_url: str | None
    speakers: list[SpeakerOut] | None = Field(
        description="Organisers and the holding chapter's delegates only; null for others."
    )


class SlotOut(BaseModel):
    id: int
    event_id: int
    position: int
    starts_at: str
    ends_at: str
    presentation_minutes: int
    debate_minutes: int
    status: Literal["open", "pending", "booked"]
    chapter: ChapterOut | None
    presentation: PresentationOut | None


class SlotList(BaseModel):
    slots: list[SlotOut]


class SwapOut(BaseModel):
    id: int
    status: Literal["pending", "accepted", "declined", "withdrawn"]
    from_slot_id: int
    to_slot_id: int


class SwapList(BaseModel):
    swaps: list[SwapOut]


def slot_out(view: service.SlotView) -> SlotOut:
    slot, chapter = view.slot, view.chapter
    presentation = None
    if slot.chapter_id is not None and slot.title is not None:
        presentation = PresentationOut(
            title=slot.title,
            abstract=slot.abstract or "",
            language=slot.language or "",
            slides_url=slot.slides_url,
            speakers=[SpeakerOut(name=s.name, email=s.email) for s in view.speakers]
            if view.show_speakers
            else None,
        )
    return SlotOut(
        id=slot.id,
        event_id=slot.event_id,
        position=slot.position,
        starts_at=iso_utc(slot.starts_at),
        ends_at=iso_utc(slot.ends_at),
        presentation_minutes=slot.presentation_minutes,
        debate_minutes=slot.debate_minutes,
        status=view.status.value,
        chapter=None
        if chapter is None
        else ChapterOut(code=chapter.code, name=chapter.name, timezone=chapter.timezone),
        presentation=presentation,
    )


def swap_out(swap: SlotSwap) -> SwapOut:
    return SwapOut(
        id=swap.id,
        status=service.SwapStatus(swap.status).value,
        from_slot_id=swap.from_slot_id,
        to_slot_id=swap.to_slot_id,
    )


def _speakers(items: list[SpeakerIn]) -> tuple[service.Speaker, ...]:
    return tuple(service.Speaker(name=s.name, email=s.email) for s in items)


@blueprint.get("/events/<int:event_id>/slots")
@validate_response(SlotList, 200)
@validate_response(ErrorBody, 401)
@validate_response(ErrorBody, 404)
async def list_slots(event_id: int) -> SlotList:
    """The event's running order with who holds each slot (times in UTC)."""
    principal = await current_principal()
    async with state().db.read() as db:
        _event, views = await service.list_slots(db, principal, event_id)
        return SlotList(slots=[slot_out(v) for v in views])


@blueprint.get("/events/<int:event_id>/swaps")
@validate_response(SwapList, 200)
@validate_response(ErrorBody, 401)
@validate_response(ErrorBody, 403)
@validate_response(ErrorBody, 404)
async def list_swaps(event_id: int) -> SwapList:
    """Pending swaps: those your chapter proposed or received (organisers: all)."""
    principal = await current_principal()
    async with state().db.read() as db:
        views = await service.list_swaps(db, principal, event_id)
        return SwapList(swaps=[swap_out(v.swap) for v in views])


@blueprint.post("/slots/<int:slot_id>/booking")
@validate_request(BookingCreate)
@validate_response(SlotOut, 201)
@validate_response(ErrorBody, 401)
@validate_response(ErrorBody, 403)
@validate_response(ErrorBody, 404)
@validate_response(ErrorBody, 409)
@validate_response(ErrorBody, 422)
async def book_slot(slot_id: int, data: BookingCreate) -> tuple[SlotOut, int]:
    """Book an open slot for your chapter (organisers: for the chapter named). One slot per
    chapter per event; pending until approved when the event requires approval."""
    principal = await current_principal()
    st = state()
    presentation = service.Presentation(
        title=data.title,
        abstract=data.abstract,
        language=data.language,
        speakers=_speakers(data.speakers),
        slides_url=data.slides_url,
    )
    async with st.db.write() as db:
        view = await service.book_slot(
            db,
            principal,
            slot_id,
            presentation,
            chapter_code=data.chapter,
            now=st.now(),
            google=google_policy(),
        )
        return slot_out(view), 201


@blueprint.patch("/slots/<int:slot_id>/booking")
@validate_request(BookingUpdate)
@validate_response(SlotOut, 200)
@validate_response(ErrorBody, 401)
@validate_response(ErrorBody, 403)
@validate_response(ErrorBody, 404)
@validate_response(ErrorBody, 409)
@validate_response(ErrorBody, 422)
async def update_booking(slot_id: int, data: BookingUpdate) -> SlotOut:
    """Change the presentation (the holding chapter's delegate or an organiser)."""
    principal = await current_principal()
    st = state()
    slides_url = data.slides_url
    if slides_url is None and "slides_url" in data.model_fields_set:
        slides_url = ""  # an explicit null removes the link
    changes = service.PresentationChanges(
        title=data.title,
        abstract=data.abstract,
        language=data.language,
        speakers=None if data.speakers is None else _speakers(data.speakers),
        slides_url=slides_url,
    )
    async with st.db.write() as db:
        view = await service.update_booking(
            db, principal, slot_id, changes, now=st.now(), google=google_policy()
        )
        return slot_out(view)


@blueprint.delete("/slots/<int:slot_id>/booking")
@validate_response(SlotOut, 200)
@validate_response(ErrorBody, 401)
@validate_response(ErrorBody, 403)
@validate_response(ErrorBody, 404)
@validate_response(ErrorBody, 409)
async def cancel_booking(slot_id: int) -> SlotOut:
    """Cancel a booking: the slot becomes open again."""
    principal = await current_principal()
    st = state()
    async with st.db.write() as db:
        return slot_out(await service.cancel_booking(db, principal, slot_id, now=st.now()))


@blueprint.post("/slots/<int:slot_id>/booking/approve")
@validate_response(SlotOut, 200)
@validate_response(ErrorBody, 401)
@validate_response(ErrorBody, 403)
@validate_response(ErrorBody, 404)
@validate_response(ErrorBody, 409)
async def approve_booking(slot_id: int) -> SlotOut:
    """Confirm a pending booking (organisers)."""
    principal = await current_principal()
    st = state()
    async with st.db.write() as db:
        view = await service.approve_booking(
            db, principal, slot_id, now=st.now(), google=google_policy()
        )
        return slot_out(view)


@blueprint.post("/slots/<int:slot_id>/assign")
@validate_request(AssignIn)
@validate_response(SlotOut, 200)
@validate_response(ErrorBody, 401)
@validate_response(ErrorBody, 403)
@validate_response(ErrorBody, 404)
@validate_response(ErrorBody, 409)
@validate_response(ErrorBody, 422)
async def assign_slot(slot_id: int, data: AssignIn) -> SlotOut:
    """Put a chapter in this open slot (organisers); a chapter holding another slot moves here
    with its presentation."""
    principal = await current_principal()
    st = state()
    async with st.db.write() as db:
        view = await service.assign_slot(db, principal, slot_id, data.chapter, now=st.now())
        return slot_out(view)


@blueprint.post("/slots/<int:slot_id>/swaps")
@validate_request(SwapIn)
@validate_response(SwapOut, 201)
@validate_response(ErrorBody, 401)
@validate_response(ErrorBody, 403)
@validate_response(ErrorBody, 404)
@validate_response(ErrorBody, 409)
@validate_response(ErrorBody, 422)
async def propose_swap(slot_id: int, data: SwapIn) -> tuple[SwapOut, int]:
    """Propose to the chapter holding ``to_slot_id`` to exchange slots with yours."""
    principal = await current_principal()
    st = state()
    async with st.db.write() as db:
        swap = await service.propose_swap(db, principal, slot_id, data.to_slot_id, now=st.now())
        return swap_out(swap), 201


async def _decide(swap_id: int, action: str) -> SwapOut:
    principal = await current_principal()
    st = state()
    decide = {
        "accept": service.accept_swap,
        "decline": service.decline_swap,
        "withdraw": service.withdraw_swap,
    }[action]
    async with st.db.write() as db:
        return swap_out(await decide(db, principal, swap_id, now=st.now()))


@blueprint.post("/swaps/<int:swap_id>/accept")
@validate_response(SwapOut, 200)
@validate_response(ErrorBody, 401)
@validate_response(ErrorBody, 403)
@validate_response(ErrorBody, 404)
@validate_response(ErrorBody, 409)
async def accept_swap(swap_id: int) -> SwapOut:
    """Accept a swap proposed to your chapter: the two chapters exchange slots."""
    return await _decide(swap_id, "accept")


@blueprint.post("/swaps/<int:swap_id>/decline")
@validate_response(SwapOut, 200)
@validate_response(ErrorBody, 401)
@validate_response(ErrorBody, 403)
@validate_response(ErrorBody, 404)
@validate_response(ErrorBody, 409)
async def decline_swap(swap_id: int) -> SwapOut:
    """Decline a swap proposed to your chapter."""
    return await _decide(swap_id, "decline")


@blueprint.post("/swaps/<int:swap_id>/withdraw")
@validate_response(SwapOut, 200)
@validate_response(ErrorBody, 401)
@validate_response(ErrorBody, 403)
@validate_response(ErrorBody, 404)
@validate_response(ErrorBody, 409)
async def withdraw_swap(swap_id: int) -> SwapOut:
    """Withdraw a swap your chapter proposed."""
    return await _decide(swap_id, "withdraw")
