"""Online meetings behind the ``MeetingProvider`` Protocol: Zoom through zoomus in production
(``adapter.ZoomMeetings``), a local Zoom stand-in server for tests and the demo (``standin``).

Our nouns only: nothing here is shaped like Zoom's JSON. Provider ids are strings because Zoom's
meeting ids are int64 and its registrant and participant ids are opaque strings."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class MeetingSpec:
    """What we ask of a meeting. ``starts_at`` must be aware (it is sent as UTC); ``timezone`` is
    the IANA zone the meeting is shown in, kept beside it. Registration is always on with
    automatic approval, so every registrant gets a personal join URL."""

    topic: str
    starts_at: dt.datetime
    duration_minutes: int
    timezone: str
    alternative_hosts: tuple[str, ...] = field(default_factory=tuple)  # moderators' emails
    waiting_room: bool = True

    def __post_init__(self) -> None:
        if self.starts_at.tzinfo is None or self.starts_at.utcoffset() is None:
            raise ValueError(f"starts_at must be timezone-aware, got {self.starts_at!r}")
        if self.duration_minutes <= 0:
            raise ValueError(f"duration_minutes must be positive, got {self.duration_minutes}")


@dataclass(frozen=True)
class Meeting:
    provider_id: str
    uuid: str  # identifies one occurrence; the participants report is read by it
    join_url: str  # the shared link; registrants get their own personal link instead
    start_url: str  # opens the meeting as host: never shown to attendees


@dataclass(frozen=True)
class Registrant:
    provider_id: str
    join_url: str  # personal to this registrant


@dataclass(frozen=True)
class Participant:
    """One join..leave span of one person, as the provider's report tells it after the meeting.

    ``key`` identifies the person within the meeting when the provider knows them (their user
    id), otherwise the provider's per-session id; several spans may share a key."""

    key: str
    registrant_id: str | None
    name: str
    email: str | None
    joined_at: dt.datetime  # aware, UTC
    left_at: dt.datetime | None  # aware, UTC
    duration: int  # seconds in the meeting during this span, as the provider counts them


class ProviderError(Exception):
    """The provider refused or could not be reached. ``code`` is the provider's own error code
    (Zoom's 3001 "Meeting does not exist", 124 "Invalid access token", ...) when it sent one;
    ``status`` the HTTP status when there was an answer. ``retryable`` says whether trying later
    can help; ``retry_at`` (aware UTC), when set, is the earliest moment worth trying."""

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        retryable: bool,
        retry_at: dt.datetime | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.retryable = retryable
        self.retry_at = retry_at
        self.status = status

    def __repr__(self) -> str:
        return (
            f"ProviderError({self.message!r}, code={self.code!r}, retryable={self.retryable!r}, "
            f"retry_at={self.retry_at!r}, status={self.status!r})"
        )


class MeetingProvider(Protocol):
    async def create_meeting(self, spec: MeetingSpec) -> Meeting: ...

    async def update_meeting(self, provider_id: str, spec: MeetingSpec) -> None: ...

    async def delete_meeting(self, provider_id: str) -> None:
        """Deleting a meeting that is already gone succeeds."""

    async def add_registrant(
        self, provider_id: str, email: str, first_name: str, last_name: str
    ) -> Registrant:
        """Adding the same email twice gives back the same registrant (Zoom's behaviour)."""

    async def cancel_registrant(self, provider_id: str, registrant_id: str) -> None: ...

    async def participants(self, meeting_uuid: str) -> list[Participant]:
        """Every span of the ended meeting, all pages read."""

    async def update_live_stream(
        self, provider_id: str, stream_url: str, stream_key: str, page_url: str
    ) -> None: ...


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    """Zoom's ``x-zm-signature`` for a webhook: over the exact body bytes as sent, never over a
    re-serialised payload (re-serialising escapes non-ASCII names and changes the bytes).
    ``timestamp`` is the ``x-zm-request-timestamp`` header, Unix seconds."""
    message = b"v0:" + timestamp.encode("ascii") + b":" + body
    return "v0=" + hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()
