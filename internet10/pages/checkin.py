"""The hub door: coordinators find people by name or scan their code, check them in, and register
walk-ins while seats remain.

Plain forms, no JavaScript; a code reader that types what it scans fills the code field and
presses Enter. Each action redirects back with ``?done=<what>&r=<registration id>``; a refused
action shows the page again with the reason.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable

from quart import Blueprint, g, redirect, render_template, request, url_for
from sqlalchemy.ext.asyncio import AsyncSession
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response as WerkzeugResponse

from internet10.errors import Conflict, NotFound, ValidationFailed
from internet10.pages.applicant_form import Form, chapter_choices, countries, read_applicant
from internet10.pages.guard import name_invalid_fields
from internet10.services import attendance_figures
from internet10.services import checkin as service
from internet10.services.auth import Principal
from internet10.web import current_principal, state

blueprint = Blueprint("checkin", __name__)
name_invalid_fields(blueprint)

DONE = frozenset({"checked-in", "already", "walk-in"})
QUERY_MAX = 200

Page = str | tuple[str, int] | WerkzeugResponse
Action = Callable[[AsyncSession, Principal, Form, dt.datetime], Awaitable[service.CheckIn]]


def _id(raw: str | None) -> int | None:
    if raw is None or not raw.isdigit() or len(raw) > 9:
        return None
    return int(raw)


async def _render(
    principal: Principal,
    hub_id: int,
    *,
    query: str = "",
    done: str | None = None,
    shown_id: int | None = None,
    error: ValidationFailed | Conflict | NotFound | None = None,
    form_id: str | None = None,
    invalid: list[str] | None = None,
    values: Form | None = None,
    status: int = 200,
) -> tuple[str, int]:
    st = state()
    async with st.db.read() as db:
        board = await service.board(db, principal, hub_id, query=query, shown_id=shown_id)
        chapters = await chapter_choices(db)
    hub = board.hub
    html = await render_template(
        "checkin/hub.html",
        board=board,
        hub=hub,
        query=query,
        done=done if done in DONE and board.shown is not None else None,
        error=error,
        form_id=form_id,
        invalid=invalid or [],
        values=values if values is not None else MultiDict({"language": g.language}),
        countries=countries(g.language),
        chapters=chapters,
        modes=("in_person",),
        seats_left=max(0, (hub.seats or 0) - board.in_person_confirmed),
    )
    return html, status


@blueprint.get("/hubs/<int:hub_id>/checkin")
async def checkin_page(hub_id: int) -> Page:
    principal = await current_principal()
    if principal is None:
        return redirect(url_for("staff.login_form"))
    return await _render(
        principal,
        hub_id,
        query=request.args.get("q", "")[:QUERY_MAX],
        done=request.args.get("done"),
        shown_id=_id(request.args.get("r")),
    )


async def _perform(hub_id: int, action: Action, *, form_id: str) -> Page:
    principal = await current_principal()
    if principal is None:
        return redirect(url_for("staff.login_form"))
    form: Form = await request.form
    query = form.get("q", "")[:QUERY_MAX]
    st = state()
    try:
        async with st.db.write() as db:
            now = st.now()
            done = await action(db, principal, form, now)
            if not done.already:  # the room's count changed: live pages hear of it
                await attendance_figures.announce(
                    db, hub_id, now=now, min_minutes=st.settings.attendance_min_minutes
                )
    except (ValidationFailed, Conflict, NotFound) as exc:
        # An unknown hub or a stranger's request fails again on the way back: 404 or 403.
        return await _render(
            principal,
            hub_id,
            query=query,
            error=exc,
            form_id=form_id,
            invalid=[exc.field] if isinstance(exc, ValidationFailed) and exc.field else [],
            values=form if form_id == "walk-in" else None,
            status=exc.status,
        )
    what = "walk-in" if form_id == "walk-in" else "already" if done.already else "checked-in"
    return redirect(
        url_for(
            "checkin.checkin_page",
            hub_id=hub_id,
            done=what,
            r=done.registration.id,
            q=query or None,
        )
    )


@blueprint.post("/hubs/<int:hub_id>/checkin/<int:registration_id>")
async def check_in(hub_id: int, registration_id: int) -> Page:
    async def action(
        db: AsyncSession, principal: Principal, form: Form, now: dt.datetime
    ) -> service.CheckIn:
        return await service.check_in(db, principal, hub_id, registration_id, now=now)

    return await _perform(hub_id, action, form_id="search")


@blueprint.post("/hubs/<int:hub_id>/checkin/code")
async def check_in_by_code(hub_id: int) -> Page:
    secret = state().settings.secret_key

    async def action(
        db: AsyncSession, principal: Principal, form: Form, now: dt.datetime
    ) -> service.CheckIn:
        code = form.get("code", "")[:100]
        return await service.check_in_by_code(db, principal, hub_id, code, secret=secret, now=now)

    return await _perform(hub_id, action, form_id="code")


@blueprint.post("/hubs/<int:hub_id>/walk-in")
async def walk_in(hub_id: int) -> Page:
    form: Form = await request.form
    applicant, invalid = read_applicant(form, modes=("in_person",))
    if applicant is None:
        principal = await current_principal()
        if principal is None:
            return redirect(url_for("staff.login_form"))
        return await _render(  # the board authorises: strangers get their 403 here
            principal,
            hub_id,
            query=form.get("q", "")[:QUERY_MAX],
            form_id="walk-in",
            invalid=invalid,
            values=form,
            status=422,
        )
    person = applicant

    async def action(
        db: AsyncSession, principal: Principal, form: Form, now: dt.datetime
    ) -> service.CheckIn:
        return await service.walk_in(db, principal, hub_id, person, now=now)

    return await _perform(hub_id, action, form_id="walk-in")
