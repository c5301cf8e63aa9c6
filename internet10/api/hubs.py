"""Hub sessions: preview and import an upstream agenda (.ics text or address), list sessions."""

from __future__ import annotations

import datetime as dt
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field
from quart import Blueprint
from quart_schema import validate_request, validate_response

from integrations.agenda import AgendaFetchError, fetch_agenda
from internet10.api.schemas import ErrorBody, Strict, iso_utc
from internet10.errors import ValidationFailed
from internet10.models import HubSession
from internet10.services import hubs as service
from internet10.services.events import get_event
from internet10.web import current_principal, google_policy, state

blueprint = Blueprint("api_hubs", __name__, url_prefix="/api/v1/events")


class AgendaIn(Strict):
    """Either ``ics`` or ``url`` (checked by ``_ics``, so that the error names the field)."""

    ics: Annotated[str, Field(max_length=service.MAX_ICS_BYTES)] | None = None
    url: Annotated[str, Field(max_length=2000)] | None = None
    uids: Annotated[list[Annotated[str, Field(max_length=300)]], Field(max_length=2000)] | None = (
        None
    )


class SessionOut(BaseModel):
    uid: str
    title: str
    starts_at: str
    ends_at: str
    local_start: str
    local_end: str
    at_night: bool


class SessionList(BaseModel):
    sessions: list[SessionOut]


async def _ics(data: AgendaIn) -> bytes:
    if data.ics is not None and data.url is not None:
        raise ValidationFailed("url: give either ics or url, not both", field="url")
    if data.ics is None and data.url is None:
        raise ValidationFailed("ics: give either ics (the file's text) or url", field="ics")
    if data.ics is not None:
        return data.ics.encode("utf-8")
    assert data.url is not None
    try:
        return await fetch_agenda(data.url)
    except AgendaFetchError as exc:
        raise ValidationFailed(str(exc), field="url") from None


def _local(value: dt.datetime, zone: str) -> str:
    return value.astimezone(ZoneInfo(zone)).isoformat()


def _row_out(row: HubSession, zone: str) -> SessionOut:
    return SessionOut(
        uid=row.uid,
        title=row.title,
        starts_at=iso_utc(row.starts_at),
        ends_at=iso_utc(row.ends_at),
        local_start=_local(row.starts_at, zone),
        local_end=_local(row.ends_at, zone),
        at_night=row.at_night,
    )


@blueprint.post("/<int:event_id>/sessions/preview")
@validate_request(AgendaIn)
@validate_response(SessionList, 200)
@validate_response(ErrorBody, 401)
@validate_response(ErrorBody, 403)
@validate_response(ErrorBody, 404)
@validate_response(ErrorBody, 409)
@validate_response(ErrorBody, 422)
async def preview_sessions(event_id: int, data: AgendaIn) -> SessionList:
    """The upstream sessions in the hub's local time, with night sessions flagged (nothing kept)."""
    principal = service.require_importer(await current_principal())  # before any fetch
    ics = await _ics(data)
    st = state()
    async with st.db.read() as db:
        found = await service.preview(db, principal, event_id, ics)
    return SessionList(
        sessions=[
            SessionOut(
                uid=s.uid,
                title=s.title,
                starts_at=iso_utc(s.local.starts_at),
                ends_at=iso_utc(s.local.ends_at),
                local_start=s.local.local_start.isoformat(),
                local_end=s.local.local_end.isoformat(),
                at_night=s.local.at_night,
            )
            for s in found
        ]
    )


@blueprint.post("/<int:event_id>/sessions/import")
@validate_request(AgendaIn)
@validate_response(SessionList, 200)
@validate_response(ErrorBody, 401)
@validate_response(ErrorBody, 403)
@validate_response(ErrorBody, 404)
@validate_response(ErrorBody, 409)
@validate_response(ErrorBody, 422)
async def import_sessions(event_id: int, data: AgendaIn) -> SessionList:
    """Keep the chosen upstream sessions (all when ``uids`` is omitted); re-importing updates."""
    principal = service.require_importer(await current_principal())  # before any fetch
    ics = await _ics(data)
    st = state()
    async with st.db.write() as db:
        rows = await service.import_sessions(
            db, principal, event_id, ics, uids=data.uids, now=st.now(), google=google_policy()
        )
        zone = (await get_event(db, principal, event_id)).timezone
        return SessionList(sessions=[_row_out(r, zone) for r in rows])


@blueprint.get("/<int:event_id>/sessions")
@validate_response(SessionList, 200)
@validate_response(ErrorBody, 404)
async def list_sessions(event_id: int) -> SessionList:
    principal = await current_principal()
    st = state()
    async with st.db.read() as db:
        event = await get_event(db, principal, event_id)
        rows = await service.hub_sessions(db, event.id)
    return SessionList(sessions=[_row_out(r, event.timezone) for r in rows])
