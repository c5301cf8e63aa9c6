"""The moderator's console: the live running order, driven with plain forms."""

from __future__ import annotations

from typing import cast

from quart import Blueprint, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as WerkzeugResponse

from internet10.errors import Forbidden, ValidationFailed
from internet10.services import running
from internet10.web import current_principal, state

blueprint = Blueprint("moderation", __name__)

ACTIONS = frozenset({"start", "end", "extend", "skip", "unskip"})


@blueprint.get("/moderator/events/<int:event_id>")
async def console(event_id: int) -> str | WerkzeugResponse:
    principal = await current_principal()
    if principal is None:
        return redirect(url_for("staff.login_form"))
    if not principal.moderates(event_id):
        raise Forbidden("Only this event's moderators and organisers use its console.")
    st = state()
    async with st.db.read() as db:
        event, rows = await running.running_order(db, principal, event_id, now=st.now())
    return await render_template(
        "moderation/console.html", event=event, rows=rows, done=request.args.get("done")
    )


@blueprint.post("/moderator/slots/<int:slot_id>/live")
async def drive(slot_id: int) -> WerkzeugResponse:
    form = await request.form
    action = form.get("action", "")
    if action not in ACTIONS:
        raise ValidationFailed("Unknown action.", field="action")
    minutes_raw = form.get("minutes", "")
    minutes = int(minutes_raw) if minutes_raw.isdigit() and len(minutes_raw) <= 3 else None
    principal = await current_principal()
    st = state()
    async with st.db.write() as db:
        slot = await running.act(
            db,
            principal,
            slot_id,
            cast(running.LiveAction, action),
            now=st.now(),
            minutes=minutes,
        )
        event_id = slot.event_id
    return redirect(url_for("moderation.console", event_id=event_id, done=action))
