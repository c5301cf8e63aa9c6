"""The Google jobs: the programme on Google Calendar (``google.calendar``), the YouTube broadcast
(``youtube.live``) and handing its stream to the Zoom meeting (``youtube.handoff``).

Each API has its own gate (``gate.ProviderGate``): YouTube's daily quota running out must not
hold the calendar back. Google's refusals fail the job at once with Google's reason, for the
failed-jobs page; 429, 5xx, rate limits and an unreachable Google defer it (without spending
attempts while the gate is closed)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from integrations.google import CalendarPublisher, LiveStreamProvider
from integrations.google.adapter import GoogleCalendar, YouTubeLive
from integrations.zoom import MeetingProvider
from internet10.db import Database
from internet10.jobs.gate import ProviderGate
from internet10.jobs.worker import Handler, PermanentJobError, RetryLater
from internet10.services import google_calendar, livestreams
from internet10.settings import Settings

log = logging.getLogger(__name__)

# Per worker process. Calendar allows about 10 queries per second per user; YouTube counts
# units per day (10,000) rather than calls per second, and our calls are few.
CALENDAR_CALLS_PER_SECOND = 5.0
YOUTUBE_CALLS_PER_SECOND = 2.0


def _url(value: object | None) -> str | None:
    return str(value) if value is not None else None


def calendar_from_settings(
    settings: Settings, *, clock: Callable[[], dt.datetime]
) -> CalendarPublisher | None:
    if not (settings.google_credentials and settings.google_calendar_id):
        return None
    return GoogleCalendar(
        settings.google_credentials,
        api_endpoint=_url(settings.google_calendar_api_url),
        token_uri=_url(settings.google_token_uri),
        clock=clock,
    )


def youtube_from_settings(
    settings: Settings, *, clock: Callable[[], dt.datetime]
) -> LiveStreamProvider | None:
    if not settings.youtube_token_file:
        return None
    return YouTubeLive(
        settings.youtube_token_file,
        api_endpoint=_url(settings.youtube_api_url),
        token_uri=_url(settings.google_token_uri),
        watch_url=str(settings.youtube_watch_url),
        clock=clock,
    )


def google_handlers(
    settings: Settings,
    database: Database,
    *,
    clock: Callable[[], dt.datetime],
    zoom: Callable[[], MeetingProvider],
    zoom_gate: ProviderGate,
    calendar_publisher: CalendarPublisher | None = None,
    live_stream_provider: LiveStreamProvider | None = None,
) -> dict[str, Handler]:
    """``zoom`` gives the meeting provider (or raises ``PermanentJobError`` when Zoom is not
    configured); ``zoom_gate`` is the Zoom jobs' gate, shared with them."""
    base_url = settings.base_url_str
    calendar_id = settings.google_calendar_id or ""
    publisher = calendar_publisher or calendar_from_settings(settings, clock=clock)
    youtube = live_stream_provider or youtube_from_settings(settings, clock=clock)
    calendar_gate = ProviderGate("Google Calendar", CALENDAR_CALLS_PER_SECOND, clock=clock)
    youtube_gate = ProviderGate("YouTube", YOUTUBE_CALLS_PER_SECOND, clock=clock)

    def calendar() -> CalendarPublisher:
        if publisher is None or not calendar_id:
            raise PermanentJobError(
                "Google Calendar is not configured "
                "(INTERNET10_GOOGLE_CREDENTIALS, INTERNET10_GOOGLE_CALENDAR_ID)"
            )
        return publisher

    def live() -> LiveStreamProvider:
        if youtube is None:
            raise PermanentJobError("YouTube is not configured (INTERNET10_YOUTUBE_TOKEN_FILE)")
        return youtube

    async def calendar_sync(payload: dict[str, Any]) -> None:
        event_id, chosen = int(payload["event_id"]), calendar()
        outcome = await calendar_gate.call(
            lambda: google_calendar.sync_calendar(
                database,
                chosen,
                event_id,
                calendar_id=calendar_id,
                base_url=base_url,
                now=clock(),
            )
        )
        log.info(
            "calendar of event %s: published %s, deleted %s, %d unchanged",
            event_id,
            outcome.published,
            outcome.deleted,
            outcome.unchanged,
        )

    async def live_sync(payload: dict[str, Any]) -> None:
        event_id, chosen = int(payload["event_id"]), live()
        outcome = await youtube_gate.call(
            lambda: livestreams.sync_livestream(
                database, chosen, event_id, base_url=base_url, now=clock()
            )
        )
        log.info("broadcast of event %s: %s", event_id, outcome.done)
        if outcome.wait is not None:
            raise RetryLater(outcome.why or outcome.done, not_before=clock() + outcome.wait)

    async def handoff(payload: dict[str, Any]) -> None:
        event_id, chosen = int(payload["event_id"]), zoom()
        done = await zoom_gate.call(
            lambda: livestreams.hand_over(database, chosen, event_id, now=clock())
        )
        log.info("live stream of event %s to its meeting: %s", event_id, done)

    return {
        google_calendar.JOB: calendar_sync,
        livestreams.JOB: live_sync,
        livestreams.HANDOFF_JOB: handoff,
    }
