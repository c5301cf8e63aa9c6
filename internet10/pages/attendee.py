"""Attendees' pages: the registration form, the personal page a mailed link opens (status and
waitlist place, the programme in local time, a calendar file, Join, cancel, the hub's check-in
QR code) and the Join link.

Plain forms, no JavaScript. The personal token is in the URL, so those pages are never cached
and never sent as a referrer; an unknown or revoked link is a plain 404, like any missing page.
"""

from __future__ import annotations

from collections.abc import Sequence

import segno
from icalendar import Calendar
from markupsafe import Markup
from quart import Blueprint, Response, g, redirect, render_template, request, url_for
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response as WerkzeugResponse

from internet10.errors import Conflict, NotAuthenticated, NotFound, ValidationFailed
from internet10.i18n import translator
from internet10.models import Chapter, Event, EventKind, Registration, RegistrationStatus
from internet10.pages.applicant_form import (
    Form,
    chapter_choices,
    countries,
    read_applicant,
)
from internet10.pages.guard import name_invalid_fields
from internet10.ratelimit import Limit, enforce
from internet10.services import calendar, checkin, livestreams
from internet10.services import events as events_service
from internet10.services import hubs as hubs_service
from internet10.services import registration as service
from internet10.web import current_principal, state, viewer_zone

blueprint = Blueprint("attendee", __name__)
name_invalid_fields(blueprint)

PERSONAL_ENDPOINTS = frozenset(
    {"attendee.personal", "attendee.cancel", "attendee.personal_calendar", "attendee.join"}
)
PERSONAL_HEADERS = {"Referrer-Policy": "no-referrer", "Cache-Control": "private, no-store"}
DONE = frozenset({"registered", "cancelled"})

Page = str | tuple[str, int] | WerkzeugResponse


@blueprint.after_request
async def _personal_headers(response: Response) -> Response:
    if request.endpoint in PERSONAL_ENDPOINTS:
        for name, value in PERSONAL_HEADERS.items():
            response.headers[name] = value
    return response


def _modes(event: Event) -> tuple[str, ...]:
    if event.kind == EventKind.HUB.value and event.seats:
        return ("online", "in_person")
    return ("online",)


async def _form_page(
    event: Event,
    *,
    values: Form | None = None,
    invalid: Sequence[str] = (),
    refused: str | None = None,
    done: str | None = None,
    status: int = 200,
) -> tuple[str, int]:
    st = state()
    async with st.db.read() as db:
        chapters = await chapter_choices(db)
    given = values if values is not None else MultiDict({"language": g.language})
    html = await render_template(
        "attendee/register.html",
        event=event,
        open=event.status in service.OPEN_STATUSES,
        modes=_modes(event),
        countries=countries(g.language),
        chapters=chapters,
        values=given,
        invalid=list(invalid),
        refused=refused,
        done=done if done == "already" else None,
    )
    return html, status


@blueprint.get("/events/<int:event_id>/register")
async def register_form(event_id: int) -> Page:
    principal = await current_principal()
    async with state().db.read() as db:
        event = await events_service.get_event(db, principal, event_id)
    return await _form_page(event, done=request.args.get("done"))


@blueprint.post("/events/<int:event_id>/register")
async def register(event_id: int) -> Page:
    principal = await current_principal()
    st = state()
    form: Form = await request.form
    async with st.db.read() as db:
        event = await events_service.get_event(db, principal, event_id)
    applicant, invalid = read_applicant(form, modes=_modes(event))
    if applicant is None:
        return await _form_page(event, values=form, invalid=invalid, status=422)
    limit = Limit("register", st.settings.registration_rate_per_minute)
    await enforce(st.limiter, limit, request.remote_addr or "unknown")
    try:
        async with st.db.write() as db:
            locked = await service.lock_open_event(db, event_id)
            done = await service.register(db, locked, applicant, now=st.now())
    except service.AlreadyRegistered:
        async with st.db.write() as db:
            await service.resend_link(db, event_id, applicant.email, now=st.now())
        # Say only what the address's owner will see in their mail; nothing else is revealed.
        return redirect(url_for("attendee.register_form", event_id=event_id, done="already"))
    except ValidationFailed as exc:
        return await _form_page(
            event, values=form, invalid=[exc.field or "form"], status=exc.status
        )
    except Conflict as exc:
        return await _form_page(event, values=form, refused=exc.code, status=exc.status)
    return redirect(url_for("attendee.personal", token=done.access_token, done="registered"))


async def _holder(db: AsyncSession, token: str) -> Registration:
    """The registration a personal link opens; unknown and revoked links are the same 404."""
    try:
        return await service.by_token(db, token)
    except NotAuthenticated:
        raise NotFound("This personal link is not valid.") from None


