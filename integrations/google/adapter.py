"""Google Calendar (service account) and YouTube Live (a user's stored token) through
google-api-python-client. The plumbing (threads, one ``Http`` per thread, token refresh, error
mapping, retry policy) is ``transport.GoogleService``; this module speaks our nouns."""

from __future__ import annotations

import datetime as dt
import functools
import os
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from integrations.google import (
    CALENDAR_SCOPE,
    YOUTUBE_SCOPE,
    BroadcastSpec,
    BroadcastStatus,
    CalendarEvent,
    GoogleError,
    LiveStream,
    event_id_for,
)
from integrations.google.credentials import service_account_credentials, user_credentials
from integrations.google.transport import Clock, GoogleService, utc_now

KEY_PROPERTY = "internet10Key"  # private extended property carrying our stable key
YOUTUBE_WATCH_URL = "https://www.youtube.com/watch?v="
PAGE_SIZE = 50  # the largest page YouTube serves
STREAM_MARKER = "internet10 key: "  # a stream's description (only its owner sees streams)


def _event_time(moment: dt.datetime, timezone: str) -> dict[str, str]:
    local = moment.astimezone(ZoneInfo(timezone))
    return {"dateTime": local.isoformat(timespec="seconds"), "timeZone": timezone}


def event_body(event: CalendarEvent) -> dict[str, Any]:
    """Everything we own of an event, sent whole on insert and on every update (a patch that
    sets all of it), so an update also restores a deleted event and clears what we dropped.
    Deliberately no ``attendees``."""
    description = f"{event.description}\n\n{event.link}" if event.description else event.link
    return {
        "summary": event.summary,
        "description": description,
        "location": event.location or event.link,
        "start": _event_time(event.starts_at, event.timezone),
        "end": _event_time(event.ends_at, event.timezone),
        "source": {"title": event.summary, "url": event.link},
        "status": "confirmed",
    }


class GoogleCalendar:
    """The ``CalendarPublisher`` on Google Calendar, as a service account the calendar is shared
    with ("make changes to events"). ``credentials_file`` is the service account's JSON key;
    ``token_uri`` replaces the key's token endpoint and ``api_endpoint`` Google's
    (``https://www.googleapis.com/calendar/v3/``): both point at the stand-in in tests and the
    demo. Construction reads nothing; the key is read on the first call."""

    def __init__(
        self,
        credentials_file: str | os.PathLike[str],
        *,
        api_endpoint: str | None = None,
        token_uri: str | None = None,
        timeout: float = 15,
        clock: Clock = utc_now,
    ) -> None:
        self._service = GoogleService(
            "calendar",
            "v3",
            label="Google Calendar",
            load_credentials=lambda: service_account_credentials(
                credentials_file, scopes=[CALENDAR_SCOPE], token_uri=token_uri
            ),
            api_endpoint=api_endpoint,
            timeout=timeout,
            clock=clock,
            daily_quota_reasons=frozenset(),
            refused_hint="the service-account key was refused (deleted or disabled?)",
        )

    async def upsert_event(self, calendar_id: str, key: str, event: CalendarEvent) -> str:
        event_id = event_id_for(key)
        body = event_body(event) | {
            "id": event_id,
            "extendedProperties": {"private": {KEY_PROPERTY: key}},
        }
        try:
            await self._service.execute(
                f"insert event {event_id} ({key})",
                lambda s: s.events().insert(calendarId=calendar_id, body=body, sendUpdates="none"),
            )
        except GoogleError as exc:
            if exc.status != 409:
                raise
            # the id exists (published before, perhaps deleted since): overwrite and restore it
            await self._patch(calendar_id, event_id, body, f"update event {event_id} ({key})")
        return event_id

    async def update_event(self, calendar_id: str, event_id: str, event: CalendarEvent) -> None:
        await self._patch(calendar_id, event_id, event_body(event), f"update event {event_id}")

    async def _patch(
        self, calendar_id: str, event_id: str, body: dict[str, Any], what: str
    ) -> None:
        await self._service.execute(
            what,
            lambda s: s.events().patch(
                calendarId=calendar_id, eventId=event_id, body=body, sendUpdates="none"
            ),
        )

    async def delete_event(self, calendar_id: str, event_id: str) -> None:
        try:
            await self._service.execute(
                f"delete event {event_id}",
                lambda s: s.events().delete(
                    calendarId=calendar_id, eventId=event_id, sendUpdates="none"
                ),
            )
        except GoogleError as exc:
            if exc.status not in (404, 410):  # 410: deleted before
                raise

    async def aclose(self) -> None:
        await self._service.aclose()


