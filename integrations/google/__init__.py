"""Google Calendar and YouTube Live behind our Protocols: google-api-python-client in production
(``adapter.GoogleCalendar``, ``adapter.YouTubeLive``), a local Google stand-in server for tests
and the demo (``standin``), and the installed-app consent YouTube needs (``consent``).

Our nouns only: nothing here is shaped like Google's JSON. Every time is aware; the IANA zone an
event is shown in travels beside it."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import Literal, Protocol
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

CALENDAR_SCOPE = "https://www.googleapis.com/auth/calendar.events"
YOUTUBE_SCOPE = "https://www.googleapis.com/auth/youtube"
YOUTUBE_TITLE_MAX = 100  # YouTube refuses longer broadcast titles

BroadcastStatus = Literal["testing", "live", "complete"]
Privacy = Literal["public", "unlisted", "private"]


def _require_aware(name: str, moment: dt.datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {moment!r}")


@dataclass(frozen=True)
class CalendarEvent:
    """One entry of a public calendar (a slot, a hub session). ``timezone`` is the IANA zone
    Google shows it in. ``link`` is the public event page, never a personal join link: it is
    the description's last line and the event's source, and also its location when there is
    no place. Nobody is ever invited: there are no attendees (service accounts cannot invite
    without domain-wide delegation; registrants get .ics files instead)."""

    summary: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    timezone: str
    link: str
    description: str = ""
    location: str = ""  # a place (hub venue); empty for online-only

    def __post_init__(self) -> None:
        if not self.summary.strip():
            raise ValueError("summary must not be empty")
        _require_aware("starts_at", self.starts_at)
        _require_aware("ends_at", self.ends_at)
        if self.ends_at <= self.starts_at:
            raise ValueError(f"ends_at {self.ends_at} must be after starts_at {self.starts_at}")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"timezone {self.timezone!r} is not an IANA zone") from None
        if urlsplit(self.link).scheme not in ("http", "https"):
            raise ValueError(f"link must be an http(s) address, got {self.link!r}")


@dataclass(frozen=True)
class BroadcastSpec:
    """What we ask of a YouTube live broadcast: scheduled, not started or stopped by YouTube on
    its own (we transition it), with a monitor stream (so ``testing`` comes before ``live``)."""

    title: str
    starts_at: dt.datetime
    ends_at: dt.datetime | None = None
    description: str = ""
    privacy: Privacy = "public"

    def __post_init__(self) -> None:
        if not self.title.strip() or len(self.title) > YOUTUBE_TITLE_MAX:
            raise ValueError(f"title must have 1 to {YOUTUBE_TITLE_MAX} characters")
        if "<" in self.title or ">" in self.title:
            raise ValueError("YouTube refuses '<' and '>' in titles")
        _require_aware("starts_at", self.starts_at)
        if self.ends_at is not None:
            _require_aware("ends_at", self.ends_at)
            if self.ends_at <= self.starts_at:
                raise ValueError(f"ends_at {self.ends_at} must be after {self.starts_at}")


@dataclass(frozen=True)
class LiveStream:
    """A broadcast bound to its ingestion stream. ``ingestion_address`` and ``stream_name`` are
    what an encoder (Zoom's custom live stream) pushes to; ``stream_name`` is the stream key,
    a secret (kept out of ``repr``). ``watch_url`` is what viewers open."""

    broadcast_id: str
    stream_id: str
    ingestion_address: str
    stream_name: str = field(repr=False)
    watch_url: str


class GoogleError(Exception):
    """Google refused or could not be reached. ``reason`` is Google's own reason
    (``rateLimitExceeded``, ``quotaExceeded``, ``notFound``, ``invalidTransition``, an OAuth
    ``invalid_grant`` ...) when it sent one; ``status`` the HTTP status when there was an answer.
    ``retryable`` says whether trying later can help; ``retry_at`` (aware UTC), when set, is the
    earliest moment worth trying."""

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        status: int | None = None,
        retryable: bool,
        retry_at: dt.datetime | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason
        self.status = status
        self.retryable = retryable
        self.retry_at = retry_at

    def __repr__(self) -> str:
        return (
            f"GoogleError({self.message!r}, reason={self.reason!r}, status={self.status!r}, "
            f"retryable={self.retryable!r}, retry_at={self.retry_at!r})"
        )


def event_id_for(key: str) -> str:
    """The Google Calendar event id for our stable ``key`` (e.g. ``"slot:42"``): base32hex of a
    SHA-256, lower case, 52 characters of ``0-9a-v`` (Google accepts 5 to 1024 of them).
    Deterministic on purpose: inserting it twice is a 409 we turn into an update, so
    re-publishing never duplicates. Never change this: published events are found by it."""
    if not key:
        raise ValueError("key must not be empty")
    digest = hashlib.sha256(b"internet10:" + key.encode("utf-8")).digest()
    return base64.b32hexencode(digest).decode("ascii").rstrip("=").lower()


class CalendarPublisher(Protocol):
    async def upsert_event(self, calendar_id: str, key: str, event: CalendarEvent) -> str:
        """Create the event for ``key`` or, when it exists (even deleted), overwrite it with
        ``event`` and restore it. Returns its Google event id, ``event_id_for(key)``."""

    async def update_event(self, calendar_id: str, event_id: str, event: CalendarEvent) -> None:
        """Overwrite an existing event (restoring it if deleted). A missing one is a
        ``GoogleError`` with status 404, not retryable: ``upsert_event`` recreates it."""

    async def delete_event(self, calendar_id: str, event_id: str) -> None:
        """Deleting an event that is already gone (404, 410) succeeds."""

    async def aclose(self) -> None:
        """Close the HTTP connections; call once at shutdown."""


class LiveStreamProvider(Protocol):
    async def create_live(self, key: str, spec: BroadcastSpec) -> LiveStream:
        """Create a scheduled broadcast and an ingestion stream for our stable ``key``, bind
        them, and return the addresses. Safe to repeat after a partial failure: the stream
        carries ``key`` and is found again, and so is the broadcast bound to it (or an unbound
        one with the same title and start), instead of creating others."""

    async def update_broadcast(self, broadcast_id: str, spec: BroadcastSpec) -> None:
        """New title, description, times or privacy for a broadcast not yet complete."""

    async def transition(self, broadcast_id: str, status: BroadcastStatus) -> None:
        """Move the broadcast on, in order: ``testing``, ``live``, ``complete``. Asking for the
        status it already has succeeds (a retried job). Going ``testing`` or ``live`` before the
        encoder sends video is ``GoogleError`` reason ``errorStreamInactive``, retryable."""

    async def delete_live(self, broadcast_id: str, stream_id: str) -> None:
        """Delete the broadcast, then its stream; either already gone (404) is fine."""

    async def aclose(self) -> None:
        """Close the HTTP connections; call once at shutdown."""
