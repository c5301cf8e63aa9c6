"""Live Q&A: one question queue per slot, votes, moderation, and the window that lets questions
in.

Rules (the README's "Live Q&A" section says them for people):

- Window. The latest of these moments that has passed decides whether a slot takes questions:
  the slot's start (opens) and end (closes), and the moderators' last decision (open or close;
  on a tie the moderator wins). The slot's start and end are its actual ones once the event's
  running order is driven (any slot started), else its planned ones (plus extensions); a
  skipped slot has neither. So opening early lasts until the slot ends, closing early lasts
  until a moderator reopens, and opening after the end lasts until a moderator closes. Only
  published and live events take questions.
- Who. Attendees holding an active (confirmed or waitlisted) registration for the event ask and
  vote; hub coordinators relay questions from their hub's room (tagged with the hub); the
  event's moderators and organisers moderate and drive the window.
- Shown. Everyone who may see the event sees the approved questions: pinned first, then
  unanswered before answered, each by votes (most first) then time (oldest first). Pending,
  dismissed and merged questions are for moderators.
- Dismissal is never told. The asker sees a dismissed question of theirs as pending, as before;
  a vote on a pending or a dismissed question is the same 404 for everyone; and no live event
  names a question that only moderators can see (see below).
- Anonymity. An anonymous asker's name and registration appear only in moderators' views.
- Live events (``services.live``, readable by anyone who may see the event): ``question`` with
  the public view of an approved question when it appears or changes, or
  ``{"id", "slot_id", "status": "hidden"}`` when it leaves the list (``"merged"`` with
  ``merged_into`` for a merge); ``queue`` with only ``{"slot_id"}`` when something only
  moderators see changed (a question asked, a pending one edited or dismissed): moderators
  fetch their view again; ``qa`` with ``{"slot_id", "open"}`` when a moderator opens or closes
  the window.
- Every write locks the event's row first (``SELECT ... FOR UPDATE``), so one event's Q&A
  changes and their live events commit one at a time, in order. Changing the window locks the
  slot's row before the event's, in the running order's order (``services.running.act``).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import ColumnElement, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from internet10.errors import Conflict, Forbidden, NotAuthenticated, NotFound, ValidationFailed
from internet10.models import (
    Event,
    EventKind,
    EventStatus,
    ModerationAction,
    Question,
    QuestionStatus,
    Registration,
    RegistrationStatus,
    Slot,
    User,
    Vote,
)
from internet10.services import live
from internet10.services.auth import Principal
from internet10.services.events import event_slots, get_event

TEXT_MAX = 500
NAME_MAX = 200
LANGUAGES = ("fr", "en")
OPEN_EVENT_STATUSES = (EventStatus.PUBLISHED.value, EventStatus.LIVE.value)
ACTIVE_REGISTRATIONS = (RegistrationStatus.CONFIRMED.value, RegistrationStatus.WAITLISTED.value)

Action = Literal[
    "approve", "dismiss", "pin", "unpin", "on_air", "off_air", "answered", "merge", "edit"
]
ACTIONS: tuple[Action, ...] = (
    "approve",
    "dismiss",
    "pin",
    "unpin",
    "on_air",
    "off_air",
    "answered",
    "merge",
    "edit",
)

PENDING = QuestionStatus.PENDING.value
APPROVED = QuestionStatus.APPROVED.value
DISMISSED = QuestionStatus.DISMISSED.value
MERGED = QuestionStatus.MERGED.value

# Something a browser would read as an HTML tag or comment: "<b>", "</p>", "<a href=…>",
# "<!-- -->". "a < b and c > d" is not one (no tag starts with a space).
_TAG = re.compile(r"</?[A-Za-z!][^<>]*>")


class QAClosed(Conflict):
    code = "QA_CLOSED"


# --------------------------------------------------------------------------- input


def clean_text(raw: str) -> str:
    """A question's text: 1 to 500 characters of plain text (HTML tags are refused, not
    stripped: stripping would change the question behind the asker's back). Raises
    ``ValueError`` with a message for the field."""
    text = raw.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text:
        raise ValueError("must not be empty")
    if len(text) > TEXT_MAX:
        raise ValueError(f"must be at most {TEXT_MAX} characters")
    if any(unicodedata.category(c) == "Cc" and c not in "\n\t" for c in text):
        raise ValueError("must not contain control characters")
    if _TAG.search(text):
        raise ValueError("must be plain text: HTML is not accepted")
    return text


def clean_name(raw: str) -> str:
    """A relayed asker's name: one line, 1 to 200 characters."""
    name = " ".join(raw.split())
    if not name:
        raise ValueError("must not be empty")
    if len(name) > NAME_MAX:
        raise ValueError(f"must be at most {NAME_MAX} characters")
    if any(unicodedata.category(c) == "Cc" for c in name) or _TAG.search(name):
        raise ValueError("must be plain text")
    return name


