"""Zoom through zoomus (Server-to-Server OAuth).

zoomus is synchronous, fetches a token in its constructor without checking the answer, never
refreshes it and never raises on an HTTP error. So the client is built lazily in a worker thread,
every call goes through ``asyncio.to_thread``, every status is checked here, and the token is
refreshed ``REFRESH_MARGIN`` before it expires and once on a 401 / Zoom code 124."""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from zoomus import ZoomClient

from integrations.zoom import Meeting, MeetingSpec, Participant, ProviderError, Registrant

T = TypeVar("T")

REFRESH_MARGIN = dt.timedelta(minutes=5)
PAGE_SIZE = 300  # the largest page Zoom serves
INVALID_TOKEN = 124  # Zoom's code for an invalid or expired access token


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _next_midnight_utc(now: dt.datetime) -> dt.datetime:
    today = now.astimezone(dt.UTC).date()
    return dt.datetime.combine(today + dt.timedelta(days=1), dt.time(0), tzinfo=dt.UTC)


def _parse_retry_after(value: str, now: dt.datetime) -> dt.datetime | None:
    """``Retry-After`` as seconds, as an ISO timestamp (Zoom's daily limits) or as an HTTP date."""
    value = value.strip()
    try:
        return now + dt.timedelta(seconds=max(0.0, float(value)))
    except ValueError:
        pass
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        try:
            moment = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


def _body(response: Any) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _zoom_time(value: Any) -> dt.datetime | None:
    if not value:
        return None
    moment = dt.datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


