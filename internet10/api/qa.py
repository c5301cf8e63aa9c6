"""Live Q&A: the slot's window, questions, votes and moderation.

Attendees send their personal access token as ``Authorization: Bearer <token>`` (the token of
their personal link, as for ``/api/v1/registrations/{id}``); staff send their API token.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, StrictBool, StrictInt
from quart import Blueprint, request
from quart_schema import validate_request, validate_response

from internet10.api.schemas import ErrorBody, Strict, iso_utc
from internet10.errors import NotAuthenticated, ValidationFailed
from internet10.models import Registration
from internet10.ratelimit import Limit, enforce
from internet10.services import qa as service
from internet10.services import registration as registrations
from internet10.services.auth import Principal
from internet10.web import bearer_token, current_principal, state

blueprint = Blueprint("api_qa", __name__, url_prefix="/api/v1")

Id = Annotated[StrictInt, Field(ge=1, le=2**31 - 1)]
QuestionText = Annotated[
    str,
    AfterValidator(service.clean_text),
    Field(description=f"1 to {service.TEXT_MAX} characters of plain text (HTML is refused)."),
]
AskerName = Annotated[str, AfterValidator(service.clean_name)]


class WindowIn(Strict):
    open: StrictBool


class WindowOut(BaseModel):
    slot_id: int
    open: bool
    starts_at: str | None = Field(description="The slot's start that opens the window.")
    ends_at: str | None = Field(description="The slot's end that closes the window.")
    decided: bool | None = Field(description="The moderators' last decision: open or closed.")
    decided_at: str | None


class QuestionIn(Strict):
    text: QuestionText
    language: Literal["fr", "en"]
    anonymous: StrictBool = False
    hub_id: Id | None = Field(
        default=None, description="Hub coordinators: the hub whose room asks the question."
    )
    name: AskerName | None = Field(
        default=None, description="Hub coordinators: the name the person in the room gave."
    )


class QuestionCreated(BaseModel):
    id: int
    status: str


class ModerationIn(Strict):
    action: Literal[
        "approve", "dismiss", "pin", "unpin", "on_air", "off_air", "answered", "merge", "edit"
    ]
    text: QuestionText | None = Field(default=None, description="edit: the corrected text.")
    language: Literal["fr", "en"] | None = Field(default=None, description="edit: optional.")
    into: Id | None = Field(default=None, description="merge: the question to keep.")


class ModerationOut(BaseModel):
    anonymous: bool
    asker_name: str | None
    registration_id: int | None
    relayed_by_hub_id: int | None
    original_text: str | None
    updated_at: str


class QuestionOut(BaseModel):
    id: int
    slot_id: int
    text: str
    language: str
    status: str
    votes: int
    pinned: bool
    on_air: bool
    answered: bool
    hub: str | None
    asker: str | None = Field(description="The asker's name; null when anonymous.")
    created_at: str
    voted: bool | None = Field(default=None, description="Whether the calling attendee voted.")
    merged_into: int | None = None
    moderation: ModerationOut | None = Field(default=None, description="Moderators only.")


class QuestionsOut(BaseModel):
    slot_id: int
    event_id: int
    open: bool
    questions: list[QuestionOut] = Field(description="Approved questions, in display order.")
    mine: list[QuestionOut] = Field(description="The calling attendee's own questions.")
    pending: list[QuestionOut] = Field(description="Moderators (?view=moderator): oldest first.")
    dismissed: list[QuestionOut]
    merged: list[QuestionOut]


class VoteOut(BaseModel):
    id: int
    votes: int
    voted: bool


class LoggedActionOut(BaseModel):
    id: int
    action: str
    question_id: int | None
    by: str
    at: str
    details: dict[str, Any]


class ModerationLogOut(BaseModel):
    slot_id: int
    actions: list[LoggedActionOut]


def _window(w: service.Window) -> WindowOut:
    return WindowOut(
        slot_id=w.slot_id,
        open=w.open,
        starts_at=iso_utc(w.starts_at) if w.starts_at else None,
        ends_at=iso_utc(w.ends_at) if w.ends_at else None,
        decided=w.decided,
        decided_at=iso_utc(w.decided_at) if w.decided_at else None,
    )


def _moderated(view: service.QuestionView) -> QuestionOut:
    data = view.moderated()
    extra = {k: data.pop(k) for k in list(ModerationOut.model_fields)}
    return QuestionOut(**data, moderation=ModerationOut(**extra))


async def _caller() -> tuple[Registration | None, Principal | None]:
    """The attendee (personal access token) or the staff member (API token or sign-in)."""
    token = bearer_token()
    if token is not None:
        async with state().db.read() as db:
            try:
                return await registrations.by_token(db, token), None
            except NotAuthenticated:
                pass
    return None, await current_principal()


async def _attendee() -> Registration:
    attendee, _principal = await _caller()
    if attendee is None:
        raise NotAuthenticated("Send your personal access token as 'Authorization: Bearer …'.")
    return attendee


@blueprint.get("/slots/<int:slot_id>/qa")
@validate_response(WindowOut, 200)
@validate_response(ErrorBody, 404)
async def get_window(slot_id: int) -> WindowOut:
    """Whether the slot takes questions now, and why."""
    principal = await current_principal()
    st = state()
    async with st.db.read() as db:
        return _window(await service.slot_window(db, principal, slot_id, now=st.now()))


@blueprint.post("/slots/<int:slot_id>/qa")
@validate_request(WindowIn)
@validate_response(WindowOut, 200)
@validate_response(ErrorBody, 401)
@validate_response(ErrorBody, 403)
@validate_response(ErrorBody, 404)
@validate_response(ErrorBody, 409)
async def set_window(slot_id: int, data: WindowIn) -> WindowOut:
    """Open a slot's questions early, or close them (the event's moderators and organisers)."""
    principal = await current_principal()
    st = state()
    async with st.db.write() as db:
        w = await service.set_window(db, principal, slot_id, open=data.open, now=st.now())
    return _window(w)


@blueprint.post("/slots/<int:slot_id>/questions")
@validate_request(QuestionIn)
@validate_response(QuestionCreated, 201)
@validate_response(ErrorBody, 401)
@validate_response(ErrorBody, 403)
@validate_response(ErrorBody, 404)
@validate_response(ErrorBody, 409)
@validate_response(ErrorBody, 422)
@validate_response(ErrorBody, 429)
async def ask(slot_id: int, data: QuestionIn) -> tuple[QuestionCreated, int]:
    """Ask a question (attendees), or relay one from a hub's room (its coordinators, with
    ``hub_id``). It waits for a moderator; 409 ``QA_CLOSED`` outside the slot's window."""
    attendee, principal = await _caller()
    st = state()
    if attendee is not None:
        if data.hub_id is not None or data.name is not None:
            field = "hub_id" if data.hub_id is not None else "name"
            raise ValidationFailed(f"{field}: only hub coordinators relay questions", field=field)
        limit = Limit("qa-question", st.settings.qa_question_rate_per_minute)
        await enforce(st.limiter, limit, f"registration:{attendee.id}")
        async with st.db.write() as db:
            question = await service.ask(
                db,
                attendee.id,
                slot_id,
                text=data.text,
                language=data.language,
                anonymous=data.anonymous,
                now=st.now(),
            )
    else:
        if principal is None:
            raise NotAuthenticated("Send your personal access token as 'Authorization: Bearer …'.")
        if data.hub_id is None:
            raise ValidationFailed("hub_id: give the hub whose room asks", field="hub_id")
        async with st.db.write() as db:
            question = await service.relay(
                db,
                principal,
                slot_id,
                hub_id=data.hub_id,
                text=data.text,
                language=data.language,
                anonymous=data.anonymous,
                name=data.name,
                now=st.now(),
            )
    return QuestionCreated(id=question.id, status=question.status), 201