def _checked(value: str, cleaner: Any, field: str) -> str:
    try:
        cleaned: str = cleaner(value)
    except ValueError as exc:
        raise ValidationFailed(f"{field}: {exc}", field=field) from None
    return cleaned


def _language(value: str) -> str:
    if value not in LANGUAGES:
        raise ValidationFailed("language: must be 'fr' or 'en'", field="language")
    return value


# --------------------------------------------------------------------------- window


@dataclass(frozen=True)
class Window:
    slot_id: int
    open: bool
    starts_at: dt.datetime | None
    """The slot's own opening moment: its actual start, or its planned one while the running
    order is not driven; ``None`` for a skipped slot or one not started in a driven order."""
    ends_at: dt.datetime | None
    decided: bool | None
    """The moderators' last decision (``True`` open, ``False`` closed), if any."""
    decided_at: dt.datetime | None


def _driven(slots: Sequence[Slot]) -> bool:
    return any(s.actual_started_at is not None or s.actual_ended_at is not None for s in slots)


def _length(slot: Slot) -> dt.timedelta:
    return dt.timedelta(
        minutes=slot.presentation_minutes + slot.debate_minutes + slot.extended_minutes
    )


def window(event: Event, slot: Slot, slots: Sequence[Slot], *, now: dt.datetime) -> Window:
    """Whether ``slot`` takes questions at ``now`` (``slots``: all of its event's)."""
    if slot.skipped:
        start = end = None
    elif _driven(slots):
        start, end = slot.actual_started_at, slot.actual_ended_at
    else:
        start, end = slot.starts_at, slot.starts_at + _length(slot)
    moments: list[tuple[dt.datetime, int, bool]] = []
    if start is not None and start <= now:
        moments.append((start, 0, True))
    if end is not None and end <= now:
        moments.append((end, 1, False))
    if slot.qa_open is not None and slot.qa_decided_at is not None and slot.qa_decided_at <= now:
        moments.append((slot.qa_decided_at, 2, slot.qa_open))
    is_open = bool(moments) and max(moments)[2] and event.status in OPEN_EVENT_STATUSES
    return Window(slot.id, is_open, start, end, slot.qa_open, slot.qa_decided_at)


def remaining(slot: Slot, slots: Sequence[Slot], *, now: dt.datetime) -> dt.timedelta | None:
    """Time left in a slot that is under way (negative once it overruns), else ``None``.

    Under way: started and not ended; or, while the running order is not driven, inside its
    planned times."""
    if slot.skipped or slot.actual_ended_at is not None:
        return None
    if slot.actual_started_at is not None:
        return slot.actual_started_at + _length(slot) - now
    if not _driven(slots) and slot.starts_at <= now < slot.starts_at + _length(slot):
        return slot.starts_at + _length(slot) - now
    return None


def current_slot(event: Event, slots: Sequence[Slot], *, now: dt.datetime) -> Slot | None:
    """The slot whose questions matter now: the one under way if its window is open, else the
    first with an open window, else the one under way, else ``None``."""
    under_way = [s for s in slots if remaining(s, slots, now=now) is not None]
    opened = [s for s in slots if window(event, s, slots, now=now).open]
    for slot in under_way:
        if slot in opened:
            return slot
    if opened:
        return opened[0]
    return under_way[0] if under_way else None


