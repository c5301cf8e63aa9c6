"""The moderator's console: the live running order and each slot's Q&A, driven with plain
forms (the Q&A forms post to pages/qa.py)."""

from __future__ import annotations

from typing import cast

from quart import Blueprint, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as WerkzeugResponse

from internet10.errors import Forbidden, ValidationFailed
from internet10.pages.guard import name_invalid_fields
from internet10.services import qa, running
from internet10.web import current_principal, state

blueprint = Blueprint("moderation", __name__)
name_invalid_fields(blueprint)

ACTIONS = frozenset({"start", "end", "extend", "skip", "unskip"})
QA_DONE = frozenset({"qa-open", "qa-close", *qa.ACTIONS})


@blueprint.get("/moderator/events/<int:event_id>")
async def console(event_id: int) -> str | WerkzeugResponse:
    principal = await current_principal()
    if principal is None:
        return redirect(url_for("staff.login_form"))
    if not principal.moderates(event_id):
        raise Forbidden("Only this event's moderators and organisers use its console.")
    st = state()
    now = st.now()
    wanted = request.args.get("slot", "")
    async with st.db.read() as db:
        event, rows = await running.running_order(db, principal, event_id, now=now)
        slots = [r.slot for r in rows]
        chosen = next((s for s in slots if str(s.id) == wanted), None)
        chosen = chosen or qa.current_slot(event, slots, now=now) or (slots[0] if slots else None)
        summaries = await qa.summaries(db, event, slots, now=now)
        board = (
            await qa.board(db, chosen.id, now=now, principal=principal, moderated=True)
            if chosen
            else None
        )
    done = request.args.get("done")
    return await render_template(
        "moderation/console.html",
        event=event,
        rows=rows,
        done=done if done in ACTIONS else None,
        qa_done=done if done in QA_DONE else None,
        qa_error=request.args.get("error"),
        summaries=summaries,
        board=board,
        chapters={r.chapter.id: r.chapter for r in rows if r.chapter},
        live_url=f"/api/v1/events/{event.id}/live",
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
