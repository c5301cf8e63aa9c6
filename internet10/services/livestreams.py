"""YouTube Live for the people a meeting cannot hold: the Internet10 session's overflow (the
organiser published it with overflow ``livestream``) and every hub's retransmission (a hub's
online room is streamed whenever YouTube is configured). Zoom pushes the meeting to the
broadcast through its custom live-stream settings; viewers open the watch link shown on the
event's public page and on waitlisted people's personal pages.

Jobs, each reading the database, calling outside any transaction and recording the outcome
under the event's row lock (idempotent, like ``meetings``):

- ``youtube.live`` (enqueued when such an event is published, changes title, description or
  times, goes live (an organiser's "go live", or a moderator starting its first slot), ends or
  is cancelled) makes the broadcast follow the event: creates the
  broadcast and its stream (bound), updates them, moves the broadcast to ``testing`` then
  ``live`` when the event goes live, to ``complete`` when it ends, deletes both when the event
  is cancelled before going live. YouTube accepts ``testing`` and ``live`` only once video
  arrives: until then the job comes back every ``STREAM_WAIT`` (``SyncOutcome.wait``).
- ``youtube.handoff`` (enqueued when both the stream and the Zoom meeting exist, whichever came
  second) gives the meeting the stream's ingestion address, stream key and watch page.

A broadcast that went live is never deleted (it holds the recording); one whose event ended
without going live is left to the channel's owner."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from integrations.google import (
    YOUTUBE_TITLE_MAX,
    BroadcastSpec,
    BroadcastStatus,
    GoogleError,
    LiveStream,
    LiveStreamProvider,
    Privacy,
)
from integrations.zoom import MeetingProvider
from internet10.db import Database
from internet10.models import Event, EventKind, EventStatus, GoogleObject, GoogleObjectKind
from internet10.services.outbox import enqueue

JOB = "youtube.live"
HANDOFF_JOB = "youtube.handoff"
MAX_ATTEMPTS = 60  # waiting for video spends attempts: 60 of STREAM_WAIT is half an hour
HANDOFF_MAX_ATTEMPTS = 25
STREAM_WAIT = dt.timedelta(seconds=30)  # how often to look again for the encoder's video
TESTING_PAUSE = dt.timedelta(seconds=5)  # YouTube starts the test stream before going live
PRIVACY: Privacy = "unlisted"  # reached from our pages, not listed on the channel or searches
READY = "ready"
TESTING: BroadcastStatus = "testing"
LIVE: BroadcastStatus = "live"
COMPLETE: BroadcastStatus = "complete"
NOT_YET_LIVE = frozenset({READY, TESTING})
# YouTube's answers that mean "not yet": no video on the stream, the test still starting
WAIT_REASONS = frozenset({"errorStreamInactive", "invalidTransition"})


def wants_livestream(event: Event) -> bool:
    return event.kind == EventKind.HUB.value or event.overflow_livestream


def key_for(event_id: int) -> str:
    return f"event:{event_id}"


async def request_sync(db: AsyncSession, event: Event, *, now: dt.datetime) -> None:
    """Queue the broadcast's update for the event as it now is (inside the caller's
    transaction, after ``event.sequence`` rose)."""
    if not wants_livestream(event) or event.status == EventStatus.DRAFT.value:
        return
    await enqueue(
        db,
        JOB,
        {"event_id": event.id},
        now=now,
        dedupe_key=f"{JOB}:{event.id}:{event.sequence}",
        max_attempts=MAX_ATTEMPTS,
    )


async def event_went_live(db: AsyncSession, event: Event, *, now: dt.datetime) -> None:
    """The event went live without a status change of its own (a moderator started its first
    slot): its broadcast follows, if it has one. A broadcast still being created follows
    anyway: its job reads the event's status when it runs."""
    if await _broadcast(db, event.id) is None:
        return
    await enqueue(
        db,
        JOB,
        {"event_id": event.id},
        now=now,
        dedupe_key=f"{JOB}:{event.id}:{event.sequence}:{event.status}",
        max_attempts=MAX_ATTEMPTS,
    )


async def _broadcast(db: AsyncSession, event_id: int) -> GoogleObject | None:
    return await db.scalar(
        select(GoogleObject).where(
            GoogleObject.kind == GoogleObjectKind.BROADCAST.value,
            GoogleObject.key == key_for(event_id),
        )
    )