# --------------------------------------------------------------------------- views


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class QuestionView:
    """A question with what is shown beside it. ``asker_name`` is the real name (a
    registration's, or the one a hub coordinator relayed): moderators only."""

    question: Question
    votes: int
    asker_name: str | None
    hub: str | None

    @property
    def id(self) -> int:
        return self.question.id

    @property
    def answered(self) -> bool:
        return self.question.answered_at is not None

    @property
    def public_asker(self) -> str | None:
        return None if self.question.anonymous else self.asker_name

    @property
    def asker_status(self) -> str:
        """The status its asker sees: a dismissed question still reads as pending."""
        status = self.question.status
        return PENDING if status == DISMISSED else status

    def public(self) -> dict[str, Any]:
        """What anyone who may see the event may see (API, pages, live events alike)."""
        q = self.question
        return {
            "id": q.id,
            "slot_id": q.slot_id,
            "text": q.text,
            "language": q.language,
            "status": q.status,
            "votes": self.votes,
            "pinned": q.pinned,
            "on_air": q.on_air,
            "answered": self.answered,
            "hub": self.hub,
            "asker": self.public_asker,
            "created_at": _iso(q.created_at),
        }

    def own(self) -> dict[str, Any]:
        """What its asker sees of their own question: while it reads as pending (pending or
        dismissed), nothing of what a dismissal may have left behind (votes, flags)."""
        q = self.question
        shown = self.asker_status
        data = self.public() | {"status": shown, "merged_into": q.merged_into_id}
        if shown == PENDING:
            data |= {"votes": 0, "pinned": False, "on_air": False, "answered": False}
        return data

    def moderated(self) -> dict[str, Any]:
        """Everything, for the event's moderators and organisers."""
        q = self.question
        return self.public() | {
            "merged_into": q.merged_into_id,
            "anonymous": q.anonymous,
            "asker_name": self.asker_name,
            "registration_id": q.registration_id,
            "relayed_by_hub_id": q.relayed_by_hub_id,
            "original_text": q.original_text,
            "updated_at": _iso(q.updated_at),
        }


def _display_order(view: QuestionView) -> tuple[bool, bool, int, dt.datetime, int]:
    q = view.question
    return (not q.pinned, view.answered, -view.votes, q.created_at, q.id)


async def _views(db: AsyncSession, *where: ColumnElement[bool]) -> list[QuestionView]:
    """Questions with their vote counts, askers' names and hubs, in one statement."""
    hub = aliased(Event)
    votes = (
        select(func.count())
        .select_from(Vote)
        .where(Vote.question_id == Question.id)
        .correlate(Question)
        .scalar_subquery()
    )
    rows = await db.execute(
        select(Question, votes, Registration.name, hub.title)
        .outerjoin(Registration, Registration.id == Question.registration_id)
        .outerjoin(hub, hub.id == Question.relayed_by_hub_id)
        .where(*where)
        .order_by(Question.created_at, Question.id)
    )
    return [
        QuestionView(q, int(n or 0), name if name is not None else q.relayed_name, hub_title)
        for q, n, name, hub_title in rows
    ]


async def _view(db: AsyncSession, question_id: int) -> QuestionView:
    return (await _views(db, Question.id == question_id))[0]


@dataclass(frozen=True)
class Board:
    """One slot's questions as one viewer may see them."""

    event: Event
    slot: Slot
    slots: Sequence[Slot]
    window: Window
    approved: list[QuestionView]
    """Approved questions in display order (everyone)."""
    pending: list[QuestionView]
    """Oldest first; with ``dismissed`` and ``merged``: moderators only (empty for others)."""
    dismissed: list[QuestionView]
    merged: list[QuestionView]
    mine: list[QuestionView]
    """The attending viewer's own questions (oldest first; see ``asker_status``)."""
    voted: frozenset[int]
    """Ids of the approved questions the attending viewer voted for."""
    moderated: bool

    @property
    def on_air(self) -> QuestionView | None:
        return next((v for v in self.approved if v.question.on_air), None)