async def _chapters_of(db: AsyncSession, ids: set[int]) -> dict[int, Chapter]:
    if not ids:
        return {}
    rows = await db.scalars(select(Chapter).where(Chapter.id.in_(ids)))
    return {c.id: c for c in rows}


def _qr_svg(code: str) -> Markup:
    """The check-in code as an inline SVG QR code (drawn here: no script, no image request)."""
    svg = segno.make(code, error="m").svg_inline(scale=4, border=2)
    return Markup(svg)  # noqa: S704 - segno's own markup around our code, which is [A-Z0-9-]


async def _personal_page(
    token: str, *, done: str | None = None, error: str | None = None, status: int = 200
) -> tuple[str, int]:
    st = state()
    async with st.db.read() as db:
        registration = await _holder(db, token)
        event = await db.get(Event, registration.event_id)
        assert event is not None  # a registration's event is never deleted
        position = await service.waitlist_position(db, registration)
        slots = await events_service.event_slots(db, event.id)
        sessions = await hubs_service.hub_sessions(db, event.id) if not slots else []
        watch_url = await livestreams.watch_url(db, event)
        chapters = await _chapters_of(db, {s.chapter_id for s in slots if s.chapter_id})
    code = None
    if (
        event.kind == EventKind.HUB.value
        and registration.mode == "in_person"
        and registration.status == RegistrationStatus.CONFIRMED.value
    ):
        code = checkin.checkin_code(st.settings.secret_key, registration.id)
    zone = viewer_zone(event.timezone)
    html = await render_template(
        "attendee/personal.html",
        token=token,
        registration=registration,
        event=event,
        position=position,
        slots=slots,
        sessions=sessions,
        chapters=chapters,
        viewer_zone=zone,
        zones=sorted({event.timezone, zone, "UTC", *(c.timezone for c in chapters.values())}),
        code=code,
        qr=_qr_svg(code) if code else None,
        watch_url=watch_url,
        done=done if done in DONE else None,
        error=error,
    )
    return html, status


@blueprint.get("/me/<token>")
async def personal(token: str) -> Page:
    return await _personal_page(token, done=request.args.get("done"))


@blueprint.post("/me/<token>/cancel")
async def cancel(token: str) -> Page:
    form = await request.form
    if form.get("confirm") != "yes":
        return await _personal_page(token, error="confirm", status=422)
    st = state()
    async with st.db.write() as db:
        registration = await _holder(db, token)
        await service.cancel(db, registration.id, token=token, now=st.now())
    return redirect(url_for("attendee.personal", token=token, done="cancelled"))


def _with_status(feed: bytes, registration: Registration, position: int | None) -> bytes:
    """The event's feed, marked with the holder's place: tentative while waitlisted, cancelled
    once the place is given up, and a line saying so, in the holder's language."""
    _ = translator(registration.language)
    if registration.status == RegistrationStatus.CANCELLED.value:
        line, status = _("Your registration is cancelled."), "CANCELLED"
    elif registration.status == RegistrationStatus.WAITLISTED.value:
        line = _("You are on the waitlist (position %(position)s).") % {"position": position}
        status = "TENTATIVE"
    else:
        line, status = _("Your place is confirmed."), None
    cal = Calendar.from_ical(feed)
    for item in cal.walk("VEVENT"):
        if status is not None and str(item.get("status")) != "CANCELLED":
            item["status"] = status
        if str(item.get("uid", "")).startswith("event-"):
            description = str(item.get("description", ""))
            item["description"] = f"{line}\n\n{description}".strip()
    return bytes(cal.to_ical())


@blueprint.get("/me/<token>/calendar.ics")
async def personal_calendar(token: str) -> Response:
    st = state()
    async with st.db.read() as db:
        registration = await _holder(db, token)
        position = await service.waitlist_position(db, registration)
        feed = await calendar.event_feed(
            db, None, registration.event_id, base_url=st.settings.base_url_str
        )
    response = Response(
        _with_status(feed, registration, position), content_type="text/calendar; charset=utf-8"
    )
    response.headers["Content-Disposition"] = (
        f'inline; filename="internet10-event-{registration.event_id}.ics"'
    )
    return response


@blueprint.get("/join/<token>")
async def join(token: str) -> Page:
    st = state()
    async with st.db.write() as db:
        try:
            outcome = await checkin.join(db, token, now=st.now())
        except NotAuthenticated:
            raise NotFound("This personal link is not valid.") from None
    if outcome.join_url is not None:
        return redirect(outcome.join_url)
    html = await render_template(
        "attendee/join.html",
        token=token,
        outcome=outcome,
        event=outcome.event,
        viewer_zone=viewer_zone(outcome.event.timezone),
    )
    return html, 200 if outcome.refused is None else 409