async def request_handoff(db: AsyncSession, event: Event, *, now: dt.datetime) -> None:
    """Queue giving the stream to the meeting once both exist (called by whichever of the
    meeting's and the stream's creation comes second)."""
    if event.meeting_id is None:
        return
    row = await _broadcast(db, event.id)
    if row is None or row.ingestion_address is None or row.meeting_id == event.meeting_id:
        return
    await enqueue(
        db,
        HANDOFF_JOB,
        {"event_id": event.id},
        now=now,
        dedupe_key=f"{HANDOFF_JOB}:{event.id}:{event.meeting_id}:{row.google_id}",
        max_attempts=HANDOFF_MAX_ATTEMPTS,
    )


async def watch_url(db: AsyncSession, event: Event) -> str | None:
    """The link viewers open: while the event is published or live, and after it for the
    recording of a broadcast that went live."""
    if not wants_livestream(event):
        return None
    row = await _broadcast(db, event.id)
    if row is None:
        return None
    if event.status in (EventStatus.PUBLISHED.value, EventStatus.LIVE.value) or (
        event.status == EventStatus.ENDED.value and row.state == COMPLETE
    ):
        return row.watch_url
    return None


# -- the broadcast --------------------------------------------------------------------------------


def _title(text: str) -> str:
    """YouTube refuses '<' and '>' and titles over 100 characters."""
    cleaned = " ".join(text.replace("<", "‹").replace(">", "›").split())
    if len(cleaned) > YOUTUBE_TITLE_MAX:
        cleaned = cleaned[: YOUTUBE_TITLE_MAX - 1].rstrip() + "…"
    return cleaned or "Internet10"


def spec_for(event: Event, *, base_url: str) -> BroadcastSpec:
    link = f"{base_url}/events/{event.id}"
    description = f"{event.description.strip()}\n\n{link}" if event.description.strip() else link
    return BroadcastSpec(
        title=_title(event.title),
        starts_at=event.starts_at,
        ends_at=event.ends_at,
        description=description.replace("<", "‹").replace(">", "›"),
        privacy=PRIVACY,
    )


def spec_digest(spec: BroadcastSpec) -> str:
    shape = {
        "title": spec.title,
        "starts_at": spec.starts_at.astimezone(dt.UTC).isoformat(),
        "ends_at": spec.ends_at.astimezone(dt.UTC).isoformat() if spec.ends_at else None,
        "description": spec.description,
        "privacy": spec.privacy,
    }
    return hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class Broadcast:
    """A detached copy of the broadcast's row."""

    google_id: str
    stream_id: str
    state: str
    digest: str

    @classmethod
    def of(cls, row: GoogleObject) -> Broadcast:
        return cls(row.google_id, row.stream_id or "", row.state, row.digest)


@dataclass(frozen=True)
class SyncOutcome:
    """What a run did (``created``, ``updated``, ``testing``, ``live``, ``complete``,
    ``deleted``, ``unchanged``, ``waiting``) and, when YouTube is not ready yet, when to come
    back and why."""

    done: str
    wait: dt.timedelta | None = None
    why: str = ""


async def _locked_event(db: AsyncSession, event_id: int) -> Event | None:
    return await db.scalar(select(Event).where(Event.id == event_id).with_for_update())


async def _record_created(
    database: Database, event_id: int, live: LiveStream, digest: str, *, now: dt.datetime
) -> bool:
    """Store the new broadcast; False when it is not wanted any more (the event was
    cancelled meanwhile) or another job stored a different one first."""
    async with database.write() as db:
        event = await _locked_event(db, event_id)
        if event is None or event.status == EventStatus.CANCELLED.value:
            return False
        row = await _broadcast(db, event_id)
        if row is not None:
            return row.google_id == live.broadcast_id
        db.add(
            GoogleObject(
                event_id=event_id,
                kind=GoogleObjectKind.BROADCAST.value,
                key=key_for(event_id),
                google_id=live.broadcast_id,
                state=READY,
                digest=digest,
                stream_id=live.stream_id,
                ingestion_address=live.ingestion_address,
                stream_name=live.stream_name,
                watch_url=live.watch_url,
                created_at=now,
                updated_at=now,
            )
        )
        await db.flush()
        await request_handoff(db, event, now=now)
        return True


async def _update_row(
    database: Database, event_id: int, google_id: str, *, now: dt.datetime, **values: str
) -> None:
    async with database.write() as db:
        if await _locked_event(db, event_id) is None:
            return
        row = await _broadcast(db, event_id)
        if row is not None and row.google_id == google_id:
            for name, value in values.items():
                setattr(row, name, value)
            row.updated_at = now


async def _delete(
    database: Database, provider: LiveStreamProvider, event_id: int, known: Broadcast
) -> None:
    await provider.delete_live(known.google_id, known.stream_id)
    async with database.write() as db:
        if await _locked_event(db, event_id) is None:
            return
        row = await _broadcast(db, event_id)
        if row is not None and row.google_id == known.google_id:
            await db.delete(row)


