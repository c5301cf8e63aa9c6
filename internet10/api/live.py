"""The live channel: one Server-Sent Events stream per page, ``GET /api/v1/events/{id}/live``.

Whoever may see the event may read its stream (a published event: anyone). Each message is a
live event (``id``, ``event`` = its kind, ``data`` = JSON); a client resuming with
``Last-Event-ID`` (or ``?last_event_id=`` on its first connection) is first sent what it missed,
from the database. Without either, the stream starts from now.

The route decides (who may read, which id to resume after, the headers) like any other; the
stream itself is then sent by :class:`StreamHandOff`, around Quart, once Quart's request has
ended: an open stream then holds the broker's few objects and Hypercorn's connection, not
Quart's request, contexts and two tasks for hours (about half the memory of a stream).
"""

from __future__ import annotations

import re
from typing import Any

from quart import Blueprint, Response, request
from quart_schema import validate_response

from internet10.api.schemas import ErrorBody
from internet10.errors import DomainError, ValidationFailed
from internet10.services.events import get_event
from internet10.state import AppState
from internet10.web import current_principal, state

blueprint = Blueprint("api_live", __name__, url_prefix="/api/v1")

MAX_LIVE_ID = 2**63 - 1
# The route's decision, for StreamHandOff: "<event id> <resume after, or ->" (never sent out)
PLAN_HEADER = b"x-internet10-live-plan"
PATH = re.compile(r"/api/v1/events/[0-9]+/live")

ASGIApp = Any  # Quart's asgi_app: (scope, receive, send) -> None


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
    if st.broker is None or st.broker.closing:
        raise Unavailable("The server is stopping; reconnect in a few seconds.")
    response = Response(b"", content_type="text/event-stream; charset=utf-8")
    response.headers[PLAN_HEADER.decode()] = f"{event_id} {'-' if after is None else after}"
    response.headers["Cache-Control"] = "no-store, no-transform"
    response.headers["X-Accel-Buffering"] = "no"  # nginx: send each message as it comes
    return response


class StreamHandOff:
    """ASGI middleware around Quart's ``asgi_app``. A ``GET`` of a live path goes through Quart
    with its messages held back; when the route accepted it (200 with its plan header), the
    held headers (less the plan and the length) start the response and the broker sends the
    stream; otherwise the held messages (an error) go out as they were. Anything else passes
    straight through."""

    def __init__(self, app: ASGIApp, st: AppState) -> None:
        self.app = app
        self.st = st

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if not (
            scope["type"] == "http" and scope["method"] == "GET" and PATH.fullmatch(scope["path"])
        ):
            await self.app(scope, receive, send)
            return
        held: list[dict[str, Any]] = []

        async def hold(message: dict[str, Any]) -> None:
            held.append(message)

        await self.app(scope, receive, hold)
        headers = held[0].get("headers", []) if held else []
        plan = next((v for k, v in headers if k == PLAN_HEADER), None)
        broker = self.st.broker
        if plan is None or broker is None or held[0].get("status") != 200:
            for message in held:
                await send(message)
            return
        event_id, after = plan.decode().split(" ")
        start = {
            "type": "http.response.start",
            "status": 200,
            # The same headers for every stream: shared, not kept once per open stream.
            "headers": [_shared(h) for h in headers if h[0] not in _NOT_SENT],
        }
        held.clear()
        await broker.serve(
            int(event_id), None if after == "-" else int(after), start, receive, send
        )


_NOT_SENT = frozenset({PLAN_HEADER, b"content-length"})


_HEADERS: dict[tuple[bytes, bytes], tuple[bytes, bytes]] = {}


def _shared(header: tuple[bytes, bytes]) -> tuple[bytes, bytes]:
    if len(_HEADERS) < 256:  # a cookie set on one response must not grow it without end
        return _HEADERS.setdefault(header, header)
    return _HEADERS.get(header, header)
