"""Hub pages: the year's hubs calendar (public) and the organiser's agenda import."""

from __future__ import annotations

from quart import Blueprint, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as WerkzeugResponse

from integrations.agenda import AgendaFetchError, fetch_agenda
from internet10.errors import Forbidden, ValidationFailed
from internet10.pages.guard import name_invalid_fields
from internet10.services import hubs as service
from internet10.services.events import get_event
from internet10.web import current_principal, google_policy, state

blueprint = Blueprint("hubs", __name__)
name_invalid_fields(blueprint)


@blueprint.get("/hubs")
async def calendar_page() -> str:
    st = state()
    raw = request.args.get("year", "")
    year = int(raw) if raw.isdigit() and 2000 <= int(raw) <= 2100 else st.now().year
    principal = await current_principal()
    async with st.db.read() as db:
        hubs = await service.hubs_of_year(db, principal, year)
    return await render_template("hubs/calendar.html", year=year, hubs=hubs)


@blueprint.get("/organiser/hubs/<int:event_id>/sessions")
async def sessions_page(event_id: int) -> str | WerkzeugResponse:
    principal = await current_principal()
    if principal is None:
        return redirect(url_for("staff.login_form"))
    if not principal.is_organiser:
        raise Forbidden("Only organisers import hub agendas.")
    st = state()
    async with st.db.read() as db:
        hub = await get_event(db, principal, event_id)
        rows = await service.hub_sessions(db, hub.id)
    return await render_template(
        "hubs/sessions.html",
        hub=hub,
        rows=rows,
        preview=None,
        ics="",
        error=None,
        done=request.args.get("done"),
    )


@blueprint.post("/organiser/hubs/<int:event_id>/sessions/preview")
async def sessions_preview(event_id: int) -> str | tuple[str, int] | WerkzeugResponse:
    principal = await current_principal()
    if principal is None:
        return redirect(url_for("staff.login_form"))
    service.require_importer(principal)  # before the upload is read or the URL fetched
    form = await request.form
    files = await request.files
    st = state()
    error: str | None = None
    ics = b""
    upload = files.get("file")
    if upload is not None and upload.filename:
        ics = upload.read(service.MAX_ICS_BYTES + 1)
    elif form.get("url", "").strip():
        try:
            ics = await fetch_agenda(form["url"].strip())
        except AgendaFetchError as exc:
            error = str(exc)
    else:
        error = "no-source"
    preview = None
    async with st.db.read() as db:
        hub = await get_event(db, principal, event_id)
        rows = await service.hub_sessions(db, hub.id)
        if error is None:
            try:
                preview = await service.preview(db, principal, event_id, ics)
            except ValidationFailed as exc:
                error = exc.message
    status = 200 if error is None else 422
    return await render_template(
        "hubs/sessions.html",
        hub=hub,
        rows=rows,
        preview=preview,
        ics=ics.decode("utf-8", "replace") if preview is not None else "",
        error=error,
        done=None,
    ), status


@blueprint.post("/organiser/hubs/<int:event_id>/sessions/import")
async def sessions_import(event_id: int) -> WerkzeugResponse:
    principal = await current_principal()
    form = await request.form
    uids = form.getlist("uid")
    st = state()
    async with st.db.write() as db:
        await service.import_sessions(
            db,
            principal,
            event_id,
            form.get("ics", "").encode("utf-8"),
            uids=uids,
            now=st.now(),
            google=google_policy(),
        )
    return redirect(url_for("hubs.sessions_page", event_id=event_id, done=str(len(uids))))
