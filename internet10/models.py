"""SQLAlchemy models. Thin: rules live in services and in ``scheduler``.

Every timestamp is stored in UTC (``UTCDateTime``) with the IANA zone kept beside it where a
local time matters.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Aware datetimes in, aware UTC datetimes out; stored naive UTC on every database."""

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        assert isinstance(value, dt.datetime)
        return value.replace(tzinfo=dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dt.datetime: UTCDateTime()}


class EventKind(enum.StrEnum):
    INTERNET10 = "internet10"
    HUB = "hub"


class EventStatus(enum.StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    LIVE = "live"
    ENDED = "ended"
    CANCELLED = "cancelled"


class Role(enum.StrEnum):
    ORGANISER = "organiser"
    DELEGATE = "delegate"
    MODERATOR = "moderator"
    HUB_COORDINATOR = "hub-coordinator"


class RegistrationStatus(enum.StrEnum):
    CONFIRMED = "confirmed"
    WAITLISTED = "waitlisted"
    CANCELLED = "cancelled"


class JobStatus(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


def _enum_check(name: str, column: str, values: type[enum.StrEnum]) -> CheckConstraint:
    allowed = ", ".join(f"'{v.value}'" for v in values)
    return CheckConstraint(f"{column} IN ({allowed})", name=name)


class Chapter(Base):
    __tablename__ = "chapters"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    country: Mapped[str] = mapped_column(String(2))
    timezone: Mapped[str] = mapped_column(String(64))
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)
    hours_start: Mapped[str] = mapped_column(String(5), default="08:00")
    hours_end: Mapped[str] = mapped_column(String(5), default="22:00")
    created_at: Mapped[dt.datetime]


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (
        _enum_check("kind", "kind", EventKind),
        _enum_check("status", "status", EventStatus),
        CheckConstraint("duration_minutes > 0", name="duration_positive"),
        CheckConstraint("capacity >= 0", name="capacity_non_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    starts_at: Mapped[dt.datetime]
    duration_minutes: Mapped[int]
    timezone: Mapped[str] = mapped_column(String(64))
    capacity: Mapped[int]
    participant_target: Mapped[int]
    status: Mapped[str] = mapped_column(String(16), default=EventStatus.DRAFT.value)
    upstream_event: Mapped[str | None] = mapped_column(String(200))
    # A hub that retransmits one of our own events (the Internet10 session followed from its
    # room): that event's attendance counts the hub's people, once, and breaks them down by hub.
    retransmits_id: Mapped[int | None] = mapped_column(ForeignKey("events.id"), index=True)
    venue: Mapped[str | None] = mapped_column(String(300))
    seats: Mapped[int | None]
    bookings_need_approval: Mapped[bool] = mapped_column(Boolean, default=False)
    agenda: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    sequence: Mapped[int] = mapped_column(default=0)
    meeting_id: Mapped[str | None] = mapped_column(String(32), index=True)
    meeting_uuid: Mapped[str | None] = mapped_column(String(100))
    meeting_join_url: Mapped[str | None] = mapped_column(String(1000))
    meeting_start_url: Mapped[str | None] = mapped_column(String(2000))
    # SHA-256 of the meeting settings last sent to the provider: an update is sent only when
    # they change (Zoom allows 100 meeting creates/updates per host per day).
    meeting_spec_digest: Mapped[str | None] = mapped_column(String(64))
    # The organiser chose to send people beyond the meeting's capacity to a livestream.
    overflow_livestream: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]

    slots: Mapped[list[Slot]] = relationship(
        back_populates="event", order_by="Slot.position", cascade="all, delete-orphan"
    )

    @property
    def ends_at(self) -> dt.datetime:
        return self.starts_at + dt.timedelta(minutes=self.duration_minutes)


class Slot(Base):
    __tablename__ = "slots"
    __table_args__ = (
        UniqueConstraint("event_id", "position"),
        UniqueConstraint("event_id", "chapter_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    position: Mapped[int]
    starts_at: Mapped[dt.datetime]
    presentation_minutes: Mapped[int]
    debate_minutes: Mapped[int]
    chapter_id: Mapped[int | None] = mapped_column(ForeignKey("chapters.id"))
    booking_status: Mapped[str | None] = mapped_column(String(16))
    title: Mapped[str | None] = mapped_column(String(300))
    abstract: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(2))
    speakers: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    slides_url: Mapped[str | None] = mapped_column(String(1000))
    actual_started_at: Mapped[dt.datetime | None]
    actual_ended_at: Mapped[dt.datetime | None]
    skipped: Mapped[bool] = mapped_column(Boolean, default=False)
    extended_minutes: Mapped[int] = mapped_column(default=0)
    # A moderator's last decision on the slot's Q&A window (open or closed) and when it was
    # taken; ``None``: none yet. services.qa.window weighs it against the slot's start and end.
    qa_open: Mapped[bool | None] = mapped_column(Boolean)
    qa_decided_at: Mapped[dt.datetime | None]
    booked_at: Mapped[dt.datetime | None]
    booked_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[dt.datetime]

    event: Mapped[Event] = relationship(back_populates="slots")

    @property
    def ends_at(self) -> dt.datetime:
        return self.starts_at + dt.timedelta(
            minutes=self.presentation_minutes + self.debate_minutes
        )


class SlotSwap(Base):
    """A chapter's proposal to exchange its slot with another chapter's; that chapter decides."""

    __tablename__ = "slot_swaps"
    __table_args__ = (
        CheckConstraint(
            "status IN ('pending', 'accepted', 'declined', 'withdrawn')", name="status"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    from_slot_id: Mapped[int] = mapped_column(ForeignKey("slots.id", ondelete="CASCADE"))
    to_slot_id: Mapped[int] = mapped_column(ForeignKey("slots.id", ondelete="CASCADE"))
    proposed_by_chapter_id: Mapped[int] = mapped_column(ForeignKey("chapters.id"))
    target_chapter_id: Mapped[int] = mapped_column(ForeignKey("chapters.id"))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    created_at: Mapped[dt.datetime]
    decided_at: Mapped[dt.datetime | None]
    decided_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class HubSession(Base):
    """A session of the upstream event that a hub retransmits, imported from its agenda."""

    __tablename__ = "hub_sessions"
    __table_args__ = (UniqueConstraint("event_id", "uid"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    uid: Mapped[str] = mapped_column(String(300))
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    starts_at: Mapped[dt.datetime]
    ends_at: Mapped[dt.datetime]
    at_night: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str | None] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(2), default="fr")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime]

    grants: Mapped[list[RoleGrant]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin"
    )


class RoleGrant(Base):
    __tablename__ = "role_grants"
    __table_args__ = (
        _enum_check("role", "role", Role),
        UniqueConstraint("user_id", "role", "chapter_id", "event_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(32))
    chapter_id: Mapped[int | None] = mapped_column(ForeignKey("chapters.id"))
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id"))
    created_at: Mapped[dt.datetime]

    user: Mapped[User] = relationship(back_populates="grants")


class ApiToken(Base):
    """A staff credential: an API bearer token or a one-time login link. Only the hash is kept."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16), default="api")
    label: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime | None]
    used_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]


class Registration(Base):
    __tablename__ = "registrations"
    __table_args__ = (
        UniqueConstraint("event_id", "email"),
        _enum_check("status", "status", RegistrationStatus),
        CheckConstraint("mode IN ('online', 'in_person')", name="mode"),
        Index("ix_registrations_event_status", "event_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"))
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320))
    country: Mapped[str] = mapped_column(String(2))
    language: Mapped[str] = mapped_column(String(2))
    chapter_id: Mapped[int | None] = mapped_column(ForeignKey("chapters.id"))
    mode: Mapped[str] = mapped_column(String(16), default="online")
    status: Mapped[str] = mapped_column(String(16))
    promoted_at: Mapped[dt.datetime | None]
    zoom_registrant_id: Mapped[str | None] = mapped_column(String(100))
    join_url: Mapped[str | None] = mapped_column(String(1000))
    join_clicked_at: Mapped[dt.datetime | None]
    checked_in_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]
    cancelled_at: Mapped[dt.datetime | None]


class RegistrationLink(Base):
    """A personal link to one registration. Only the token's hash is kept; each mail that carries
    a link carries a fresh one, so no token is ever stored in clear."""

    __tablename__ = "registration_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    registration_id: Mapped[int] = mapped_column(
        ForeignKey("registrations.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime]
    revoked_at: Mapped[dt.datetime | None]


class IdempotencyRecord(Base):
    """The first response to a request sent with an ``Idempotency-Key``, to be replayed.

    ``key_hash`` is a hash of the key; the response body is encrypted with a key derived from the
    client's key and the service's secret, so the table alone reveals no access token."""

    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("scope", "key_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(200))
    key_hash: Mapped[str] = mapped_column(String(64))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int]
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime]


class QuestionStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DISMISSED = "dismissed"
    MERGED = "merged"


class Question(Base):
    """A question asked in a slot's Q&A window, by an attendee (``registration_id``) or relayed
    by a hub's coordinator from the room (``relayed_by_hub_id``, optionally with the name the
    person gave, ``relayed_name``). ``text`` is what is shown; ``original_text`` keeps the
    asker's words once a moderator has edited them. An ``anonymous`` asker's identity is for
    moderators only."""

    __tablename__ = "questions"
    __table_args__ = (Index("ix_questions_slot_id_status", "slot_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    slot_id: Mapped[int] = mapped_column(ForeignKey("slots.id", ondelete="CASCADE"))
    registration_id: Mapped[int | None] = mapped_column(ForeignKey("registrations.id"))
    relayed_by_hub_id: Mapped[int | None] = mapped_column(ForeignKey("events.id"))
    relayed_name: Mapped[str | None] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    original_text: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(2))
    anonymous: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    on_air: Mapped[bool] = mapped_column(Boolean, default=False)
    answered_at: Mapped[dt.datetime | None]
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("questions.id"))
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]


class Vote(Base):
    __tablename__ = "votes"

    question_id: Mapped[int] = mapped_column(
        ForeignKey("questions.id", ondelete="CASCADE"), primary_key=True
    )
    registration_id: Mapped[int] = mapped_column(ForeignKey("registrations.id"), primary_key=True)
    created_at: Mapped[dt.datetime]


class ModerationAction(Base):
    """One moderator's decision on a slot's Q&A: who, when, what. Window changes have no
    question. ``details`` keeps what the action replaced (an edit's text before and after and
    the asker's original words; a merge's target and the votes moved)."""

    __tablename__ = "moderation_actions"
    __table_args__ = (Index("ix_moderation_actions_slot_id_id", "slot_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    slot_id: Mapped[int] = mapped_column(ForeignKey("slots.id", ondelete="CASCADE"))
    question_id: Mapped[int | None] = mapped_column(
        ForeignKey("questions.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(16))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime]


class AttendanceInterval(Base):
    """One join..leave span of one participant in one event (online or in the room)."""

    __tablename__ = "attendance_intervals"
    __table_args__ = (UniqueConstraint("event_id", "source", "participant_key", "joined_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"))
    registration_id: Mapped[int | None] = mapped_column(ForeignKey("registrations.id"))
    source: Mapped[str] = mapped_column(String(16))
    participant_key: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str | None] = mapped_column(String(320))
    joined_at: Mapped[dt.datetime]
    left_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime]


class WebhookDelivery(Base):
    """A webhook as received (before processing): stored first, acknowledged, processed later.
    ``digest`` (SHA-256 of the raw body) recognises a redelivery of the same notification."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(16))
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(64))
    meeting_id: Mapped[str | None] = mapped_column(String(32), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    event_time: Mapped[dt.datetime | None]
    received_at: Mapped[dt.datetime]
    processed_at: Mapped[dt.datetime | None]


class LiveEvent(Base):
    """One change shown live on an event's pages (Q&A, running order, attendance count).

    The id is the Server-Sent Events id: a client reconnecting with ``Last-Event-ID`` is sent
    every row of its event after that id. Rows are written in the same transaction as the change
    they describe, under the event's row lock, so per event they commit in id order. ``data`` is
    what attendees may see: never an anonymous asker's identity."""

    __tablename__ = "live_events"
    __table_args__ = (Index("ix_live_events_event_id_id", "event_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime]


class Job(Base):
    """A durable unit of background work (the outbox)."""

    __tablename__ = "jobs"
    __table_args__ = (
        _enum_check("status", "status", JobStatus),
        Index("ix_jobs_claim", "status", "run_after"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int] = mapped_column(default=8)
    run_after: Mapped[dt.datetime]
    locked_by: Mapped[str | None] = mapped_column(String(100))
    locked_until: Mapped[dt.datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    request_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]
    finished_at: Mapped[dt.datetime | None]


class GoogleObjectKind(enum.StrEnum):
    CALENDAR_EVENT = "calendar_event"
    BROADCAST = "broadcast"


class GoogleObject(Base):
    """What we published on Google for one of our things, found again by our stable ``key``:
    a Google Calendar event for a slot, a hub session or an event (``slot:12``,
    ``hub-session:3``, ``event:5``), or a YouTube live broadcast and its ingestion stream for
    an event (``event:5``).

    ``digest`` is the SHA-256 of what was sent last: nothing is sent again while it matches.
    ``state``: ``published`` for a calendar event; a broadcast's life cycle as we moved it,
    ``ready``, ``testing``, ``live``, ``complete``. ``stream_name`` is the stream key: whoever
    holds it broadcasts on the channel, so it goes to Zoom and is never shown on a page.
    ``meeting_id`` is the Zoom meeting the stream was handed to (``None``: not yet)."""

    __tablename__ = "google_objects"
    __table_args__ = (
        _enum_check("kind", "kind", GoogleObjectKind),
        UniqueConstraint("kind", "key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(100))
    google_id: Mapped[str] = mapped_column(String(1024))
    calendar_id: Mapped[str | None] = mapped_column(String(1024))
    state: Mapped[str] = mapped_column(String(16))
    digest: Mapped[str] = mapped_column(String(64))
    stream_id: Mapped[str | None] = mapped_column(String(200))
    ingestion_address: Mapped[str | None] = mapped_column(String(1000))
    stream_name: Mapped[str | None] = mapped_column(String(200))
    watch_url: Mapped[str | None] = mapped_column(String(1000))
    meeting_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]
