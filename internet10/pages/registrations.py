"""The organiser's registrations page: the figures, the list, cancel and restore, the CSV export."""

from __future__ import annotations

from collections.abc import Sequence

from quart import Blueprint, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as WerkzeugResponse

from internet10.errors import Conflict, NotFound
from internet10.models import Registration, RegistrationStatus
from internet10.pages.guard import name_invalid_fields
from internet10.services import events as events_service
from internet10.services import registration as service
from internet10.services.auth import Principal
from internet10.web import current_principal, state

blueprint = Blueprint("registrations", __name__)
name_invalid_fields(blueprint)

DONE = frozenset({"cancel", "restore"})
FILTERS = frozenset(s.value for s in RegistrationStatus)

Page = str | tuple[str, int] | WerkzeugResponse


def waitlist_positions(rows: Sequence[Registration]) -> dict[int, int]:
    """Each waitlisted registration's place, counted per mode in id order, as
    :func:`service.waitlist_position` counts it, from the list already loaded (no query per row).
    """
    positions: dict[int, int] = {}
    seen: dict[str, int] = {}
    for row in sorted(rows, key=lambda r: r.id):
        if row.status == RegistrationStatus.WAITLISTED.value:
            seen[row.mode] = seen.get(row.mode, 0) + 1
            positions[row.id] = seen[row.mode]
    return positions


async def _render(
    principal: Principal,
    event_id: int,
    *,
    shown: str | None = None,
    done: str | None = None,
    error: Conflict | None = None,
    status: int = 200,
) -> tuple[str, int]:
    st = state()
    async with st.db.read() as db:
        figures = await service.summary(db, principal, event_id)
        event = await events_service.get_event(db, principal, event_id)
        rows = await service.registrations_of(db, principal, event_id)
    chosen = shown if shown in FILTERS else None
    html = await render_template(
        "organiser/registrations.html",
        event=event,
        figures=figures,
        rows=[r for r in rows if chosen is None or r.status == chosen],
        positions=waitlist_positions(rows),
        checked_in=sum(1 for r in rows if r.checked_in_at is not None),
        shown=chosen,
        done=done if done in DONE else None,
        error=error,
    )
    return html, status


@blueprint.get("/organiser/events/<int:event_id>/registrations")
async def registrations_page(event_id: int) -> Page:
    principal = await current_principal()
    if principal is None:
        return redirect(url_for("staff.login_form"))
    return await _render(
        principal, event_id, shown=request.args.get("status"), done=request.args.get("done")
    )


@blueprint.post(
    "/organiser/events/<int:event_id>/registrations/<int:registration_id>/"
    "<any(cancel, restore):action>"
)
async def change(event_id: int, registration_id: int, action: str) -> Page:
    principal = await current_principal()
    if principal is None:
        return redirect(url_for("staff.login_form"))
    form = await request.form
    shown = form.get("status") or None
    st = state()
    try:
        async with st.db.write() as db:
            registration = await service.visible_registration(
                db, registration_id, attendee=None, principal=principal
            )
            if registration.event_id != event_id:
                raise NotFound(f"No registration with id {registration_id} in this event.")
            if action == "cancel":
                await service.cancel(db, registration_id, principal=principal, now=st.now())
            else:
                await service.restore(db, principal, registration_id, now=st.now())
    except Conflict as exc:
        return await _render(principal, event_id, shown=shown, error=exc, status=exc.status)
    return redirect(
        url_for(
            "registrations.registrations_page",
            event_id=event_id,
            done=action,
            status=shown if shown in FILTERS else None,
        )
    )