async def board(
    db: AsyncSession,
    slot_id: int,
    *,
    now: dt.datetime,
    principal: Principal | None = None,
    attendee: Registration | None = None,
    moderated: bool = False,
) -> Board:
    """A slot's questions: approved ones for anyone who may see the event; with ``attendee``,
    also their own questions and votes; with ``moderated``, everything (moderators only)."""
    slot = await db.get(Slot, slot_id)
    if slot is None:
        raise NotFound(f"No slot with id {slot_id}.")
    event = await get_event(db, principal, slot.event_id)
    if moderated:
        if principal is None:
            raise NotAuthenticated("Sign in or send an API token.")
        if not principal.moderates(event.id):
            raise Forbidden(
                "Only this event's moderators and organisers see its pending questions."
            )
    slots = await event_slots(db, event.id)
    views = await _views(db, Question.slot_id == slot.id)
    by_status: dict[str, list[QuestionView]] = {s.value: [] for s in QuestionStatus}
    for view in views:
        by_status.setdefault(view.question.status, []).append(view)
    approved = sorted(by_status[APPROVED], key=_display_order)
    mine: list[QuestionView] = []
    voted: frozenset[int] = frozenset()
    if attendee is not None:
        mine = [v for v in views if v.question.registration_id == attendee.id]
        voted = frozenset(
            (
                await db.scalars(
                    select(Vote.question_id).where(
                        Vote.registration_id == attendee.id,
                        Vote.question_id.in_([v.id for v in approved]),
                    )
                )
            ).all()
        )
    return Board(
        event=event,
        slot=slot,
        slots=slots,
        window=window(event, slot, slots, now=now),
        approved=approved,
        pending=by_status[PENDING] if moderated else [],
        dismissed=by_status[DISMISSED] if moderated else [],
        merged=by_status[MERGED] if moderated else [],
        mine=mine,
        voted=voted,
        moderated=moderated,
    )


# --------------------------------------------------------------------------- writes


async def _lock_event(db: AsyncSession, event_id: int) -> Event:
    event = await db.scalar(select(Event).where(Event.id == event_id).with_for_update())
    if event is None:
        raise NotFound(f"No event with id {event_id}.")
    return event


async def _locked_slot(db: AsyncSession, slot_id: int) -> tuple[Event, Slot]:
    """The slot's event, locked, and the slot read after the lock."""
    event_id = await db.scalar(select(Slot.event_id).where(Slot.id == slot_id))
    if event_id is None:
        raise NotFound(f"No slot with id {slot_id}.")
    event = await _lock_event(db, event_id)
    slot = await db.get(Slot, slot_id, populate_existing=True)
    if slot is None:
        raise NotFound(f"No slot with id {slot_id}.")
    return event, slot


async def _locked_question(db: AsyncSession, question_id: int) -> tuple[Event, Question]:
    event_id = await db.scalar(
        select(Slot.event_id)
        .join(Question, Question.slot_id == Slot.id)
        .where(Question.id == question_id)
    )
    if event_id is None:
        raise NotFound(f"No question with id {question_id}.")
    event = await _lock_event(db, event_id)
    question = await db.get(Question, question_id, populate_existing=True)
    if question is None:
        raise NotFound(f"No question with id {question_id}.")
    return event, question


async def _require_open(db: AsyncSession, event: Event, slot: Slot, *, now: dt.datetime) -> None:
    if not window(event, slot, await event_slots(db, event.id), now=now).open:
        raise QAClosed("Questions are closed for this slot.")


async def _attendee(db: AsyncSession, registration_id: int, event: Event) -> Registration:
    registration = await db.get(Registration, registration_id, populate_existing=True)
    if registration is None or registration.event_id != event.id:
        raise Forbidden("Your registration is for another event.", code="NOT_REGISTERED")
    if registration.status not in ACTIVE_REGISTRATIONS:
        raise Forbidden("Your registration is cancelled.", code="REGISTRATION_CANCELLED")
    return registration