async def _transition(
    database: Database,
    provider: LiveStreamProvider,
    event_id: int,
    known: Broadcast,
    target: BroadcastStatus,
    *,
    now: dt.datetime,
) -> SyncOutcome | None:
    """Move the broadcast to ``target``; a ``SyncOutcome`` to wait with when YouTube says
    "not yet" (no video, the test still starting)."""
    try:
        await provider.transition(known.google_id, target)
    except GoogleError as exc:
        if exc.reason in WAIT_REASONS and target != COMPLETE:
            why = (
                f"YouTube broadcast {known.google_id} cannot go {target} yet ({exc.reason}): "
                "is the Zoom meeting streaming to it? (Live on Custom Live Streaming Service)"
            )
            return SyncOutcome("waiting", STREAM_WAIT, why)
        raise
    await _update_row(database, event_id, known.google_id, now=now, state=target)
    return None


async def sync_livestream(
    database: Database,
    provider: LiveStreamProvider,
    event_id: int,
    *,
    base_url: str,
    now: dt.datetime,
) -> SyncOutcome:
    """Make the YouTube broadcast follow the event. Raises ``GoogleError`` (the job maps it)."""
    async with database.read() as db:
        event = await db.get(Event, event_id)
        if event is None:
            return SyncOutcome("unchanged")
        status, wanted = event.status, wants_livestream(event)
        spec = spec_for(event, base_url=base_url)
        row = await _broadcast(db, event_id)
        known = Broadcast.of(row) if row is not None else None
    digest = spec_digest(spec)

    if status == EventStatus.CANCELLED.value or not wanted:
        if known is None:
            return SyncOutcome("unchanged")
        if known.state == LIVE:  # cancelled while on air: end it, keep the recording
            await _transition(database, provider, event_id, known, COMPLETE, now=now)
            return SyncOutcome(COMPLETE)
        if known.state == COMPLETE:
            return SyncOutcome("unchanged")
        await _delete(database, provider, event_id, known)
        return SyncOutcome("deleted")
    if status == EventStatus.DRAFT.value:
        return SyncOutcome("unchanged")

    done = "unchanged"
    if known is None:
        if status == EventStatus.ENDED.value:
            return SyncOutcome("unchanged")  # too late to stream it
        live = await provider.create_live(key_for(event_id), spec)
        if not await _record_created(database, event_id, live, digest, now=now):
            await provider.delete_live(live.broadcast_id, live.stream_id)
            return SyncOutcome("unchanged")
        known = Broadcast(live.broadcast_id, live.stream_id, READY, digest)
        done = "created"
    elif known.digest != digest and known.state in NOT_YET_LIVE:
        await provider.update_broadcast(known.google_id, spec)
        await _update_row(database, event_id, known.google_id, now=now, digest=digest)
        done = "updated"

    if status == EventStatus.LIVE.value:
        if known.state == READY:
            waiting = await _transition(database, provider, event_id, known, TESTING, now=now)
            if waiting is not None:
                return waiting
            # YouTube starts the test stream in the background: go live on the next run
            return SyncOutcome(TESTING, TESTING_PAUSE, "the test stream is starting")
        if known.state == TESTING:
            waiting = await _transition(database, provider, event_id, known, LIVE, now=now)
            return waiting or SyncOutcome(LIVE)
    if status == EventStatus.ENDED.value and known.state == LIVE:
        await _transition(database, provider, event_id, known, COMPLETE, now=now)
        return SyncOutcome(COMPLETE)
    return SyncOutcome(done)


# -- Zoom pushes to it ----------------------------------------------------------------------------


async def hand_over(
    database: Database, meetings: MeetingProvider, event_id: int, *, now: dt.datetime
) -> str:
    """Give the event's Zoom meeting the stream's ingestion address, key and watch page:
    ``handed`` or ``unchanged``."""
    async with database.read() as db:
        event = await db.get(Event, event_id)
        row = await _broadcast(db, event_id)
        if event is None or row is None or event.meeting_id is None:
            return "unchanged"
        meeting_id, google_id = event.meeting_id, row.google_id
        address, name, watch = row.ingestion_address, row.stream_name, row.watch_url
        handed_to = row.meeting_id
    if handed_to == meeting_id or not (address and name and watch):
        return "unchanged"
    await meetings.update_live_stream(meeting_id, address, name, watch)
    async with database.write() as db:
        event = await _locked_event(db, event_id)
        row = await _broadcast(db, event_id)
        if (
            event is not None
            and event.meeting_id == meeting_id
            and row is not None
            and row.google_id == google_id
        ):
            row.meeting_id = meeting_id
            row.updated_at = now
    return "handed"
