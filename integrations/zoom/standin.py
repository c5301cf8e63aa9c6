"""A local Zoom stand-in: a real HTTP server on loopback that speaks the subset of Zoom's API we
use, with Zoom's shapes and error bodies, for tests and the demo. It is not Zoom.

- ``POST /oauth/token``: Server-to-Server OAuth (``grant_type=account_credentials``, HTTP Basic
  client id/secret); tokens expire after ``token_ttl`` seconds of the stand-in's clock.
- ``/v2``: meetings, registrants, the past participants report (paginated), live stream.
- ``GET /w/{meeting_id}?tk=...``: the "meeting room" behind each personal join URL. Opening it
  joins the meeting and, when ``webhook_url`` and ``webhook_secret`` are set, sends a signed
  ``meeting.participant_joined`` webhook; its Leave button sends ``meeting.participant_left``.

Faults for tests: ``fail_next`` (429 with or without ``Retry-After``, 5xx; with ``after``, the
request is carried out and only its answer is lost), ``slow`` (before or after carrying it out),
``down``/``up`` (down stops listening: connections are refused, as when Zoom is unreachable),
``expire_tokens`` and ``advance`` (moves the stand-in's clock). Faults and slowness apply to
``/v2`` only; the token endpoint and the room pages always answer while up."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import datetime as dt
import hashlib
import html
import itertools
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any
from urllib.parse import unquote

import aiohttp
from aiohttp import web

from integrations.zoom import webhook_signature

HOST_ID = "standin-host-0001"
HOST_EMAIL = "host@standin.zoom.invalid"
ZOOM_TIME = "%Y-%m-%dT%H:%M:%SZ"
MAX_PAGE_SIZE = 300

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _zoom_time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime(ZOOM_TIME)


def _zoom_error(status: int, code: int, message: str) -> web.Response:
    return web.json_response({"code": code, "message": message}, status=status)


def _not_found(meeting_id: str) -> web.Response:
    return _zoom_error(404, 3001, f"Meeting does not exist: {meeting_id}.")


@dataclasses.dataclass
class _Fault:
    status: int
    retry_after: str | None
    after: bool = False  # carried out first: the answer is lost, not the request


@dataclasses.dataclass
class _Registrant:
    id: str
    meeting_id: int
    email: str
    first_name: str
    last_name: str
    token: str  # the ``tk`` of the personal join URL
    status: str  # approved | cancelled | denied
    create_time: str


@dataclasses.dataclass
class _Presence:
    """Someone in a meeting room, from join until they press Leave."""

    meeting_id: int
    registrant: _Registrant
    user_id: str
    participant_uuid: str
    joined_at: dt.datetime


class ZoomStandIn:
    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        token_ttl: int = 3600,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        account_id: str = "standin-account",
        client_id: str = "standin-client",
        client_secret: str = "standin-secret",  # noqa: S107 - a stand-in's fixed credential
    ) -> None:
        self.host = host
        self.port = port
        self.token_ttl = token_ttl
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret
        self.account_id = account_id
        self.client_id = client_id
        self.client_secret = client_secret
        self.base_url = ""
        self.api_url = ""
        self.oauth_url = ""
        # what tests look at
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request, in order
        self.timeline: list[tuple[float, str, str]] = []  # (monotonic time, method, path)
        self.bodies: list[tuple[str, str, Any]] = []  # (method, path, JSON body) of /v2 writes
        self.meetings: dict[int, dict[str, Any]] = {}  # Zoom's meeting shape, as stored
        self.live_streams: dict[int, dict[str, str]] = {}
        self.webhook_deliveries: list[tuple[str, int | str]] = []  # (event, status or error)
        self._registrants: dict[int, list[_Registrant]] = {}
        self._report: dict[int, list[dict[str, Any]]] = {}
        self._presences: dict[str, _Presence] = {}  # by participant_uuid
        self._tokens: dict[str, float] = {}  # access token -> expiry on the stand-in clock
        self._faults: list[_Fault] = []
        self._delay = 0.0
        self._delay_after = False
        self._clock_offset = 0.0
        self._meeting_ids = itertools.count(81_234_567_890)
        self._user_ids = itertools.count(16_778_240)
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._client: aiohttp.ClientSession | None = None

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(middlewares=[self._middleware])
        app.router.add_post("/oauth/token", self._token)
        app.router.add_post("/v2/users/{user_id}/meetings", self._create_meeting)
        app.router.add_get("/v2/meetings/{meeting_id}", self._get_meeting)
        app.router.add_patch("/v2/meetings/{meeting_id}", self._update_meeting)
        app.router.add_delete("/v2/meetings/{meeting_id}", self._delete_meeting)
        app.router.add_post("/v2/meetings/{meeting_id}/registrants", self._add_registrant)
        app.router.add_get("/v2/meetings/{meeting_id}/registrants", self._list_registrants)
        app.router.add_put("/v2/meetings/{meeting_id}/registrants/status", self._registrant_status)
        app.router.add_patch("/v2/meetings/{meeting_id}/livestream", self._live_stream)
        app.router.add_get("/v2/report/meetings/{meeting_id}/participants", self._participants)
        app.router.add_get("/v2/past_meetings/{meeting_id}/participants", self._participants)
        app.router.add_get("/w/{meeting_id}", self._room)
        app.router.add_post("/w/{meeting_id}/leave", self._leave)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await self._listen()
        self.base_url = f"http://{self.host}:{self.port}"
        self.api_url = f"{self.base_url}/v2"
        self.oauth_url = f"{self.base_url}/oauth/token"
        self._client = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))

    async def _listen(self) -> None:
        assert self._runner is not None
        self._site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await self._site.start()
        if self.port == 0:
            self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
            self._site = None

    async def __aenter__(self) -> ZoomStandIn:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- faults and test hooks ----------------------------------------------------------------

    def fail_next(
        self,
        n: int,
        status: int,
        *,
        retry_after: float | str | dt.datetime | None = None,
        after: bool = False,
    ) -> None:
        """The next ``n`` ``/v2`` requests answer ``status`` with a Zoom error body. For a 429,
        ``retry_after`` in seconds or as a moment (an aware datetime is sent as ISO ``...Z``,
        a string verbatim); ``None`` sends no header, like Zoom's daily limit. With ``after``,
        each request is carried out first and only its answer is the error (an answer lost on
        its way back: the caller cannot know the change was made)."""
        if isinstance(retry_after, dt.datetime):
            header: str | None = _zoom_time(retry_after)
        elif isinstance(retry_after, int | float):
            header = str(int(retry_after)) if float(retry_after).is_integer() else str(retry_after)
        else:
            header = retry_after
        self._faults.extend(_Fault(status, header, after) for _ in range(n))

    @property
    def pending_faults(self) -> int:
        """Faults set with ``fail_next`` that no request has met yet."""
        return len(self._faults)

    def slow(self, seconds: float, *, after: bool = False) -> None:
        """Delay every ``/v2`` answer by ``seconds`` (0 to stop): before carrying the request
        out, or with ``after``, once it is carried out (a caller that gives up or dies while
        waiting does not know it was)."""
        self._delay = seconds
        self._delay_after = after

    async def down(self) -> None:
        """Stop listening: new connections are refused until ``up``."""
        if self._site is not None:
            await self._site.stop()
            self._site = None

    async def up(self) -> None:
        if self._site is None:
            await self._listen()

    def expire_tokens(self) -> None:
        """Every token issued so far is now expired (new ones are fine)."""
        self._tokens = dict.fromkeys(self._tokens, float("-inf"))

    def advance(self, seconds: float) -> None:
        """Move the stand-in's clock forward (tokens age)."""
        self._clock_offset += seconds

    def record_participant(
        self,
        meeting_id: int | str,
        name: str,
        email: str | None,
        registrant_id: str | None,
        join: dt.datetime,
        leave: dt.datetime,
    ) -> None:
        """Add one join..leave span to the meeting's participants report."""
        meeting = self.meetings[int(meeting_id)]
        self._report_row(meeting, str(next(self._user_ids)), name, email, registrant_id, "")
        row = self._report[int(meeting_id)][-1]
        row.update(
            join_time=_zoom_time(join),
            leave_time=_zoom_time(leave),
            duration=int((leave - join).total_seconds()),
        )

    async def start_meeting(self, meeting_id: int | str) -> None:
        """The host starts the meeting: ``meeting.started`` is sent, as Zoom does."""
        meeting = self.meetings[int(meeting_id)]
        meeting["status"] = "started"
        started = _zoom_time(dt.datetime.fromtimestamp(int(self._now()), dt.UTC))
        await self._send_webhook("meeting.started", meeting, None, {"start_time": started})

    async def end_meeting(self, meeting_id: int | str) -> None:
        """The host ends the meeting: everyone still in leaves (their report rows close) and
        ``meeting.ended`` is sent. No ``participant_left`` is sent for them, as often with Zoom:
        the meeting's end closes their intervals."""
        meeting = self.meetings[int(meeting_id)]
        meeting["status"] = "waiting"
        ended_at = dt.datetime.fromtimestamp(int(self._now()), dt.UTC)
        for uuid, presence in list(self._presences.items()):
            if presence.meeting_id != meeting["id"]:
                continue
            del self._presences[uuid]
            for row in self._report[meeting["id"]]:
                if row["participant_uuid"] == uuid:
                    row["leave_time"] = _zoom_time(ended_at)
                    row["duration"] = int((ended_at - presence.joined_at).total_seconds())
                    row["status"] = "left"
        await self._send_webhook("meeting.ended", meeting, None, {"end_time": _zoom_time(ended_at)})

    def registrants(self, meeting_id: int | str) -> list[dict[str, str]]:
        return [
            {"id": r.id, "email": r.email, "status": r.status}
            for r in self._registrants.get(int(meeting_id), [])
        ]

    def _now(self) -> float:
        return time.time() + self._clock_offset

    # -- plumbing -----------------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.requests.append((request.method, request.path))
        self.timeline.append((time.monotonic(), request.method, request.path))
        if not request.path.startswith("/v2/"):
            return await handler(request)
        if request.method in ("POST", "PATCH", "PUT") and request.body_exists:
            try:
                body: Any = await request.json()
            except ValueError:
                return _zoom_error(400, 300, "Request Body should be a valid JSON object.")
            self.bodies.append((request.method, request.path, body))
        delay, delay_after = self._delay, self._delay_after
        if delay and not delay_after:
            await asyncio.sleep(delay)
        fault = self._faults.pop(0) if self._faults else None
        if fault is not None and not fault.after:
            return self._fault_response(fault)
        bearer = request.headers.get("Authorization", "")
        token = bearer.removeprefix("Bearer ")
        if not bearer.startswith("Bearer ") or token not in self._tokens:
            return _zoom_error(401, 124, "Invalid access token.")
        if self._tokens[token] <= self._now():
            return _zoom_error(401, 124, "Access token is expired.")
        response = await handler(request)
        if delay and delay_after:
            await asyncio.sleep(delay)
        if fault is not None:
            return self._fault_response(fault)
        return response

    @staticmethod
    def _fault_response(fault: _Fault) -> web.Response:
        if fault.status == 429:
            response = _zoom_error(
                429,
                429,
                "You have reached the maximum per-second rate limit for this API. Try again later."
                if fault.retry_after
                else "You have reached the maximum daily rate limit for this API. "
                "Refer to the response header for details on when you can make another request.",
            )
            if fault.retry_after is not None:
                response.headers["Retry-After"] = fault.retry_after
            return response
        return _zoom_error(fault.status, fault.status, "Internal server error (stand-in fault).")

    async def _json(self, request: web.Request) -> dict[str, Any]:
        if not request.body_exists:
            return {}
        data = await request.json()
        return data if isinstance(data, dict) else {}

    def _meeting(self, request: web.Request) -> dict[str, Any] | None:
        """The meeting named in the path by id or uuid (a uuid may arrive double-encoded)."""
        key = request.match_info["meeting_id"]
        while "%" in key:
            key = unquote(key)
        if key.isdigit():
            return self.meetings.get(int(key))
        return next((m for m in self.meetings.values() if m["uuid"] == key), None)

    # -- OAuth --------------------------------------------------------------------------------

    async def _token(self, request: web.Request) -> web.Response:
        form = dict(await request.post())
        params = {**request.query, **{k: str(v) for k, v in form.items()}}
        expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        if not secrets.compare_digest(
            request.headers.get("Authorization", ""), f"Basic {expected}"
        ):
            return web.json_response(
                {"reason": "Invalid client_id or client_secret", "error": "invalid_client"},
                status=401,
            )
        if params.get("grant_type") != "account_credentials":
            return web.json_response(
                {"reason": "Unsupported grant type", "error": "unsupported_grant_type"}, status=400
            )
        if params.get("account_id") != self.account_id:
            return web.json_response(
                {"reason": "Invalid account_id", "error": "invalid_request"}, status=400
            )
        token = "standin." + secrets.token_urlsafe(24)
        self._tokens[token] = self._now() + self.token_ttl
        return web.json_response(
            {
                "access_token": token,
                "token_type": "bearer",
                "expires_in": self.token_ttl,
                "scope": "meeting:write:admin meeting:read:admin report:read:admin",
            }
        )

    # -- meetings -----------------------------------------------------------------------------

    async def _create_meeting(self, request: web.Request) -> web.Response:
        body = await self._json(request)
        meeting_type = body.get("type", 2)
        if meeting_type not in (1, 2, 3, 8):
            return _zoom_error(400, 300, f"Invalid meeting type: {meeting_type}.")
        topic = str(body.get("topic") or "Zoom Meeting")
        if len(topic) > 200:
            return _zoom_error(400, 300, "Validation Failed.")
        meeting_id = next(self._meeting_ids)
        uuid = base64.b64encode(hashlib.sha256(str(meeting_id).encode()).digest()[:16]).decode()
        password = secrets.token_hex(3)
        meeting: dict[str, Any] = {
            "uuid": uuid,
            "id": meeting_id,
            "host_id": HOST_ID,
            "host_email": HOST_EMAIL,
            "topic": topic,
            "type": meeting_type,
            "status": "waiting",
            "start_time": None,
            "duration": 60,
            "timezone": "UTC",
            "agenda": str(body.get("agenda") or ""),
            "created_at": _zoom_time(dt.datetime.fromtimestamp(self._now(), dt.UTC)),
            "start_url": f"{self.base_url}/s/{meeting_id}?zak={secrets.token_urlsafe(16)}",
            "join_url": f"{self.base_url}/j/{meeting_id}?pwd={password}",
            "password": password,
            "pre_schedule": False,
            "settings": {
                "host_video": False,
                "participant_video": False,
                "join_before_host": False,
                "mute_upon_entry": False,
                "approval_type": 2,
                "waiting_room": False,
                "alternative_hosts": "",
                "auto_recording": "none",
                "registrants_confirmation_email": True,
                "registrants_email_notification": True,
            },
        }
        error = self._apply(meeting, body)
        if error is not None:
            return error
        self.meetings[meeting_id] = meeting
        self._registrants[meeting_id] = []
        self._report[meeting_id] = []
        return web.json_response(self._shown(meeting), status=201)

    def _apply(self, meeting: dict[str, Any], body: dict[str, Any]) -> web.Response | None:
        """Copy the updatable fields of a create/update body onto ``meeting``."""
        if "start_time" in body:
            try:
                start = dt.datetime.fromisoformat(str(body["start_time"]))
            except ValueError:
                return _zoom_error(400, 300, f"Invalid start_time: {body['start_time']}.")
            if start.tzinfo is None:  # Zoom reads a time without Z in the meeting's zone
                return _zoom_error(
                    400, 300, "start_time must be UTC (ending in Z) in the stand-in."
                )
            meeting["start_time"] = _zoom_time(start)
        if "duration" in body:
            if not isinstance(body["duration"], int) or body["duration"] <= 0:
                return _zoom_error(400, 300, f"Invalid duration: {body['duration']}.")
            meeting["duration"] = body["duration"]
        for key in ("topic", "timezone", "agenda"):
            if key in body:
                meeting[key] = str(body[key])
        if isinstance(body.get("settings"), dict):
            meeting["settings"].update(body["settings"])
        if meeting["type"] == 2 and meeting["start_time"] is None:
            return _zoom_error(400, 300, "start_time is required for a scheduled meeting.")
        return None

    @staticmethod
    def _shown(meeting: dict[str, Any]) -> dict[str, Any]:
        shown = dict(meeting)
        if meeting["settings"]["approval_type"] in (0, 1):
            shown["registration_url"] = meeting["join_url"].replace("/j/", "/meeting/register/")
        return shown

    async def _get_meeting(self, request: web.Request) -> web.Response:
        meeting = self._meeting(request)
        if meeting is None:
            return _not_found(request.match_info["meeting_id"])
        return web.json_response(self._shown(meeting))

    async def _update_meeting(self, request: web.Request) -> web.Response:
        meeting = self._meeting(request)
        if meeting is None:
            return _not_found(request.match_info["meeting_id"])
        updated = json.loads(json.dumps(meeting))
        error = self._apply(updated, await self._json(request))
        if error is not None:
            return error
        meeting.update(updated)
        return web.Response(status=204)

    async def _delete_meeting(self, request: web.Request) -> web.Response:
        meeting = self._meeting(request)
        if meeting is None:
            return _not_found(request.match_info["meeting_id"])
        del self.meetings[meeting["id"]]
        return web.Response(status=204)

    async def _live_stream(self, request: web.Request) -> web.Response:
        meeting = self._meeting(request)
        if meeting is None:
            return _not_found(request.match_info["meeting_id"])
        body = await self._json(request)
        missing = [k for k in ("stream_url", "stream_key", "page_url") if not body.get(k)]
        if missing:
            return _zoom_error(400, 300, f"Missing field(s): {', '.join(missing)}.")
        self.live_streams[meeting["id"]] = {
            k: str(body[k]) for k in ("stream_url", "stream_key", "page_url")
        }
        return web.Response(status=204)

    # -- registrants --------------------------------------------------------------------------

    async def _add_registrant(self, request: web.Request) -> web.Response:
        meeting = self._meeting(request)
        if meeting is None:
            return _not_found(request.match_info["meeting_id"])
        if meeting["settings"]["approval_type"] not in (0, 1):
            return _zoom_error(
                400, 3000, f"Registration has not been enabled for this meeting: {meeting['id']}."
            )
        body = await self._json(request)
        email = str(body.get("email") or "").strip()
        first_name = str(body.get("first_name") or "").strip()
        if "@" not in email or not first_name:
            return _zoom_error(400, 300, "Validation Failed: email and first_name are required.")
        registrants = self._registrants[meeting["id"]]
        # Zoom gives the same registrant (and link) back for an email registered before
        registrant = next((r for r in registrants if r.email.lower() == email.lower()), None)
        if registrant is None:
            if len(registrants) >= 4999:
                return _zoom_error(400, 3000, "This meeting has reached its registrant limit.")
            registrant = _Registrant(
                id=secrets.token_urlsafe(16)[:22],
                meeting_id=meeting["id"],
                email=email,
                first_name=first_name,
                last_name=str(body.get("last_name") or ""),
                token=secrets.token_urlsafe(24),
                status="approved",
                create_time=_zoom_time(dt.datetime.fromtimestamp(self._now(), dt.UTC)),
            )
            registrants.append(registrant)
        registrant.status = "approved"
        return web.json_response(
            {
                "id": meeting["id"],
                "registrant_id": registrant.id,
                "join_url": self._join_url(registrant),
                "start_time": meeting["start_time"],
                "topic": meeting["topic"],
                "occurrences": [],
            },
            status=201,
        )

    def _join_url(self, registrant: _Registrant) -> str:
        return f"{self.base_url}/w/{registrant.meeting_id}?tk={registrant.token}"

    async def _list_registrants(self, request: web.Request) -> web.Response:
        meeting = self._meeting(request)
        if meeting is None:
            return _not_found(request.match_info["meeting_id"])
        status = request.query.get("status", "approved")
        rows = [
            {
                "id": r.id,
                "email": r.email,
                "first_name": r.first_name,
                "last_name": r.last_name,
                "status": r.status,
                "create_time": r.create_time,
                "join_url": self._join_url(r),
            }
            for r in self._registrants[meeting["id"]]
            if r.status == status
        ]
        return self._page(request, "registrants", rows)

    async def _registrant_status(self, request: web.Request) -> web.Response:
        meeting = self._meeting(request)
        if meeting is None:
            return _not_found(request.match_info["meeting_id"])
        body = await self._json(request)
        new_status = {"approve": "approved", "cancel": "cancelled", "deny": "denied"}.get(
            str(body.get("action"))
        )
        if new_status is None:
            return _zoom_error(400, 300, f"Invalid action: {body.get('action')}.")
        wanted = body.get("registrants") or []
        ids = {str(w.get("id")) for w in wanted if isinstance(w, dict) and w.get("id")}
        emails = {str(w["email"]).lower() for w in wanted if isinstance(w, dict) and w.get("email")}
        for registrant in self._registrants[meeting["id"]]:
            if registrant.id in ids or registrant.email.lower() in emails:
                registrant.status = new_status
        return web.Response(status=204)

    # -- participants report ------------------------------------------------------------------

    def _report_row(
        self,
        meeting: dict[str, Any],
        user_id: str,
        name: str,
        email: str | None,
        registrant_id: str | None,
        participant_uuid: str,
    ) -> None:
        self._report[meeting["id"]].append(
            {
                "id": "",  # Zoom's user id: empty for people outside the host's account
                "user_id": user_id,
                "participant_user_id": "",
                "name": name,
                "user_email": email or "",
                "registrant_id": registrant_id or "",
                "participant_uuid": participant_uuid,
                "join_time": None,
                "leave_time": None,
                "duration": 0,
                "status": "in_meeting",
                "failover": False,
            }
        )

    async def _participants(self, request: web.Request) -> web.Response:
        meeting = self._meeting(request)
        if meeting is None:
            return _not_found(request.match_info["meeting_id"])
        rows = [row for row in self._report[meeting["id"]] if row["leave_time"] is not None]
        return self._page(request, "participants", rows)

    def _page(self, request: web.Request, name: str, rows: list[dict[str, Any]]) -> web.Response:
        """Zoom's ``page_size`` / ``next_page_token`` pagination (``next_page_token`` is opaque:
        here the offset, encoded)."""
        try:
            page_size = min(int(request.query.get("page_size", "30")), MAX_PAGE_SIZE)
        except ValueError:
            return _zoom_error(400, 300, "Invalid page_size.")
        if page_size <= 0:
            return _zoom_error(400, 300, "Invalid page_size.")
        offset = 0
        token = request.query.get("next_page_token", "")
        if token:
            try:
                offset = int(base64.urlsafe_b64decode(token.encode()).decode().removeprefix("o:"))
            except ValueError:
                return _zoom_error(400, 300, "Invalid next_page_token.")
        end = offset + page_size
        next_token = (
            base64.urlsafe_b64encode(f"o:{end}".encode()).decode() if end < len(rows) else ""
        )
        return web.json_response(
            {
                "page_count": -(-len(rows) // page_size),
                "page_size": page_size,
                "total_records": len(rows),
                "next_page_token": next_token,
                name: rows[offset:end],
            }
        )

    # -- the meeting room ---------------------------------------------------------------------

    def _registrant_by_token(self, meeting_id: int, token: str) -> _Registrant | None:
        return next(
            (r for r in self._registrants.get(meeting_id, []) if r.token == token and token),
            None,
        )

    async def _room(self, request: web.Request) -> web.Response:
        meeting = self._meeting(request)
        registrant = (
            self._registrant_by_token(meeting["id"], request.query.get("tk", ""))
            if meeting is not None
            else None
        )
        if meeting is None or registrant is None or registrant.status != "approved":
            return _page_response(404, "This join link is not valid.", "")
        joined_at = dt.datetime.fromtimestamp(int(self._now()), dt.UTC)
        presence = _Presence(
            meeting_id=meeting["id"],
            registrant=registrant,
            user_id=str(next(self._user_ids)),
            participant_uuid=secrets.token_hex(16).upper(),
            joined_at=joined_at,
        )
        self._presences[presence.participant_uuid] = presence
        name = f"{registrant.first_name} {registrant.last_name}".strip()
        self._report_row(
            meeting,
            presence.user_id,
            name,
            registrant.email,
            registrant.id,
            presence.participant_uuid,
        )
        self._report[meeting["id"]][-1]["join_time"] = _zoom_time(joined_at)
        await self._send_webhook(
            "meeting.participant_joined",
            meeting,
            self._participant(presence) | {"join_time": _zoom_time(joined_at)},
        )
        form = (
            f'<form method="post" action="/w/{meeting["id"]}/leave">'
            f'<input type="hidden" name="participant_uuid" value="{presence.participant_uuid}">'
            '<button type="submit">Leave</button></form>'
        )
        return _page_response(
            200, f"You are in the meeting: {html.escape(meeting['topic'])}", form, name
        )

    async def _leave(self, request: web.Request) -> web.Response:
        form = await request.post()
        presence = self._presences.pop(str(form.get("participant_uuid", "")), None)
        meeting = self._meeting(request)
        if presence is None or meeting is None:
            return _page_response(404, "You are not in this meeting.", "")
        left_at = dt.datetime.fromtimestamp(int(self._now()), dt.UTC)
        for row in self._report[meeting["id"]]:
            if row["participant_uuid"] == presence.participant_uuid:
                row["leave_time"] = _zoom_time(left_at)
                row["duration"] = int((left_at - presence.joined_at).total_seconds())
                row["status"] = "left"
        await self._send_webhook(
            "meeting.participant_left",
            meeting,
            self._participant(presence)
            | {"leave_time": _zoom_time(left_at), "leave_reason": "left the meeting"},
        )
        return _page_response(200, "You left the meeting.", "")

    @staticmethod
    def _participant(presence: _Presence) -> dict[str, Any]:
        registrant = presence.registrant
        return {
            "user_id": presence.user_id,
            "user_name": f"{registrant.first_name} {registrant.last_name}".strip(),
            "id": "",
            "participant_uuid": presence.participant_uuid,
            "registrant_id": registrant.id,
            "email": registrant.email,
        }

    async def _send_webhook(
        self,
        event: str,
        meeting: dict[str, Any],
        participant: dict[str, Any] | None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        """POST a signed webhook, as Zoom does; the outcome goes to ``webhook_deliveries``."""
        if not (self.webhook_url and self.webhook_secret) or self._client is None:
            return
        now = self._now()
        obj: dict[str, Any] = {
            "id": str(meeting["id"]),
            "uuid": meeting["uuid"],
            "host_id": meeting["host_id"],
            "topic": meeting["topic"],
            "type": meeting["type"],
            "start_time": meeting["start_time"],
            "timezone": meeting["timezone"],
            "duration": meeting["duration"],
        }
        if participant is not None:
            obj["participant"] = participant
        obj.update(extra or {})
        envelope = {
            "event": event,
            "event_ts": int(now * 1000),
            "payload": {"account_id": self.account_id, "object": obj},
        }
        body = json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        timestamp = str(int(now))
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "x-zm-request-timestamp": timestamp,
            "x-zm-signature": webhook_signature(self.webhook_secret, timestamp, body),
            "User-Agent": "Zoom Marketplace/1.0a (Internet10 stand-in)",
        }
        try:
            async with self._client.post(self.webhook_url, data=body, headers=headers) as response:
                await response.read()
                self.webhook_deliveries.append((event, response.status))
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.webhook_deliveries.append((event, f"{type(exc).__name__}: {exc}"))


def _page_response(status: int, title: str, extra: str, name: str = "") -> web.Response:
    who = f"<p>{html.escape(name)}</p>" if name else ""
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        "<title>Zoom stand-in</title></head><body>"
        f"<h1>{title}</h1>{who}{extra}<p><small>Local Zoom stand-in, not Zoom.</small></p>"
        "</body></html>"
    )
    return web.Response(status=status, text=page, content_type="text/html", charset="utf-8")
