"""The live channel: one Server-Sent Events stream per page, ``GET /api/v1/events/{id}/live``.

Whoever may see the event may read its stream (a published event: anyone). Each message is a
live event (``id``, ``event`` = its kind, ``data`` = JSON); a client resuming with
``Last-Event-ID`` (or ``?last_event_id=`` on its first connection) is first sent what it missed,
from the database. Without either, the stream starts from now.
"""

from __future__ import annotations

from quart import Blueprint, Response, request
from quart_schema import validate_response

from internet10.api.schemas import ErrorBody
from internet10.errors import DomainError, ValidationFailed
from internet10.services.events import get_event
from internet10.web import current_principal, state

blueprint = Blueprint("api_live", __name__, url_prefix="/api/v1")

MAX_LIVE_ID = 2**63 - 1


class Unavailable(DomainError):
    status = 503
    code = "UNAVAILABLE"


def _resume_after() -> int | None:
    """``Last-Event-ID`` (what a browser sends when it reconnects), else ``?last_event_id=``."""
    for name, value in (
        ("Last-Event-ID", request.headers.get("Last-Event-ID")),
        ("last_event_id", request.args.get("last_event_id")),
    ):
        if value is None or value.strip() == "":
            continue
        value = value.strip()
        if not value.isdigit() or len(value) > 19 or int(value) > MAX_LIVE_ID:
            raise ValidationFailed(f"{name} must be a live event id (digits).", field=name)
        return int(value)
    return None


@blueprint.get("/events/<int:event_id>/live")
@validate_response(ErrorBody, 404)
@validate_response(ErrorBody, 422)
@validate_response(ErrorBody, 503)
async def live_stream(event_id: int) -> Response:
    """Server-Sent Events (``text/event-stream``): the event's live changes as they happen.

    Kinds: ``running`` (the running order, as ``GET .../running-order`` would show it),
    ``question``, ``queue`` and ``qa`` (Q&A), ``reload`` (too much was missed: fetch the page
    again). Comments every ``INTERNET10_LIVE_HEARTBEAT_SECONDS`` keep proxies open."""
    after = _resume_after()
    principal = await current_principal()
    st = state()
    async with st.db.read() as db:
        await get_event(db, principal, event_id)
    broker = st.broker
    if broker is None or broker.closing:
        raise Unavailable("The server is stopping; reconnect in a few seconds.")
    response = Response(
        broker.stream(event_id, after), content_type="text/event-stream; charset=utf-8"
    )
    response.headers["Cache-Control"] = "no-store, no-transform"
    response.headers["X-Accel-Buffering"] = "no"  # nginx: send each message as it comes
    response.timeout = None  # Quart's 60 s response timeout would cut the stream
    return response