class ZoomMeetings:
    """The ``MeetingProvider`` on Zoom. ``api_url`` is e.g. ``https://api.zoom.us/v2``,
    ``oauth_url`` ``https://zoom.us/oauth/token``. ``token_lifetime`` is how long Zoom's tokens
    live (its ``expires_in``, 3600 s; zoomus does not expose the value it receives); a token
    that dies sooner is still caught by the 401 / code 124 refresh. ``timeout`` (whole seconds,
    zoomus rounds) bounds each API call; zoomus sends the token request without one."""

    def __init__(
        self,
        account_id: str,
        client_id: str,
        client_secret: str,
        api_url: str,
        oauth_url: str,
        *,
        clock: Callable[[], dt.datetime] = _utc_now,
        token_lifetime: dt.timedelta = dt.timedelta(seconds=3600),
        timeout: int = 15,
        user_id: str = "me",
    ) -> None:
        self._account_id = account_id
        self._client_id = client_id
        self._client_secret = client_secret
        self._api_url = api_url
        self._oauth_url = oauth_url
        self._clock = clock
        self._token_lifetime = token_lifetime
        self._timeout = timeout
        self._user_id = user_id
        self._client: Any = None
        self._token_issued_at: dt.datetime | None = None
        self._token_lock = asyncio.Lock()

    # -- the token --------------------------------------------------------------------------

    def _build_client(self) -> Any:
        client = ZoomClient(
            self._client_id,
            self._client_secret,
            self._account_id,
            base_uri=self._api_url,
            oauth_uri=self._oauth_url,
        )
        for component in client.components.values():
            component.timeout = self._timeout
        return client

    async def _ready_client(self) -> tuple[Any, str]:
        """The client and the token it will send, fetching or refreshing the token if needed."""
        async with self._token_lock:
            if self._client is None:
                issued_at = self._clock()
                client = await self._guard(asyncio.to_thread(self._build_client), "token")
                self._check_token(client)
                self._client, self._token_issued_at = client, issued_at
            elif self._token_expiring():
                await self._refresh_locked()
            return self._client, str(self._client.config["token"])

    def _token_expiring(self) -> bool:
        if self._token_issued_at is None:
            return True
        expires_at = self._token_issued_at + self._token_lifetime
        return self._clock() >= expires_at - REFRESH_MARGIN

    async def _refresh(self, stale_token: str) -> None:
        async with self._token_lock:
            if str(self._client.config["token"]) != stale_token:
                return  # another call refreshed it meanwhile
            await self._refresh_locked()

    async def _refresh_locked(self) -> None:
        issued_at = self._clock()
        await self._guard(asyncio.to_thread(self._client.refresh_token), "token")
        self._check_token(self._client)
        self._token_issued_at = issued_at

    @staticmethod
    def _check_token(client: Any) -> None:
        if client.config.get("token") is None:
            raise ProviderError(
                "Zoom refused the Server-to-Server OAuth credentials (account id, client id or "
                "client secret is wrong, or the app is deactivated)",
                retryable=False,
            )

    @staticmethod
    async def _guard(call: Awaitable[T], what: str) -> T:
        try:
            return await call
        except OSError as exc:  # requests' errors are OSErrors: refused, reset, timeout, bad JSON
            raise ProviderError(f"Zoom unreachable ({what}): {exc}", retryable=True) from None

    # -- calls --------------------------------------------------------------------------------

    async def _call(self, what: str, call: Callable[[Any], Any], *ok: int) -> Any:
        """Run ``call(client)`` in a thread; refresh the token and retry once on 401 / code 124;
        raise ``ProviderError`` unless the status is one of ``ok``."""
        client, token = await self._ready_client()
        response = await self._guard(asyncio.to_thread(call, client), what)
        if self._token_rejected(response):
            await self._refresh(token)
            response = await self._guard(asyncio.to_thread(call, client), what)
        if response.status_code not in ok:
            raise self._error(what, response)
        return response

    @staticmethod
    def _token_rejected(response: Any) -> bool:
        return bool(response.status_code == 401 or _body(response).get("code") == INVALID_TOKEN)

    def _error(self, what: str, response: Any) -> ProviderError:
        status = int(response.status_code)
        body = _body(response)
        code = body.get("code")
        code = int(code) if isinstance(code, int | str) and str(code).isdigit() else None
        detail = str(body.get("message") or response.text[:200] or response.reason)
        message = f"Zoom {what} failed: HTTP {status}: {detail}"
        if status == 429:
            header = response.headers.get("Retry-After")
            now = self._clock()
            retry_at = _parse_retry_after(header, now) if header else None
            # without a header it is the daily create/update limit: it resets at 00:00 UTC
            return ProviderError(
                message,
                code=code,
                retryable=True,
                retry_at=retry_at or _next_midnight_utc(now),
                status=status,
            )
        return ProviderError(message, code=code, retryable=status >= 500, status=status)

    @staticmethod
    def _meeting_body(spec: MeetingSpec) -> dict[str, Any]:
        return {
            "topic": spec.topic,
            "type": 2,  # scheduled
            # zoomus formats it as "%Y-%m-%dT%H:%M:%SZ" without converting: pass naive UTC
            "start_time": spec.starts_at.astimezone(dt.UTC).replace(tzinfo=None),
            "duration": spec.duration_minutes,
            "timezone": spec.timezone,
            "settings": {
                "approval_type": 0,  # registration on, approved automatically
                "waiting_room": spec.waiting_room,
                "join_before_host": False,
                "alternative_hosts": ",".join(spec.alternative_hosts),
                # we send our own mails with the personal link
                "registrants_confirmation_email": False,
                "registrants_email_notification": False,
            },
        }

    async def create_meeting(self, spec: MeetingSpec) -> Meeting:
        body = self._meeting_body(spec)
        response = await self._call(
            "create meeting",
            lambda c: c.meeting.create(user_id=self._user_id, **body),
            201,
            200,
        )
        data = _body(response)
        return Meeting(
            provider_id=str(data["id"]),
            uuid=str(data["uuid"]),
            join_url=str(data["join_url"]),
            start_url=str(data["start_url"]),
        )

    async def update_meeting(self, provider_id: str, spec: MeetingSpec) -> None:
        body = self._meeting_body(spec)
        body.pop("type")
        await self._call(
            f"update meeting {provider_id}",
            lambda c: c.meeting.update(id=provider_id, **body),
            204,
            200,
        )

    async def delete_meeting(self, provider_id: str) -> None:
        try:
            await self._call(
                f"delete meeting {provider_id}",
                lambda c: c.meeting.delete(id=provider_id),
                204,
                200,
            )
        except ProviderError as exc:
            if exc.status != 404:
                raise

    async def add_registrant(
        self, provider_id: str, email: str, first_name: str, last_name: str
    ) -> Registrant:
        response = await self._call(
            f"add registrant to meeting {provider_id}",
            lambda c: c.meeting.add_registrant(
                id=provider_id, email=email, first_name=first_name, last_name=last_name
            ),
            201,
            200,
        )
        data = _body(response)
        return Registrant(provider_id=str(data["registrant_id"]), join_url=str(data["join_url"]))

    async def cancel_registrant(self, provider_id: str, registrant_id: str) -> None:
        await self._call(
            f"cancel registrant {registrant_id} of meeting {provider_id}",
            lambda c: c.meeting.update_registrant_status(
                id=provider_id, action="cancel", registrants=[{"id": registrant_id}]
            ),
            204,
            200,
        )

    async def participants(self, meeting_uuid: str) -> list[Participant]:
        out: list[Participant] = []
        seen_tokens: set[str] = set()
        token = ""
        while True:
            params: dict[str, Any] = {"page_size": PAGE_SIZE}
            if token:
                params["next_page_token"] = token
            response = await self._call(
                f"participants of meeting {meeting_uuid}",
                functools.partial(self._participants_page, meeting_uuid=meeting_uuid, **params),
                200,
            )
            data = _body(response)
            out.extend(self._participant(row) for row in data.get("participants") or [])
            token = str(data.get("next_page_token") or "")
            if not token:
                return out
            if token in seen_tokens:
                raise ProviderError(
                    f"Zoom participants of meeting {meeting_uuid}: page token repeated",
                    retryable=True,
                )
            seen_tokens.add(token)

    @staticmethod
    def _participants_page(client: Any, **params: Any) -> Any:
        # zoomus double-encodes a uuid that starts with "/" or holds "//", as Zoom requires
        return client.past_meeting.get_participants(meeting_id=params.pop("meeting_uuid"), **params)

    @staticmethod
    def _participant(row: dict[str, Any]) -> Participant:
        joined_at = _zoom_time(row.get("join_time"))
        if joined_at is None:
            raise ProviderError(f"Zoom participant row without join_time: {row!r}", retryable=False)
        return Participant(
            key=str(row.get("id") or row.get("user_id") or ""),
            registrant_id=str(row["registrant_id"]) if row.get("registrant_id") else None,
            name=str(row.get("name") or ""),
            email=str(row["user_email"]) if row.get("user_email") else None,
            joined_at=joined_at,
            left_at=_zoom_time(row.get("leave_time")),
            duration=int(row.get("duration") or 0),
        )

    async def update_live_stream(
        self, provider_id: str, stream_url: str, stream_key: str, page_url: str
    ) -> None:
        await self._call(
            f"live stream of meeting {provider_id}",
            lambda c: c.live_stream.update(
                meeting_id=provider_id,
                stream_url=stream_url,
                stream_key=stream_key,
                page_url=page_url,
            ),
            204,
            200,
        )
