"""Q&A pages: the attendee's (reached from their personal page), the moderators' actions (the
queues are on their console, pages/moderation.py), the presenter's view, the projector view for
hub rooms, and the hub coordinators' page to relay their room's questions.

Plain forms and links, no JavaScript needed: a form posts, the page comes back. The presenter
and projector views have no form and refresh themselves every few seconds. Pages carry
``data-live-url`` for the live channel's script to update them sooner when it is there.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, cast

from quart import Blueprint, Response, redirect, render_template, request, url_for
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response as WerkzeugResponse

from internet10.errors import (
    Conflict,
    DomainError,
    Forbidden,
    NotAuthenticated,
    NotFound,
    RateLimited,
    ValidationFailed,
)
from internet10.models import Chapter, Event, EventKind, Question, Registration, Slot
from internet10.pages.guard import name_invalid_fields
from internet10.ratelimit import Limit, enforce
from internet10.services import qa
from internet10.services import registration as registrations
from internet10.services.events import event_slots, get_event
from internet10.web import current_principal, state, viewer_zone

blueprint = Blueprint("qa", __name__)
name_invalid_fields(blueprint)

Page = str | tuple[str, int] | tuple[str, int, dict[str, str]] | WerkzeugResponse
Form = MultiDict[str, str]

PERSONAL_ENDPOINTS = frozenset({"qa.attendee_page", "qa.ask", "qa.vote"})
PERSONAL_HEADERS = {"Referrer-Policy": "no-referrer", "Cache-Control": "private, no-store"}
ATTENDEE_DONE = frozenset({"asked", "voted", "unvoted"})
RELAY_DONE = frozenset({"relayed"})
PRESENTER_REFRESH_SECONDS = 20
PROJECTOR_REFRESH_SECONDS = 15


@blueprint.after_request
async def _personal_headers(response: Response) -> Response:
    if request.endpoint in PERSONAL_ENDPOINTS:
        for name, value in PERSONAL_HEADERS.items():
            response.headers[name] = value
    return response


def _id(raw: str | None) -> int | None:
    if raw is None or not raw.isdigit() or len(raw) > 9:
        return None
    return int(raw)


def _pick(
    event: Event, slots: Sequence[Slot], wanted: int | None, *, now: dt.datetime
) -> Slot | None:
    """The slot asked for (``?slot=``), else the one that matters now, else the first."""
    if wanted is not None:
        chosen = next((s for s in slots if s.id == wanted), None)
        if chosen is None:
            raise NotFound(f"No slot with id {wanted} in this event.")
        return chosen
    return qa.current_slot(event, slots, now=now) or (slots[0] if slots else None)


async def _chapters(db: AsyncSession, slots: Sequence[Slot]) -> dict[int, Chapter]:
    ids = {s.chapter_id for s in slots if s.chapter_id is not None}
    if not ids:
        return {}
    return {c.id: c for c in (await db.scalars(select(Chapter).where(Chapter.id.in_(ids))))}


def _live_url(event_id: int) -> str:
    return f"/api/v1/events/{event_id}/live"


# --------------------------------------------------------------------------- attendees


async def _holder(db: AsyncSession, token: str) -> Registration:
    """The registration a personal link opens; unknown and revoked links are the same 404."""
    try:
        return await registrations.by_token(db, token)
    except NotAuthenticated:
        raise NotFound("This personal link is not valid.") from None


async def _attendee_page(
    token: str,
    *,
    slot_id: int | None,
    done: str | None = None,
    error: str | None = None,
    values: Form | None = None,
    status: int = 200,
    retry_after: int | None = None,
) -> Page:
    st = state()
    now = st.now()
    async with st.db.read() as db:
        registration = await _holder(db, token)
        event = await db.get(Event, registration.event_id)
        assert event is not None  # a registration's event is never deleted
        slots = await event_slots(db, event.id)
        slot = _pick(event, slots, slot_id, now=now)
        board = await qa.board(db, slot.id, now=now, attendee=registration) if slot else None
        chapters = await _chapters(db, slots)
    html = await render_template(
        "qa/attendee.html",
        token=token,
        registration=registration,
        event=event,
        slots=slots,
        slot=slot,
        board=board,
        chapters=chapters,
        viewer_zone=viewer_zone(event.timezone),
        done=done if done in ATTENDEE_DONE else None,
        error=error,
        values=values if values is not None else MultiDict({"language": registration.language}),
        text_max=qa.TEXT_MAX,
        live_url=_live_url(event.id),
    )
    if retry_after is not None:
        return html, status, {"Retry-After": str(retry_after)}
    return html, status


@blueprint.get("/me/<token>/qa")
async def attendee_page(token: str) -> Page:
    return await _attendee_page(
        token, slot_id=_id(request.args.get("slot")), done=request.args.get("done")
    )


@blueprint.post("/me/<token>/qa/<int:slot_id>/questions")
async def ask(token: str, slot_id: int) -> Page:
    form: Form = await request.form
    st = state()
    async with st.db.read() as db:
        registration = await _holder(db, token)
    try:
        limit = Limit("qa-question", st.settings.qa_question_rate_per_minute)
        await enforce(st.limiter, limit, f"registration:{registration.id}")
        async with st.db.write() as db:
            await qa.ask(
                db,
                registration.id,
                slot_id,
                text=form.get("text", ""),
                language=form.get("language", ""),
                anonymous=form.get("anonymous") == "yes",
                now=st.now(),
            )
    except ValidationFailed as exc:
        return await _attendee_page(
            token, slot_id=slot_id, error=exc.field or "text", values=form, status=exc.status
        )
    except RateLimited as exc:
        return await _attendee_page(
            token,
            slot_id=slot_id,
            error="rate",
            values=form,
            status=exc.status,
            retry_after=exc.retry_after,
        )
    except qa.QAClosed as exc:
        return await _attendee_page(
            token, slot_id=slot_id, error="closed", values=form, status=exc.status
        )
    return redirect(url_for("qa.attendee_page", token=token, slot=slot_id, done="asked"))


@blueprint.post("/me/<token>/qa/questions/<int:question_id>/vote")
async def vote(token: str, question_id: int) -> Page:
    form: Form = await request.form
    up = form.get("vote") != "withdraw"
    slot_id = _id(form.get("slot"))
    st = state()
    async with st.db.read() as db:
        registration = await _holder(db, token)
    try:
        limit = Limit("qa-vote", st.settings.qa_vote_rate_per_minute)
        await enforce(st.limiter, limit, f"registration:{registration.id}")
        async with st.db.write() as db:
            done = await qa.vote(db, registration.id, question_id, up=up, now=st.now())
    except RateLimited as exc:
        return await _attendee_page(
            token, slot_id=slot_id, error="rate", status=exc.status, retry_after=exc.retry_after
        )
    except qa.QAClosed as exc:
        return await _attendee_page(token, slot_id=slot_id, error="closed", status=exc.status)
    return redirect(
        url_for(
            "qa.attendee_page",
            token=token,
            slot=done.view.question.slot_id,
            done="voted" if up else "unvoted",
            _anchor=f"q{done.view.id}",
        )
    )


# --------------------------------------------------------------------------- moderators


def _console(event_id: int, slot_id: int, **args: str) -> WerkzeugResponse:
    values: dict[str, Any] = {"event_id": event_id, "slot": slot_id, "_anchor": "qa", **args}
    return redirect(url_for("moderation.console", **values))


@blueprint.post("/moderator/slots/<int:slot_id>/qa")
async def set_window(slot_id: int) -> WerkzeugResponse:
    form = await request.form
    wanted = form.get("open")
    if wanted not in ("yes", "no"):
        raise ValidationFailed("Say whether to open or close the questions.", field="open")
    principal = await current_principal()
    st = state()
    async with st.db.write() as db:
        await qa.set_window(db, principal, slot_id, open=wanted == "yes", now=st.now())
        slot = await db.get(Slot, slot_id)
        assert slot is not None  # set_window found it
        event_id = slot.event_id
    return _console(event_id, slot_id, done="qa-open" if wanted == "yes" else "qa-close")


@blueprint.post("/moderator/questions/<int:question_id>/moderation")
async def moderate(question_id: int) -> WerkzeugResponse:
    form = await request.form
    action = form.get("action", "")
    if action not in qa.ACTIONS:
        raise ValidationFailed("Unknown action.", field="action")
    principal = await current_principal()
    st = state()
    async with st.db.read() as db:
        located = await db.execute(
            select(Slot.event_id, Slot.id)
            .join(Question, Question.slot_id == Slot.id)
            .where(Question.id == question_id)
        )
        where = located.first()
    if where is None:
        raise NotFound(f"No question with id {question_id}.")
    event_id, slot_id = where
    try:
        async with st.db.write() as db:
            await qa.moderate(
                db,
                principal,
                question_id,
                cast(qa.Action, action),  # checked against qa.ACTIONS above
                now=st.now(),
                text=form.get("text") if action == "edit" else None,
                language=form.get("language") if action == "edit" else None,
                into=_id(form.get("into")) if action == "merge" else None,
            )
    except (ValidationFailed, Conflict) as exc:
        if principal is None or not principal.moderates(event_id):
            raise
        return _console(event_id, slot_id, error=exc.code, q=str(question_id))
    return _console(event_id, slot_id, done=action, q=str(question_id))


# --------------------------------------------------------------------------- shown to a room


async def _shown(event_id: int, template: str, refresh: int) -> str:
    principal = await current_principal()
    st = state()
    now = st.now()
    async with st.db.read() as db:
        event = await get_event(db, principal, event_id)
        slots = await event_slots(db, event.id)
        slot = _pick(event, slots, _id(request.args.get("slot")), now=now)
        board = await qa.board(db, slot.id, now=now, principal=principal) if slot else None
        chapters = await _chapters(db, slots)
    left = qa.remaining(slot, slots, now=now) if slot else None
    return await render_template(
        template,
        event=event,
        slot=slot,
        slots=slots,
        board=board,
        chapter=chapters.get(slot.chapter_id) if slot and slot.chapter_id else None,
        minutes_left=None if left is None else int(left.total_seconds() // 60),
        refresh=refresh,
        live_url=_live_url(event.id),
    )


@blueprint.get("/events/<int:event_id>/qa/presenter")
async def presenter(event_id: int) -> str:
    """The presenter's screen: the question on air, the approved queue, the time left."""
    return await _shown(event_id, "qa/presenter.html", PRESENTER_REFRESH_SECONDS)


