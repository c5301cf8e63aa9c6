"""Public pages: the home page with upcoming events and hubs, and each event's page."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from quart import Blueprint, render_template

from internet10.models import EventKind
from internet10.services import events as service
from internet10.web import current_principal, state

blueprint = Blueprint("public", __name__)


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
    )


@blueprint.get("/events/<int:event_id>")
async def event_page(event_id: int) -> str:
    principal = await current_principal()
    st = state()
    async with st.db.read() as db:
        event = await service.get_event(db, principal, event_id)
        slots = await service.event_slots(db, event.id)
    zone = ZoneInfo(event.timezone)
    return await render_template(
        "public/event.html",
        event=event,
        slots=slots,
        zone=zone,
        local_start=event.starts_at.astimezone(zone),
        local_end=event.ends_at.astimezone(zone),
        utc=dt.UTC,
    )