@blueprint.get("/slots/<int:slot_id>/questions")
@validate_response(QuestionsOut, 200)
@validate_response(ErrorBody, 401)
@validate_response(ErrorBody, 403)
@validate_response(ErrorBody, 404)
@validate_response(ErrorBody, 422)
async def list_questions(slot_id: int) -> QuestionsOut:
    """The slot's approved questions (pinned, then by votes, then time; answered ones last),
    also after its window closed. With an attendee's token: their own questions and votes.
    ``?view=moderator`` (moderators): pending, dismissed and merged ones too, with askers."""
    view = request.args.get("view", "attendee")
    if view not in ("attendee", "moderator"):
        raise ValidationFailed("view: must be 'attendee' or 'moderator'", field="view")
    attendee, principal = await _caller()
    st = state()
    async with st.db.read() as db:
        b = await service.board(
            db,
            slot_id,
            now=st.now(),
            principal=principal,
            attendee=attendee,
            moderated=view == "moderator",
        )
    if b.moderated:
        questions = [_moderated(v) for v in b.approved]
    else:
        questions = [
            QuestionOut(**v.public(), voted=(v.id in b.voted) if attendee else None)
            for v in b.approved
        ]
    return QuestionsOut(
        slot_id=b.slot.id,
        event_id=b.event.id,
        open=b.window.open,
        questions=questions,
        mine=[QuestionOut(**v.own()) for v in b.mine],
        pending=[_moderated(v) for v in b.pending],
        dismissed=[_moderated(v) for v in b.dismissed],
        merged=[_moderated(v) for v in b.merged],
    )