def _page_request(
    list_page: Callable[[Any, str | None], Any], token: str | None, service: Any
) -> Any:
    return list_page(service, token)


def _youtube_time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _same_moment(value: object, moment: dt.datetime) -> bool:
    if not isinstance(value, str):
        return False
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00")) == moment
    except ValueError:
        return False


class YouTubeLive:
    """The ``LiveStreamProvider`` on YouTube Live, as the user whose channel streams (YouTube
    does not accept service accounts). ``token_file`` is the stored user token that
    ``consent.finish_consent`` writes; its access token is refreshed with the refresh token
    whenever it expires (the refreshed access token is kept in memory only: the refresh token
    does not change). ``api_endpoint`` replaces ``https://youtube.googleapis.com`` and
    ``token_uri`` the token file's endpoint; ``watch_url`` is what a broadcast id is appended
    to for viewers. Construction reads nothing."""

    def __init__(
        self,
        token_file: str | os.PathLike[str],
        *,
        api_endpoint: str | None = None,
        token_uri: str | None = None,
        watch_url: str = YOUTUBE_WATCH_URL,
        timeout: float = 15,
        clock: Clock = utc_now,
    ) -> None:
        self._watch_url = watch_url
        self._service = GoogleService(
            "youtube",
            "v3",
            label="YouTube",
            load_credentials=lambda: user_credentials(
                token_file, scopes=[YOUTUBE_SCOPE], token_uri=token_uri
            ),
            api_endpoint=api_endpoint,
            timeout=timeout,
            clock=clock,
            daily_quota_reasons=frozenset({"quotaExceeded"}),
            refused_hint="the stored YouTube authorisation was revoked or has expired: "
            "authorise again",
        )

    # -- create -------------------------------------------------------------------------------

    async def create_live(self, key: str, spec: BroadcastSpec) -> LiveStream:
        stream = await self._find_stream(key) or await self._insert_stream(key, spec)
        stream_id = str(stream["id"])
        broadcast = await self._find_broadcast(stream_id, spec)
        if broadcast is None:
            broadcast = await self._insert_broadcast(spec)
        if (broadcast.get("contentDetails") or {}).get("boundStreamId") != stream_id:
            broadcast = await self._service.execute(
                f"bind broadcast {broadcast['id']} to stream {stream_id}",
                lambda s: s.liveBroadcasts().bind(
                    id=broadcast["id"], part="id,contentDetails,status", streamId=stream_id
                ),
            )
        ingestion = stream["cdn"]["ingestionInfo"]
        return LiveStream(
            broadcast_id=str(broadcast["id"]),
            stream_id=stream_id,
            ingestion_address=str(ingestion["ingestionAddress"]),
            stream_name=str(ingestion["streamName"]),
            watch_url=f"{self._watch_url}{broadcast['id']}",
        )

    async def _pages(
        self, what: str, list_page: Callable[[Any, str | None], Any]
    ) -> list[dict[str, Any]]:
        """Every item of a YouTube list, page by page; ``list_page(service, page_token)``."""
        items: list[dict[str, Any]] = []
        token: str | None = None
        seen: set[str] = set()
        while True:
            page = await self._service.execute(
                what, functools.partial(_page_request, list_page, token)
            )
            items.extend(page.get("items") or [])
            token = page.get("nextPageToken")
            if not token:
                return items
            if token in seen:
                raise GoogleError(f"YouTube {what}: page token repeated", retryable=True)
            seen.add(token)

    async def _find_stream(self, key: str) -> dict[str, Any] | None:
        streams = await self._pages(
            "list streams",
            lambda s, token: s.liveStreams().list(
                part="id,snippet,cdn", mine=True, maxResults=PAGE_SIZE, pageToken=token
            ),
        )
        marker = STREAM_MARKER + key
        return next((s for s in streams if s["snippet"].get("description") == marker), None)

    async def _insert_stream(self, key: str, spec: BroadcastSpec) -> dict[str, Any]:
        body = {
            "snippet": {"title": spec.title, "description": STREAM_MARKER + key},
            "cdn": {"ingestionType": "rtmp", "resolution": "variable", "frameRate": "variable"},
            "contentDetails": {"isReusable": False},
        }
        result: dict[str, Any] = await self._service.execute(
            "insert stream",
            lambda s: s.liveStreams().insert(part="id,snippet,cdn,contentDetails", body=body),
        )
        return result

    async def _find_broadcast(self, stream_id: str, spec: BroadcastSpec) -> dict[str, Any] | None:
        """The upcoming broadcast bound to our stream, else an unbound one we created before
        failing to bind it (same title and start)."""
        broadcasts = await self._pages(
            "list upcoming broadcasts",
            lambda s, token: s.liveBroadcasts().list(
                part="id,snippet,contentDetails,status",
                broadcastStatus="upcoming",
                maxResults=PAGE_SIZE,
                pageToken=token,
            ),
        )
        for broadcast in broadcasts:
            if (broadcast.get("contentDetails") or {}).get("boundStreamId") == stream_id:
                return broadcast
        for broadcast in broadcasts:
            snippet = broadcast["snippet"]
            if (
                not (broadcast.get("contentDetails") or {}).get("boundStreamId")
                and snippet.get("title") == spec.title
                and _same_moment(snippet.get("scheduledStartTime"), spec.starts_at)
            ):
                return broadcast
        return None

    @staticmethod
    def _snippet(spec: BroadcastSpec) -> dict[str, Any]:
        snippet = {
            "title": spec.title,
            "description": spec.description,
            "scheduledStartTime": _youtube_time(spec.starts_at),
        }
        if spec.ends_at is not None:
            snippet["scheduledEndTime"] = _youtube_time(spec.ends_at)
        return snippet

    async def _insert_broadcast(self, spec: BroadcastSpec) -> dict[str, Any]:
        body = {
            "snippet": self._snippet(spec),
            "status": {"privacyStatus": spec.privacy, "selfDeclaredMadeForKids": False},
            "contentDetails": {
                "enableAutoStart": False,  # we transition it, with the event
                "enableAutoStop": False,
                "enableMonitorStream": True,
                "enableDvr": True,
                "recordFromStart": True,
            },
        }
        result: dict[str, Any] = await self._service.execute(
            "insert broadcast",
            lambda s: s.liveBroadcasts().insert(part="id,snippet,status,contentDetails", body=body),
        )
        return result

    # -- afterwards ---------------------------------------------------------------------------

    async def update_broadcast(self, broadcast_id: str, spec: BroadcastSpec) -> None:
        body = {
            "id": broadcast_id,
            "snippet": self._snippet(spec),
            "status": {"privacyStatus": spec.privacy},
        }
        await self._service.execute(
            f"update broadcast {broadcast_id}",
            lambda s: s.liveBroadcasts().update(part="id,snippet,status", body=body),
        )

    async def transition(self, broadcast_id: str, status: BroadcastStatus) -> None:
        try:
            await self._service.execute(
                f"transition broadcast {broadcast_id} to {status}",
                lambda s: s.liveBroadcasts().transition(
                    broadcastStatus=status, id=broadcast_id, part="id,status"
                ),
            )
        except GoogleError as exc:
            if exc.reason != "redundantTransition":  # already there: a retried job
                raise

    async def delete_live(self, broadcast_id: str, stream_id: str) -> None:
        deletions: list[tuple[str, Any]] = [
            (f"broadcast {broadcast_id}", lambda s: s.liveBroadcasts().delete(id=broadcast_id)),
            (f"stream {stream_id}", lambda s: s.liveStreams().delete(id=stream_id)),
        ]
        for what, delete in deletions:
            try:
                await self._service.execute(f"delete {what}", delete)
            except GoogleError as exc:
                if exc.status != 404:
                    raise

    async def aclose(self) -> None:
        await self._service.aclose()
