"""The organiser's dashboard: events and hubs, publishing and cancelling, links to every tool."""

from __future__ import annotations

from typing import cast

from quart import Blueprint, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as WerkzeugResponse

from internet10.errors import Forbidden, ValidationFailed
from internet10.models import EventStatus
from internet10.pages.guard import name_invalid_fields
from internet10.services import events as service
from internet10.services.meetings import Overflow, capacity_warning, expected_people
from internet10.web import current_principal, google_policy, meeting_policy, state

blueprint = Blueprint("organiser", __name__)
name_invalid_fields(blueprint)

TARGETS = {
    "publish": EventStatus.PUBLISHED,
    "start": EventStatus.LIVE,
    "end": EventStatus.ENDED,
    "cancel": EventStatus.CANCELLED,
}


@blueprint.get("/organiser")
async def dashboard() -> str | WerkzeugResponse:
    principal = await current_principal()
    if principal is None:
        return redirect(url_for("staff.login_form"))
    if not principal.is_organiser:
        raise Forbidden("Only organisers use the dashboard.")
    st = state()
    async with st.db.read() as db:
        rows = await service.list_events(db, principal)
    policy = meeting_policy()
    warnings = {
        e.id: expected_people(e)
        for e in rows
        if e.status == EventStatus.DRAFT.value and capacity_warning(e, policy)
    }
    return await render_template(
        "organiser/dashboard.html",
        events=rows,
        done=request.args.get("done"),
        capacity_warnings=warnings,
        host_capacity=policy.host_capacity,
    )


@blueprint.post("/organiser/events/<int:event_id>/status")
async def change_status(event_id: int) -> WerkzeugResponse:
    form = await request.form
    target = TARGETS.get(form.get("to", ""))
    if target is None:
        raise ValidationFailed("Unknown status change.", field="to")
    principal = await current_principal()
    st = state()
    overflow = form.get("overflow") or None
    if overflow not in (None, "none", "livestream"):
        raise ValidationFailed("Choose how people beyond capacity follow.", field="overflow")
    async with st.db.write() as db:
        await service.change_status(
            db,
            principal,
            event_id,
            target,
            now=st.now(),
            meetings=meeting_policy(),
            overflow=cast(Overflow | None, overflow),
            google=google_policy(),
        )
    return redirect(url_for("organiser.dashboard", done=form["to"]))
