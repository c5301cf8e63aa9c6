"""iCalendar feeds for calendar applications: per event and per chapter."""

from __future__ import annotations

from quart import Blueprint, Response

from internet10.pages.guard import name_invalid_fields
from internet10.services import calendar
from internet10.web import current_principal, state

blueprint = Blueprint("feeds", __name__)
name_invalid_fields(blueprint)

ICS = "text/calendar; charset=utf-8"


def _ics_response(body: bytes, filename: str) -> Response:
    response = Response(body, content_type=ICS)
    response.headers["Content-Disposition"] = f'inline; filename="{filename}"'
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@blueprint.get("/events/<int:event_id>/calendar.ics")
async def event_calendar(event_id: int) -> Response:
    principal = await current_principal()
    st = state()
    async with st.db.read() as db:
        body = await calendar.event_feed(db, principal, event_id, base_url=st.settings.base_url_str)
    return _ics_response(body, f"internet10-event-{event_id}.ics")


@blueprint.get("/chapters/<code>/calendar.ics")
async def chapter_calendar(code: str) -> Response:
    st = state()
    async with st.db.read() as db:
        body = await calendar.chapter_feed(db, code[:32], base_url=st.settings.base_url_str)
    return _ics_response(body, f"internet10-chapter-{code[:32].lower()}.ics")
