"""Public pages: the home page with upcoming events and hubs, and each event's page."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit

from quart import Blueprint, render_template, request, url_for
from sqlalchemy import select

from internet10.models import Chapter, EventKind, EventStatus
from internet10.pages.guard import name_invalid_fields
from internet10.services import events as service
from internet10.services import hubs as hubs_service
from internet10.services import live as live_events
from internet10.services import livestreams, running
from internet10.web import current_principal, state, viewer_zone

blueprint = Blueprint("public", __name__)
name_invalid_fields(blueprint)


@blueprint.app_template_global()
def language_url(code: str) -> str:
    """This page in language ``code``: the same query with ``lang`` set, relative to the page's
    own address (which is never echoed: a link's token stays out of the page). After a form was
    sent, the page it was sent from (the form's own address may answer POST only)."""
    path, query = "", request.query_string.decode("latin-1")
    if request.method not in ("GET", "HEAD"):
        sent_from = urlsplit(request.referrer or "")
        same_site = sent_from.netloc in ("", request.host)
        path = sent_from.path if same_site and sent_from.path else url_for("public.home")
        query = sent_from.query if same_site else ""
    args = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k != "lang"]
    return f"{path}?{urlencode([*args, ('lang', code)])}"


@blueprint.get("/")
async def home() -> str:
    principal = await current_principal()
    st = state()
    async with st.db.read() as db:
        rows = await service.list_events(db, principal, upcoming_after=st.now())
    return await render_template(
        "public/home.html",
        internet10=[e for e in rows if e.kind == EventKind.INTERNET10.value],
        hubs=[e for e in rows if e.kind == EventKind.HUB.value],
        done=request.args.get("done"),
    )


@blueprint.get("/events/<int:event_id>")
async def event_page(event_id: int) -> str:
    principal = await current_principal()
    st = state()
    async with st.db.read() as db:
        event = await service.get_event(db, principal, event_id)
        slots = await service.event_slots(db, event.id)
        wanted = {s.chapter_id for s in slots if s.chapter_id is not None}
        chapters = {
            c.id: c for c in (await db.scalars(select(Chapter).where(Chapter.id.in_(wanted)))).all()
        }
        sessions = await hubs_service.hub_sessions(db, event.id)
        watch_url = await livestreams.watch_url(db, event)
        live_url = None
        if event.status in (EventStatus.PUBLISHED.value, EventStatus.LIVE.value):
            # the page shows the running order as of this live event; its stream starts after it
            after = await live_events.head(db, event.id)
            live_url = url_for("api_live.live_stream", event_id=event.id, last_event_id=after)
    zone = viewer_zone(event.timezone)
    live = (
        {e.position: e for e in running.estimates(slots, now=st.now())}
        if event.status == EventStatus.LIVE.value and slots
        else {}
    )
    zones = sorted({event.timezone, zone, "UTC", *(c.timezone for c in chapters.values())})
    return await render_template(
        "public/event.html",
        event=event,
        slots=slots,
        chapters=chapters,
        sessions=sessions,
        viewer_zone=zone,
        zones=zones,
        live=live,
        watch_url=watch_url,
        live_url=live_url,
    )