def _visible_event(event: Event) -> None:
    if event.status == EventStatus.DRAFT.value:
        raise NotFound(f"No event with id {event.id}.")


async def _log(
    db: AsyncSession,
    slot_id: int,
    user_id: int,
    action: str,
    *,
    now: dt.datetime,
    question_id: int | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    db.add(
        ModerationAction(
            slot_id=slot_id,
            question_id=question_id,
            user_id=user_id,
            action=action,
            details=details or {},
            created_at=now,
        )
    )


async def _queue_changed(
    db: AsyncSession, event_id: int, slot_id: int, *, now: dt.datetime
) -> None:
    await live.record(db, event_id, "queue", {"slot_id": slot_id}, now=now)


async def _shown(
    db: AsyncSession, event_id: int, view: QuestionView, *, was_public: bool, now: dt.datetime
) -> None:
    """Record the live event a change to ``view``'s question calls for (see the module's
    rules): its public view, its leaving the list, or only that the moderators' queue moved."""
    q = view.question
    if q.status == APPROVED:
        await live.record(db, event_id, "question", view.public(), now=now)
    elif was_public and q.status == MERGED:
        data = {"id": q.id, "slot_id": q.slot_id, "status": MERGED, "merged_into": q.merged_into_id}
        await live.record(db, event_id, "question", data, now=now)
    elif was_public:
        data = {"id": q.id, "slot_id": q.slot_id, "status": "hidden"}
        await live.record(db, event_id, "question", data, now=now)
    else:
        await _queue_changed(db, event_id, q.slot_id, now=now)


async def ask(
    db: AsyncSession,
    registration_id: int,
    slot_id: int,
    *,
    text: str,
    language: str,
    anonymous: bool,
    now: dt.datetime,
) -> Question:
    """An attendee asks a question in a slot whose window is open; it waits for moderation."""
    text = _checked(text, clean_text, "text")
    language = _language(language)
    event, slot = await _locked_slot(db, slot_id)
    _visible_event(event)
    await _attendee(db, registration_id, event)
    await _require_open(db, event, slot, now=now)
    question = Question(
        slot_id=slot.id,
        registration_id=registration_id,
        text=text,
        language=language,
        anonymous=anonymous,
        status=PENDING,
        pinned=False,
        on_air=False,
        created_at=now,
        updated_at=now,
    )
    db.add(question)
    await db.flush()
    await _queue_changed(db, event.id, slot.id, now=now)
    return question


async def relay(
    db: AsyncSession,
    principal: Principal | None,
    slot_id: int,
    *,
    hub_id: int,
    text: str,
    language: str,
    anonymous: bool,
    name: str | None,
    now: dt.datetime,
) -> Question:
    """A hub coordinator relays a question from their hub's room, tagged with the hub. It waits
    for moderation like any other; the relay is recorded with who and when."""
    if principal is None:
        raise NotAuthenticated("Sign in or send an API token.")
    if not principal.coordinates(hub_id):
        raise Forbidden("Only this hub's coordinators relay questions from its room.")
    text = _checked(text, clean_text, "text")
    language = _language(language)
    relayed_name = _checked(name, clean_name, "name") if name else None
    hub = await db.get(Event, hub_id)
    if hub is None or hub.kind != EventKind.HUB.value:
        raise ValidationFailed(f"hub_id: no hub with id {hub_id}", field="hub_id")
    event, slot = await _locked_slot(db, slot_id)
    _visible_event(event)
    await _require_open(db, event, slot, now=now)
    question = Question(
        slot_id=slot.id,
        relayed_by_hub_id=hub.id,
        relayed_name=relayed_name,
        text=text,
        language=language,
        anonymous=anonymous,
        status=PENDING,
        pinned=False,
        on_air=False,
        created_at=now,
        updated_at=now,
    )
    db.add(question)
    await db.flush()
    await _log(
        db,
        slot.id,
        principal.user_id,
        "relay",
        now=now,
        question_id=question.id,
        details={"hub_id": hub.id},
    )
    await _queue_changed(db, event.id, slot.id, now=now)
    return question


@dataclass(frozen=True)
class VoteOutcome:
    view: QuestionView
    voted: bool


async def vote(
    db: AsyncSession,
    registration_id: int,
    question_id: int,
    *,
    up: bool,
    now: dt.datetime,
) -> VoteOutcome:
    """Vote for an approved question (``up``) or withdraw the vote; doing either twice changes
    nothing. A vote for a merged question goes to the question it was merged into."""
    event, question = await _locked_question(db, question_id)
    _visible_event(event)
    await _attendee(db, registration_id, event)
    if question.status == MERGED and question.merged_into_id is not None:
        target = await db.get(Question, question.merged_into_id, populate_existing=True)
        assert target is not None  # merge targets are never deleted on their own
        question = target
    if question.status != APPROVED:
        # Pending and dismissed look alike to every attendee, the asker included.
        raise NotFound(f"No question with id {question_id}.")
    slot = await db.get(Slot, question.slot_id)
    assert slot is not None
    await _require_open(db, event, slot, now=now)
    existing = await db.get(Vote, (question.id, registration_id))
    changed = False
    if up and existing is None:
        db.add(Vote(question_id=question.id, registration_id=registration_id, created_at=now))
        changed = True
    elif not up and existing is not None:
        await db.delete(existing)
        changed = True
    await db.flush()
    view = await _view(db, question.id)
    if changed:
        await live.record(db, event.id, "question", view.public(), now=now)
    return VoteOutcome(view, up)


async def set_window(
    db: AsyncSession, principal: Principal | None, slot_id: int, *, open: bool, now: dt.datetime
) -> Window:
    """A moderator opens or closes a slot's window (see the module's rules for how long that
    lasts)."""
    if principal is None:
        raise NotAuthenticated("Sign in or send an API token.")
    slot = await db.scalar(select(Slot).where(Slot.id == slot_id).with_for_update())
    if slot is None:
        raise NotFound(f"No slot with id {slot_id}.")
    if not principal.moderates(slot.event_id):
        raise Forbidden("Only this event's moderators and organisers open and close its Q&A.")
    event = await _lock_event(db, slot.event_id)
    if event.status not in OPEN_EVENT_STATUSES:
        raise Conflict(f"The event is {event.status}.", code="EVENT_NOT_RUNNING")
    slot.qa_open = open
    slot.qa_decided_at = now
    slot.updated_at = now
    await _log(db, slot.id, principal.user_id, "open" if open else "close", now=now)
    state = window(event, slot, await event_slots(db, event.id), now=now)
    await live.record(db, event.id, "qa", {"slot_id": slot.id, "open": state.open}, now=now)
    return state


async def slot_window(
    db: AsyncSession, principal: Principal | None, slot_id: int, *, now: dt.datetime
) -> Window:
    slot = await db.get(Slot, slot_id)
    if slot is None:
        raise NotFound(f"No slot with id {slot_id}.")
    event = await get_event(db, principal, slot.event_id)
    return window(event, slot, await event_slots(db, event.id), now=now)


def _approve(question: Question) -> None:
    if question.status == DISMISSED:
        raise Conflict("This question is dismissed: approve it first.", code="QUESTION_DISMISSED")
    question.status = APPROVED


async def _merge(
    db: AsyncSession, question: Question, into: int | None
) -> tuple[Question, dict[str, Any]]:
    """Merge ``question`` (a duplicate) into ``into``: the voters of both count once."""
    if into is None:
        raise ValidationFailed("into: give the id of the question to merge into", field="into")
    if into == question.id:
        raise ValidationFailed("into: a question cannot be merged into itself", field="into")
    if question.status not in (PENDING, APPROVED):
        raise Conflict(
            "Only pending and approved questions can be merged.", code="QUESTION_DISMISSED"
        )
    target = await db.get(Question, into, populate_existing=True)
    if target is None or target.slot_id != question.slot_id:
        raise ValidationFailed("into: no question with this id in the same slot", field="into")
    if target.status not in (PENDING, APPROVED):
        raise ValidationFailed(
            "into: the question to merge into is dismissed or merged", field="into"
        )
    already = select(Vote.registration_id).where(Vote.question_id == target.id)
    moved = await db.execute(
        update(Vote)
        .where(Vote.question_id == question.id, Vote.registration_id.not_in(already))
        .values(question_id=target.id)
        .execution_options(synchronize_session=False)
    )
    both = await db.execute(
        delete(Vote)
        .where(Vote.question_id == question.id)
        .execution_options(synchronize_session=False)
    )
    # Questions merged into this one before now point at the target: no chains.
    await db.execute(
        update(Question)
        .where(Question.merged_into_id == question.id)
        .values(merged_into_id=target.id)
        .execution_options(synchronize_session=False)
    )
    if question.status == APPROVED:
        target.status = APPROVED
    target.pinned = target.pinned or question.pinned
    target.on_air = target.on_air or question.on_air
    question.status = MERGED
    question.merged_into_id = target.id
    question.pinned = False
    question.on_air = False
    details = {
        "into": target.id,
        "votes_moved": int(getattr(moved, "rowcount", 0) or 0),
        "votes_in_both": int(getattr(both, "rowcount", 0) or 0),
    }
    return target, details


async def moderate(
    db: AsyncSession,
    principal: Principal | None,
    question_id: int,
    action: Action,
    *,
    now: dt.datetime,
    text: str | None = None,
    language: str | None = None,
    into: int | None = None,
) -> QuestionView:
    """Apply one moderator action to a question (the event's moderators and organisers).

    Repeating an action that already holds (approving an approved question) changes and
    records nothing. ``pin``, ``on_air`` and ``answered`` approve a pending question on the
    way; a dismissed one must be approved first. ``on_air`` takes the slot's other question
    off air; ``answered`` takes it off air and unpins it. ``edit`` keeps the asker's original
    words in ``original_text``; ``merge`` folds a duplicate into ``into`` (same slot)."""
    if principal is None:
        raise NotAuthenticated("Sign in or send an API token.")
    event_id = await db.scalar(
        select(Slot.event_id)
        .join(Question, Question.slot_id == Slot.id)
        .where(Question.id == question_id)
    )
    if event_id is None:
        raise NotFound(f"No question with id {question_id}.")
    if not principal.moderates(event_id):
        raise Forbidden("Only this event's moderators and organisers moderate its questions.")
    event, question = await _locked_question(db, question_id)
    if question.status == MERGED:
        raise Conflict(
            f"This question was merged into question {question.merged_into_id}.",
            code="QUESTION_MERGED",
        )
    was_public = question.status == APPROVED
    before = (question.status, question.pinned, question.on_air, question.answered_at)
    details: dict[str, Any] = {}
    others: list[Question] = []
    target: Question | None = None
    if action == "approve":
        question.status = APPROVED
    elif action == "dismiss":
        question.status = DISMISSED
        question.pinned = False
        question.on_air = False
    elif action == "pin":
        _approve(question)
        question.pinned = True
    elif action == "unpin":
        question.pinned = False
    elif action == "on_air":
        _approve(question)
        if not question.on_air:
            others = list(
                (
                    await db.scalars(
                        select(Question).where(
                            Question.slot_id == question.slot_id,
                            Question.on_air.is_(True),
                            Question.id != question.id,
                        )
                    )
                ).all()
            )
            for other in others:
                other.on_air = False
                other.updated_at = now
            if others:
                details["off_air"] = [o.id for o in others]
        question.on_air = True
    elif action == "off_air":
        question.on_air = False
    elif action == "answered":
        _approve(question)
        if question.answered_at is None:
            question.answered_at = now
        question.on_air = False
        question.pinned = False
    elif action == "edit":
        if text is None:
            raise ValidationFailed("text: give the corrected text", field="text")
        new_text = _checked(text, clean_text, "text")
        new_language = _language(language) if language is not None else question.language
        if new_text == question.text and new_language == question.language:
            return await _view(db, question.id)
        details = {
            "before": question.text,
            "after": new_text,
            "original": question.original_text or question.text,
        }
        if new_language != question.language:
            details["language"] = [question.language, new_language]
        if question.original_text is None:
            question.original_text = question.text
        question.text = new_text
        question.language = new_language
    elif action == "merge":
        target, details = await _merge(db, question, into)
    else:  # pragma: no cover - Action is a closed set
        raise ValidationFailed(f"action: unknown action {action!r}", field="action")
    after = (question.status, question.pinned, question.on_air, question.answered_at)
    if action != "edit" and action != "merge" and before == after:
        return await _view(db, question.id)
    question.updated_at = now
    await db.flush()
    await _log(
        db,
        question.slot_id,
        principal.user_id,
        action,
        now=now,
        question_id=question.id,
        details=details,
    )
    for other in others:
        await _shown(db, event.id, await _view(db, other.id), was_public=True, now=now)
    view = await _view(db, question.id)
    await _shown(db, event.id, view, was_public=was_public, now=now)
    if target is not None:
        target.updated_at = now
        await db.flush()
        await _shown(db, event.id, await _view(db, target.id), was_public=False, now=now)
    return view


@dataclass(frozen=True)
class LoggedAction:
    action: ModerationAction
    by: str


async def moderation_log(
    db: AsyncSession, principal: Principal | None, slot_id: int
) -> list[LoggedAction]:
    """Every moderation action on a slot's Q&A, oldest first (moderators and organisers)."""
    if principal is None:
        raise NotAuthenticated("Sign in or send an API token.")
    slot = await db.get(Slot, slot_id)
    if slot is None:
        raise NotFound(f"No slot with id {slot_id}.")
    if not principal.moderates(slot.event_id):
        raise Forbidden("Only this event's moderators and organisers read its moderation log.")
    rows = await db.execute(
        select(ModerationAction, User.email)
        .join(User, User.id == ModerationAction.user_id)
        .where(ModerationAction.slot_id == slot_id)
        .order_by(ModerationAction.id)
    )
    return [LoggedAction(action, email) for action, email in rows]


@dataclass(frozen=True)
class OpenSlot:
    event: Event
    slot: Slot
    window: Window


async def open_windows(db: AsyncSession, *, now: dt.datetime) -> list[OpenSlot]:
    """Slots taking questions now, across the published and live events of these hours (what a
    hub coordinator may relay into)."""
    events = (
        await db.scalars(
            select(Event)
            .where(
                Event.status.in_(OPEN_EVENT_STATUSES),
                Event.kind == EventKind.INTERNET10.value,
                Event.starts_at <= now + dt.timedelta(hours=12),
                Event.starts_at >= now - dt.timedelta(days=1),
            )
            .order_by(Event.starts_at, Event.id)
        )
    ).all()
    found: list[OpenSlot] = []
    for event in events:
        slots = await event_slots(db, event.id)
        for slot in slots:
            state = window(event, slot, slots, now=now)
            if state.open:
                found.append(OpenSlot(event, slot, state))
    return found


@dataclass(frozen=True)
class SlotSummary:
    window: Window
    pending: int
    approved: int


async def summaries(
    db: AsyncSession, event: Event, slots: Sequence[Slot], *, now: dt.datetime
) -> dict[int, SlotSummary]:
    """Each slot's window and counts of pending and approved questions (the console's table)."""
    rows = await db.execute(
        select(Question.slot_id, Question.status, func.count())
        .where(Question.slot_id.in_([s.id for s in slots]))
        .group_by(Question.slot_id, Question.status)
    )
    counts = {(slot_id, status): int(n) for slot_id, status, n in rows}
    return {
        s.id: SlotSummary(
            window(event, s, slots, now=now),
            counts.get((s.id, PENDING), 0),
            counts.get((s.id, APPROVED), 0),
        )
        for s in slots
    }