async def _vote(question_id: int, *, up: bool) -> VoteOut:
    attendee = await _attendee()
    st = state()
    await enforce(
        st.limiter,
        Limit("qa-vote", st.settings.qa_vote_rate_per_minute),
        f"registration:{attendee.id}",
    )
    async with st.db.write() as db:
        done = await service.vote(db, attendee.id, question_id, up=up, now=st.now())
    return VoteOut(id=done.view.id, votes=done.view.votes, voted=done.voted)


@blueprint.post("/questions/<int:question_id>/vote")
@validate_response(VoteOut, 200)
@validate_response(ErrorBody, 401)
@validate_response(ErrorBody, 403)
@validate_response(ErrorBody, 404)
@validate_response(ErrorBody, 409)
@validate_response(ErrorBody, 429)
async def vote(question_id: int) -> VoteOut:
    """Vote for an approved question (once: voting again changes nothing)."""
    return await _vote(question_id, up=True)


@blueprint.delete("/questions/<int:question_id>/vote")
@validate_response(VoteOut, 200)
@validate_response(ErrorBody, 401)
@validate_response(ErrorBody, 403)
@validate_response(ErrorBody, 404)
@validate_response(ErrorBody, 409)
@validate_response(ErrorBody, 429)
async def withdraw_vote(question_id: int) -> VoteOut:
    """Withdraw one's vote."""
    return await _vote(question_id, up=False)


@blueprint.post("/questions/<int:question_id>/moderation")
@validate_request(ModerationIn)
@validate_response(QuestionOut, 200)
@validate_response(ErrorBody, 401)
@validate_response(ErrorBody, 403)
@validate_response(ErrorBody, 404)
@validate_response(ErrorBody, 409)
@validate_response(ErrorBody, 422)
async def moderate(question_id: int, data: ModerationIn) -> QuestionOut:
    """Approve, dismiss, pin, unpin, put on air, take off air, mark answered, merge into
    another question (``into``) or edit (``text``, ``language``; the original is kept). The
    event's moderators and organisers; each action is recorded with who and when."""
    principal = await current_principal()
    st = state()
    async with st.db.write() as db:
        view = await service.moderate(
            db,
            principal,
            question_id,
            data.action,
            now=st.now(),
            text=data.text,
            language=data.language,
            into=data.into,
        )
    return _moderated(view)


@blueprint.get("/slots/<int:slot_id>/moderation")
@validate_response(ModerationLogOut, 200)
@validate_response(ErrorBody, 401)
@validate_response(ErrorBody, 403)
@validate_response(ErrorBody, 404)
async def moderation_log(slot_id: int) -> ModerationLogOut:
    """Every moderation action on the slot's Q&A, oldest first: who, when, what."""
    principal = await current_principal()
    st = state()
    async with st.db.read() as db:
        rows = await service.moderation_log(db, principal, slot_id)
    return ModerationLogOut(
        slot_id=slot_id,
        actions=[
            LoggedActionOut(
                id=r.action.id,
                action=r.action.action,
                question_id=r.action.question_id,
                by=r.by,
                at=iso_utc(r.action.created_at),
                details=r.action.details,
            )
            for r in rows
        ],
    )