@blueprint.get("/events/<int:event_id>/qa/projector")
async def projector(event_id: int) -> str:
    """For a hub room's projector: large text, no controls."""
    return await _shown(event_id, "qa/projector.html", PROJECTOR_REFRESH_SECONDS)


# --------------------------------------------------------------------------- hub coordinators


async def _relay_page(
    hub_id: int,
    *,
    done: str | None = None,
    error: DomainError | None = None,
    slot_id: int | None = None,
    values: Form | None = None,
    status: int = 200,
) -> Page:
    principal = await current_principal()
    if principal is None:
        return redirect(url_for("staff.login_form"))
    if not principal.coordinates(hub_id):
        raise Forbidden("Only this hub's coordinators relay its room's questions.")
    st = state()
    async with st.db.read() as db:
        hub = await db.get(Event, hub_id)
        if hub is None or hub.kind != EventKind.HUB.value:
            raise NotFound(f"No hub with id {hub_id}.")
        windows = await qa.open_windows(db, now=st.now())
        chapters = await _chapters(db, [w.slot for w in windows])
    html = await render_template(
        "qa/relay.html",
        hub=hub,
        windows=windows,
        chapters=chapters,
        done=done if done in RELAY_DONE else None,
        error=error,
        error_slot=slot_id,
        values=values if values is not None else MultiDict(),
        text_max=qa.TEXT_MAX,
    )
    return html, status


@blueprint.get("/hubs/<int:hub_id>/qa")
async def relay_page(hub_id: int) -> Page:
    return await _relay_page(hub_id, done=request.args.get("done"))


@blueprint.post("/hubs/<int:hub_id>/qa/<int:slot_id>")
async def relay(hub_id: int, slot_id: int) -> Page:
    form: Form = await request.form
    principal = await current_principal()
    if principal is None:
        return redirect(url_for("staff.login_form"))
    st = state()
    try:
        async with st.db.write() as db:
            await qa.relay(
                db,
                principal,
                slot_id,
                hub_id=hub_id,
                text=form.get("text", ""),
                language=form.get("language", ""),
                anonymous=form.get("anonymous") == "yes",
                name=form.get("name") or None,
                now=st.now(),
            )
    except (ValidationFailed, qa.QAClosed) as exc:
        return await _relay_page(hub_id, error=exc, slot_id=slot_id, values=form, status=exc.status)
    return redirect(url_for("qa.relay_page", hub_id=hub_id, done="relayed"))
