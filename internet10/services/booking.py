"""Slot booking: chapters book, edit, cancel and swap slots; organisers approve, assign and move.

Every change takes the event row's lock first (``SELECT ... FOR UPDATE``; on SQLite the write
transaction's ``BEGIN IMMEDIATE`` already serialises writers), so the checks that follow cannot
race another booking of the same event. Two backstops stay in place even so: a booking claims its
slot with ``UPDATE ... WHERE chapter_id IS NULL``, and the unique constraint (event_id, chapter_id)
refuses a second slot for a chapter; both surface as 409s, never as 500s.

A chapter holds at most one slot per event; its booking (presentation, speakers, status) travels
with it when an organiser moves it or when two chapters swap. Programme changes (book, edit,
cancel, approve, assign, accepted swap) bump ``event.sequence``; swap proposals and their refusal
or withdrawal change nothing in the programme and do not.
"""

from __future__ import annotations

import datetime as dt
import enum
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, cast
from urllib.parse import urlsplit

from sqlalchemy import CursorResult, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from internet10.errors import (
    Conflict,
    Forbidden,
    NotAuthenticated,
    NotFound,
    ValidationFailed,
)
from internet10.models import Chapter, Event, EventStatus, Slot, SlotSwap
from internet10.services import google_sync
from internet10.services.auth import Principal, normalise_email, require_organiser
from internet10.services.events import PUBLIC_STATUSES
from internet10.services.google_sync import NO_GOOGLE, GooglePolicy
from internet10.services.notifications import programme_changed

TITLE_MAX = 300
ABSTRACT_MAX = 5000
NAME_MAX = 200
URL_MAX = 1000
SPEAKERS_MAX = 6
LANGUAGES = ("fr", "en")
MAX_ID = 2**31 - 1  # ids are 32-bit integer columns; a larger id names nothing

BOOKABLE = frozenset({EventStatus.DRAFT.value, EventStatus.PUBLISHED.value})
# A presentation may still be corrected (a slides link, a speaker) while the event is live.
EDITABLE = BOOKABLE | {EventStatus.LIVE.value}


class BookingStatus(enum.StrEnum):
    """``Slot.booking_status`` of a held slot (``None`` when the slot is open)."""

    PENDING = "pending"
    CONFIRMED = "confirmed"


class SlotStatus(enum.StrEnum):
    """What the outside world sees of a slot."""

    OPEN = "open"
    PENDING = "pending"
    BOOKED = "booked"


class SwapStatus(enum.StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"


# --- the presentation: values and their rules -------------------------------------------------
# The ``clean_*`` functions raise ValueError with a bare message: the API runs them as pydantic
# validators, and ``check_presentation`` turns them into a ValidationFailed naming the field.


def _no_controls(value: str, allowed: str = "") -> str:
    if any(unicodedata.category(c) == "Cc" and c not in allowed for c in value):
        raise ValueError("must not contain control characters")
    return value


def _line(value: str, limit: int) -> str:
    value = _no_controls(value.strip())
    if not value:
        raise ValueError("must not be empty")
    if len(value) > limit:
        raise ValueError(f"must be at most {limit} characters")
    return value


def clean_title(value: str) -> str:
    return _line(value, TITLE_MAX)


def clean_name(value: str) -> str:
    return _line(value, NAME_MAX)


def clean_abstract(value: str) -> str:
    value = _no_controls(value.replace("\r\n", "\n").strip(), allowed="\n\t")
    if len(value) > ABSTRACT_MAX:
        raise ValueError(f"must be at most {ABSTRACT_MAX} characters")
    return value


def clean_language(value: str) -> str:
    if value not in LANGUAGES:
        raise ValueError("must be 'fr' or 'en'")
    return value


def clean_email(value: str) -> str:
    try:
        email = normalise_email(value)
    except ValidationFailed:
        raise ValueError("not a valid e-mail address") from None
    if len(email) > 320:
        raise ValueError("must be at most 320 characters")
    return email


def clean_slides_url(value: str) -> str:
    value = _no_controls(value.strip())
    if len(value) > URL_MAX:
        raise ValueError(f"must be at most {URL_MAX} characters")
    try:
        parts = urlsplit(value)
    except ValueError:
        raise ValueError("must be an https:// link") from None
    if parts.scheme.lower() != "https" or not parts.hostname or any(c.isspace() for c in value):
        raise ValueError("must be an https:// link")
    return value


@dataclass(frozen=True)
class Speaker:
    name: str
    email: str


@dataclass(frozen=True)
class Presentation:
    title: str
    language: str
    speakers: tuple[Speaker, ...]
    abstract: str = ""
    slides_url: str | None = None


@dataclass(frozen=True)
class PresentationChanges:
    """A partial change: ``None`` leaves a value as is; ``slides_url=""`` removes the link."""

    title: str | None = None
    abstract: str | None = None
    language: str | None = None
    speakers: tuple[Speaker, ...] | None = None
    slides_url: str | None = None


def _field(field: str, check: Any, value: Any) -> Any:
    try:
        return check(value)
    except ValueError as exc:
        raise ValidationFailed(f"{field}: {exc}", field=field) from None


def check_presentation(data: Presentation) -> Presentation:
    """The presentation with its values cleaned; a ValidationFailed names the first bad field."""
    title = _field("title", clean_title, data.title)
    abstract = _field("abstract", clean_abstract, data.abstract)
    language = _field("language", clean_language, data.language)
    if not 1 <= len(data.speakers) <= SPEAKERS_MAX:
        raise ValidationFailed(
            f"speakers: give between 1 and {SPEAKERS_MAX} speakers", field="speakers"
        )
    speakers = tuple(
        Speaker(
            name=_field(f"speakers.{i}.name", clean_name, s.name),
            email=_field(f"speakers.{i}.email", clean_email, s.email),
        )
        for i, s in enumerate(data.speakers)
    )
    slides_url = (
        _field("slides_url", clean_slides_url, data.slides_url) if data.slides_url else None
    )
    return Presentation(
        title=title, language=language, speakers=speakers, abstract=abstract, slides_url=slides_url
    )


# --- what callers get back ----------------------------------------------------------------------


@dataclass(frozen=True)
class SlotView:
    """A slot as one caller may see it: speakers carry e-mails, so only organisers and the
    holding chapter's delegates see them."""

    slot: Slot
    chapter: Chapter | None
    show_speakers: bool

    @property
    def status(self) -> SlotStatus:
        if self.slot.chapter_id is None:
            return SlotStatus.OPEN
        if self.slot.booking_status == BookingStatus.PENDING.value:
            return SlotStatus.PENDING
        return SlotStatus.BOOKED

    @property
    def speakers(self) -> list[Speaker]:
        return [Speaker(s["name"], s["email"]) for s in self.slot.speakers or []]


@dataclass(frozen=True)
class SwapView:
    swap: SlotSwap
    from_slot: Slot
    to_slot: Slot
    from_chapter: Chapter
    to_chapter: Chapter

    @property
    def stale(self) -> bool:
        """The slots no longer hold the chapters they held when the swap was proposed."""
        return (
            self.from_slot.chapter_id != self.swap.proposed_by_chapter_id
            or self.to_slot.chapter_id != self.swap.target_chapter_id
        )


@dataclass(frozen=True)
class Board:
    """One event's slots and swaps, as a delegate (or an organiser acting for a chapter) sees them.

    ``chapter`` is the chapter the caller acts for; ``None`` for an organiser who chose none.
    """

    event: Event
    chapter: Chapter | None
    slots: list[SlotView]
    swaps_in: list[SwapView]
    swaps_out: list[SwapView]
    chapters: list[Chapter]

    @property
    def own_slot(self) -> SlotView | None:
        if self.chapter is None:
            return None
        return next((v for v in self.slots if v.slot.chapter_id == self.chapter.id), None)


# --- shared checks ------------------------------------------------------------------------------


def _signed_in(principal: Principal | None) -> Principal:
    if principal is None:
        raise NotAuthenticated("Sign in or send an API token.")
    return principal


def _visible(event: Event, principal: Principal | None) -> bool:
    """Published events are public; drafts are shown to staff who book or run them."""
    if event.status in PUBLIC_STATUSES:
        return True
    return principal is not None and (
        principal.moderates(event.id) or bool(principal.delegate_chapters())
    )


def _may_see_speakers(principal: Principal | None, slot: Slot) -> bool:
    if principal is None or slot.chapter_id is None:
        return False
    return principal.is_organiser or slot.chapter_id in principal.delegate_chapters()


def _require_holder(principal: Principal, slot: Slot) -> None:
    if principal.is_organiser or slot.chapter_id in principal.delegate_chapters():
        return
    raise Forbidden(
        "Only the delegate of the chapter holding this slot, or an organiser, may change it."
    )


def _require_status(event: Event, allowed: frozenset[str]) -> None:
    if event.status not in allowed:
        raise Conflict(
            f"The event is {event.status}; its bookings can no longer change.",
            code="EVENT_CLOSED",
        )


def _bump(event: Event, now: dt.datetime) -> None:
    event.sequence += 1  # iCalendar SEQUENCE and change notifications key on this
    event.updated_at = now


async def _lock_event(db: AsyncSession, event_id: int) -> Event:
    event = await db.scalar(
        select(Event)
        .where(Event.id == event_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if event is None:
        raise NotFound(f"No event with id {event_id}.")
    return event


async def _fresh_slot(db: AsyncSession, slot_id: int) -> Slot | None:
    return await db.scalar(
        select(Slot).where(Slot.id == slot_id).execution_options(populate_existing=True)
    )


def _known(kind: str, id_: int) -> int:
    """Refuse ids no row can have before they reach the database (which would fail on them)."""
    if not 0 < id_ <= MAX_ID:
        raise NotFound(f"No {kind} with id {id_}.")
    return id_


async def _lock_slot(
    db: AsyncSession, principal: Principal | None, slot_id: int
) -> tuple[Event, Slot]:
    """The slot's event, locked, then the slot as it is once the lock is held."""
    event_id = await db.scalar(select(Slot.event_id).where(Slot.id == _known("slot", slot_id)))
    if event_id is None:
        raise NotFound(f"No slot with id {slot_id}.")
    event = await _lock_event(db, event_id)
    slot = await _fresh_slot(db, slot_id)
    if slot is None or not _visible(event, principal):
        raise NotFound(f"No slot with id {slot_id}.")
    return event, slot


async def _chapter_by_code(db: AsyncSession, code: str) -> Chapter | None:
    return await db.scalar(select(Chapter).where(Chapter.code == code.strip().upper()))


async def _acting_chapter(db: AsyncSession, principal: Principal, code: str | None) -> Chapter:
    """The chapter the caller books for: a delegate's own (from the grant), or, for an organiser,
    any chapter named by its code."""
    own = principal.delegate_chapters()
    if not own and not principal.is_organiser:
        raise Forbidden("Only chapter delegates and organisers book slots.")
    if code is not None:
        chapter = await _chapter_by_code(db, code)
        if principal.is_organiser:
            if chapter is None:
                raise ValidationFailed(f"chapter: no chapter with code {code!r}", field="chapter")
            return chapter
        if chapter is None or chapter.id not in own:
            raise Forbidden("A delegate books only for their own chapter.")
        return chapter
    if len(own) == 1:
        chapter = await db.get(Chapter, next(iter(own)))
        if chapter is None:  # cannot happen: a grant's chapter_id is a foreign key
            raise Forbidden("Your delegate grant names no chapter.")
        return chapter
    if own:
        raise ValidationFailed(
            "chapter: you are the delegate of several chapters; give the chapter's code",
            field="chapter",
        )
    raise ValidationFailed(
        "chapter: an organiser books on behalf of a chapter; give the chapter's code",
        field="chapter",
    )


async def _held_slot(db: AsyncSession, event_id: int, chapter_id: int) -> Slot | None:
    return await db.scalar(
        select(Slot)
        .where(Slot.event_id == event_id, Slot.chapter_id == chapter_id)
        .execution_options(populate_existing=True)
    )


def _already_booked(position: int | None = None) -> Conflict:
    where = f" (slot {position})" if position is not None else ""
    return Conflict(
        f"This chapter already holds a slot in this event{where}.",
        code="CHAPTER_ALREADY_BOOKED",
    )


def _slot_taken(slot: Slot) -> Conflict:
    return Conflict(f"Slot {slot.position} is already booked.", code="SLOT_TAKEN")


# The columns that make a booking; they move together.
BOOKING_COLUMNS = (
    "chapter_id",
    "booking_status",
    "title",
    "abstract",
    "language",
    "speakers",
    "slides_url",
    "booked_at",
    "booked_by_user_id",
)
EMPTY_BOOKING: dict[str, Any] = {name: None for name in BOOKING_COLUMNS} | {"speakers": []}


def _booking_of(slot: Slot) -> dict[str, Any]:
    values = {name: getattr(slot, name) for name in BOOKING_COLUMNS}
    values["speakers"] = [dict(s) for s in slot.speakers or []]
    return values


def _presentation_values(data: Presentation) -> dict[str, Any]:
    return {
        "title": data.title,
        "abstract": data.abstract,
        "language": data.language,
        "speakers": [{"name": s.name, "email": s.email} for s in data.speakers],
        "slides_url": data.slides_url,
    }


async def _claim(db: AsyncSession, slot: Slot, values: dict[str, Any], *, now: dt.datetime) -> None:
    """Give an open slot a booking. The ``WHERE chapter_id IS NULL`` and the unique constraint
    hold even if a caller skipped the checks: a lost race is a 409, never a double booking."""
    try:
        result = await db.execute(
            update(Slot)
            .where(Slot.id == slot.id, Slot.chapter_id.is_(None))
            .values(**values, updated_at=now)
            .execution_options(synchronize_session=False)
        )
    except IntegrityError as exc:
        if "chapter_id" in str(exc.orig).lower():
            raise _already_booked() from None
        raise Conflict(
            "The booking collided with another change; try again.", code="BOOKING_CONFLICT"
        ) from None
    if cast(CursorResult[Any], result).rowcount != 1:
        raise _slot_taken(slot)
    await db.refresh(slot)


def _set_booking(slot: Slot, values: dict[str, Any], now: dt.datetime) -> None:
    for name, value in values.items():
        setattr(slot, name, value)
    slot.updated_at = now


async def _view(db: AsyncSession, principal: Principal | None, slot: Slot) -> SlotView:
    chapter = None if slot.chapter_id is None else await db.get(Chapter, slot.chapter_id)
    return SlotView(slot, chapter, _may_see_speakers(principal, slot))


# --- reading ------------------------------------------------------------------------------------


async def _slot_views(
    db: AsyncSession, principal: Principal | None, event_id: int
) -> list[SlotView]:
    rows = await db.execute(
        select(Slot, Chapter)
        .outerjoin(Chapter, Slot.chapter_id == Chapter.id)
        .where(Slot.event_id == event_id)
        .order_by(Slot.position)
    )
    return [SlotView(slot, chapter, _may_see_speakers(principal, slot)) for slot, chapter in rows]


async def list_slots(
    db: AsyncSession, principal: Principal | None, event_id: int
) -> tuple[Event, list[SlotView]]:
    event = await db.get(Event, _known("event", event_id))
    if event is None or not _visible(event, principal):
        raise NotFound(f"No event with id {event_id}.")
    return event, await _slot_views(db, principal, event_id)


async def list_swaps(
    db: AsyncSession, principal: Principal | None, event_id: int
) -> list[SwapView]:
    """Pending swaps of the event: all of them for organisers, else those the caller's chapters
    proposed or received."""
    principal = _signed_in(principal)
    event = await db.get(Event, _known("event", event_id))
    if event is None or not _visible(event, principal):
        raise NotFound(f"No event with id {event_id}.")
    query = select(SlotSwap).where(
        SlotSwap.event_id == event_id, SlotSwap.status == SwapStatus.PENDING.value
    )
    if not principal.is_organiser:
        own = principal.delegate_chapters()
        if not own:
            raise Forbidden("Only chapter delegates and organisers see swap proposals.")
        query = query.where(
            or_(SlotSwap.proposed_by_chapter_id.in_(own), SlotSwap.target_chapter_id.in_(own))
        )
    swaps = (await db.scalars(query.order_by(SlotSwap.id))).all()
    return await _swap_views(db, swaps)


async def _swap_views(db: AsyncSession, swaps: Sequence[SlotSwap]) -> list[SwapView]:
    if not swaps:
        return []
    slot_ids = {s.from_slot_id for s in swaps} | {s.to_slot_id for s in swaps}
    chapter_ids = {s.proposed_by_chapter_id for s in swaps} | {s.target_chapter_id for s in swaps}
    slots = {s.id: s for s in await db.scalars(select(Slot).where(Slot.id.in_(slot_ids)))}
    chapters = {
        c.id: c for c in await db.scalars(select(Chapter).where(Chapter.id.in_(chapter_ids)))
    }
    return [
        SwapView(
            swap,
            slots[swap.from_slot_id],
            slots[swap.to_slot_id],
            chapters[swap.proposed_by_chapter_id],
            chapters[swap.target_chapter_id],
        )
        for swap in swaps
    ]


async def booking_board(
    db: AsyncSession, principal: Principal | None, event_id: int, *, chapter_code: str | None
) -> Board:
    """The delegate's view of an event. A delegate acts for their chapter (one of theirs, when
    they hold several, chosen by code); an organiser for the chapter they name, or none."""
    principal = _signed_in(principal)
    own = principal.delegate_chapters()
    if not own and not principal.is_organiser:
        raise Forbidden("Only chapter delegates and organisers book slots.")
    event, slots = await list_slots(db, principal, event_id)
    chapter: Chapter | None = None
    if chapter_code:
        chapter = await _chapter_by_code(db, chapter_code)
        if chapter is None and principal.is_organiser:
            raise NotFound(f"No chapter with code {chapter_code!r}.", field="chapter")
        if chapter is None or not (principal.is_organiser or chapter.id in own):
            raise Forbidden("A delegate acts only for their own chapter.")
    elif own:
        chapter = await db.get(Chapter, min(own))
    chapters: list[Chapter] = []
    if principal.is_organiser or len(own) > 1:
        query = select(Chapter).order_by(Chapter.name)
        if not principal.is_organiser:
            query = query.where(Chapter.id.in_(own))
        chapters = list((await db.scalars(query)).all())
    swaps_in: list[SwapView] = []
    swaps_out: list[SwapView] = []
    if chapter is not None:
        rows = (
            await db.scalars(
                select(SlotSwap)
                .where(
                    SlotSwap.event_id == event_id,
                    SlotSwap.status == SwapStatus.PENDING.value,
                    or_(
                        SlotSwap.proposed_by_chapter_id == chapter.id,
                        SlotSwap.target_chapter_id == chapter.id,
                    ),
                )
                .order_by(SlotSwap.id)
            )
        ).all()
        for view in await _swap_views(db, rows):
            (swaps_in if view.swap.target_chapter_id == chapter.id else swaps_out).append(view)
    return Board(event, chapter, slots, swaps_in, swaps_out, chapters)


# --- booking ------------------------------------------------------------------------------------


async def book_slot(
    db: AsyncSession,
    principal: Principal | None,
    slot_id: int,
    presentation: Presentation,
    *,
    chapter_code: str | None = None,
    now: dt.datetime,
    google: GooglePolicy = NO_GOOGLE,
) -> SlotView:
    """Book an open slot for a chapter. Pending when the event needs approval, unless an
    organiser books (their booking is its own approval)."""
    principal = _signed_in(principal)
    event, slot = await _lock_slot(db, principal, slot_id)
    chapter = await _acting_chapter(db, principal, chapter_code)
    _require_status(event, BOOKABLE)
    presentation = check_presentation(presentation)
    if slot.chapter_id == chapter.id:
        raise _already_booked(slot.position)
    if slot.chapter_id is not None:
        raise _slot_taken(slot)
    held = await _held_slot(db, event.id, chapter.id)
    if held is not None:
        raise _already_booked(held.position)
    needs_approval = event.bookings_need_approval and not principal.is_organiser
    status = BookingStatus.PENDING if needs_approval else BookingStatus.CONFIRMED
    values = _presentation_values(presentation) | {
        "chapter_id": chapter.id,
        "booking_status": status.value,
        "booked_at": now,
        "booked_by_user_id": principal.user_id,
    }
    await _claim(db, slot, values, now=now)
    _bump(event, now)
    await google_sync.programme_changed(db, event, google, now=now)
    return SlotView(slot, chapter, show_speakers=True)


async def _held_by_caller(
    db: AsyncSession, principal: Principal | None, slot_id: int
) -> tuple[Principal, Event, Slot]:
    principal = _signed_in(principal)
    event, slot = await _lock_slot(db, principal, slot_id)
    if slot.chapter_id is None:
        raise NotFound(f"Slot {slot.position} has no booking.")
    _require_holder(principal, slot)
    return principal, event, slot


async def update_booking(
    db: AsyncSession,
    principal: Principal | None,
    slot_id: int,
    changes: PresentationChanges,
    *,
    now: dt.datetime,
    google: GooglePolicy = NO_GOOGLE,
) -> SlotView:
    """Change the presentation of a booking (its chapter's delegate or an organiser)."""
    principal, event, slot = await _held_by_caller(db, principal, slot_id)
    _require_status(event, EDITABLE)
    current = Presentation(
        title=slot.title or "",
        language=slot.language or "",
        speakers=tuple(Speaker(s["name"], s["email"]) for s in slot.speakers or []),
        abstract=slot.abstract or "",
        slides_url=slot.slides_url,
    )
    merged = replace(
        current,
        **{
            name: value
            for name, value in vars(changes).items()
            if value is not None and name != "slides_url"
        },
    )
    if changes.slides_url is not None:
        merged = replace(merged, slides_url=changes.slides_url or None)
    values = _presentation_values(check_presentation(merged))
    if any(getattr(slot, name) != value for name, value in values.items()):
        _set_booking(slot, values, now)
        _bump(event, now)
        await google_sync.programme_changed(db, event, google, now=now)
    return await _view(db, principal, slot)


async def cancel_booking(
    db: AsyncSession, principal: Principal | None, slot_id: int, *, now: dt.datetime
) -> SlotView:
    """Give the slot back: it becomes open and its presentation is forgotten."""
    principal, event, slot = await _held_by_caller(db, principal, slot_id)
    _require_status(event, BOOKABLE)
    withdrawn = slot.chapter_id
    _set_booking(slot, EMPTY_BOOKING, now)
    _bump(event, now)
    await programme_changed(db, event, chapter_ids={withdrawn} if withdrawn else set(), now=now)
    return SlotView(slot, None, show_speakers=False)


async def approve_booking(
    db: AsyncSession,
    principal: Principal | None,
    slot_id: int,
    *,
    now: dt.datetime,
    google: GooglePolicy = NO_GOOGLE,
) -> SlotView:
    """Confirm a pending booking (organisers). Approving a confirmed booking is harmless."""
    principal = require_organiser(principal)
    event, slot = await _lock_slot(db, principal, slot_id)
    if slot.chapter_id is None:
        raise NotFound(f"Slot {slot.position} has no booking.")
    _require_status(event, BOOKABLE)
    if slot.booking_status != BookingStatus.CONFIRMED.value:
        slot.booking_status = BookingStatus.CONFIRMED.value
        slot.updated_at = now
        _bump(event, now)
        await google_sync.programme_changed(db, event, google, now=now)
    return await _view(db, principal, slot)


async def assign_slot(
    db: AsyncSession,
    principal: Principal | None,
    slot_id: int,
    chapter_code: str,
    *,
    now: dt.datetime,
) -> SlotView:
    """Put a chapter in an open slot (organisers). A chapter that already holds a slot moves,
    with its presentation and status; one that holds none gets a confirmed booking to fill in."""
    principal = require_organiser(principal)
    event, slot = await _lock_slot(db, principal, slot_id)
    chapter = await _chapter_by_code(db, chapter_code)
    if chapter is None:
        raise ValidationFailed(f"chapter: no chapter with code {chapter_code!r}", field="chapter")
    _require_status(event, BOOKABLE)
    if slot.chapter_id == chapter.id:
        return SlotView(slot, chapter, show_speakers=True)
    if slot.chapter_id is not None:
        raise _slot_taken(slot)
    held = await _held_slot(db, event.id, chapter.id)
    if held is not None:
        values = _booking_of(held)
        _set_booking(held, EMPTY_BOOKING, now)
        await (
            db.flush()
        )  # free the chapter before it takes the new slot: (event, chapter) is unique
    else:
        values = EMPTY_BOOKING | {
            "chapter_id": chapter.id,
            "booking_status": BookingStatus.CONFIRMED.value,
            "booked_at": now,
            "booked_by_user_id": principal.user_id,
        }
    await _claim(db, slot, values, now=now)
    _bump(event, now)
    if held is not None:  # a chapter moved: its slot time changed
        await programme_changed(db, event, chapter_ids={chapter.id}, now=now)
    return SlotView(slot, chapter, show_speakers=True)


# --- swaps --------------------------------------------------------------------------------------


async def propose_swap(
    db: AsyncSession,
    principal: Principal | None,
    slot_id: int,
    to_slot_id: int,
    *,
    now: dt.datetime,
) -> SlotSwap:
    """The delegate holding ``slot_id`` asks the chapter holding ``to_slot_id`` to exchange."""
    principal = _signed_in(principal)
    event, slot = await _lock_slot(db, principal, slot_id)
    if slot.chapter_id is None or slot.chapter_id not in principal.delegate_chapters():
        raise Forbidden("Only the delegate of the chapter holding this slot may propose a swap.")
    target = await _fresh_slot(db, to_slot_id) if 0 < to_slot_id <= MAX_ID else None
    if target is None or target.event_id != event.id:
        raise ValidationFailed(
            f"to_slot_id: no slot {to_slot_id} in this event", field="to_slot_id"
        )
    if target.id == slot.id:
        raise ValidationFailed("to_slot_id: a slot cannot swap with itself", field="to_slot_id")
    _require_status(event, BOOKABLE)
    if target.chapter_id is None:
        raise Conflict(
            f"Slot {target.position} is open: book it instead of swapping.",
            code="SLOT_NOT_BOOKED",
        )
    existing = await db.scalar(
        select(SlotSwap.id).where(
            SlotSwap.from_slot_id == slot.id,
            SlotSwap.to_slot_id == target.id,
            SlotSwap.status == SwapStatus.PENDING.value,
        )
    )
    if existing is not None:
        raise Conflict(
            f"This swap is already proposed (swap {existing}).", code="SWAP_ALREADY_PROPOSED"
        )
    swap = SlotSwap(
        event_id=event.id,
        from_slot_id=slot.id,
        to_slot_id=target.id,
        proposed_by_chapter_id=slot.chapter_id,
        target_chapter_id=target.chapter_id,
        status=SwapStatus.PENDING.value,
        created_at=now,
    )
    db.add(swap)
    await db.flush()
    return swap


async def _locked_swap(
    db: AsyncSession, principal: Principal | None, swap_id: int
) -> tuple[Principal, Event, SlotSwap]:
    principal = _signed_in(principal)
    event_id = await db.scalar(
        select(SlotSwap.event_id).where(SlotSwap.id == _known("swap", swap_id))
    )
    if event_id is None:
        raise NotFound(f"No swap with id {swap_id}.")
    event = await _lock_event(db, event_id)
    swap = await db.scalar(
        select(SlotSwap).where(SlotSwap.id == swap_id).execution_options(populate_existing=True)
    )
    if swap is None or not _visible(event, principal):
        raise NotFound(f"No swap with id {swap_id}.")
    return principal, event, swap


def _require_pending(swap: SlotSwap) -> None:
    if swap.status != SwapStatus.PENDING.value:
        raise Conflict(f"This swap is already {swap.status}.", code="SWAP_NOT_PENDING")


def _require_target_delegate(principal: Principal, swap: SlotSwap) -> None:
    if swap.target_chapter_id not in principal.delegate_chapters():
        raise Forbidden("Only the delegate of the chapter asked may accept or decline a swap.")


def _decide(swap: SlotSwap, status: SwapStatus, principal: Principal, now: dt.datetime) -> None:
    swap.status = status.value
    swap.decided_at = now
    swap.decided_by_user_id = principal.user_id


async def accept_swap(
    db: AsyncSession, principal: Principal | None, swap_id: int, *, now: dt.datetime
) -> SlotSwap:
    """Exchange the two chapters, with their bookings, if both still hold the slots they held
    when the swap was proposed."""
    principal, event, swap = await _locked_swap(db, principal, swap_id)
    _require_target_delegate(principal, swap)
    _require_pending(swap)
    _require_status(event, BOOKABLE)
    mine = await _fresh_slot(db, swap.from_slot_id)
    theirs = await _fresh_slot(db, swap.to_slot_id)
    if (
        mine is None
        or theirs is None
        or mine.chapter_id != swap.proposed_by_chapter_id
        or theirs.chapter_id != swap.target_chapter_id
    ):
        raise Conflict("The slots changed hands since this swap was proposed.", code="SWAP_STALE")
    first, second = _booking_of(mine), _booking_of(theirs)
    _set_booking(mine, EMPTY_BOOKING, now)
    _set_booking(theirs, EMPTY_BOOKING, now)
    await db.flush()  # (event, chapter) is unique: empty both slots before refilling them
    _set_booking(mine, second, now)
    _set_booking(theirs, first, now)
    _decide(swap, SwapStatus.ACCEPTED, principal, now)
    await db.flush()
    _bump(event, now)
    await programme_changed(
        db, event, chapter_ids={swap.proposed_by_chapter_id, swap.target_chapter_id}, now=now
    )
    return swap


async def decline_swap(
    db: AsyncSession, principal: Principal | None, swap_id: int, *, now: dt.datetime
) -> SlotSwap:
    principal, _event, swap = await _locked_swap(db, principal, swap_id)
    _require_target_delegate(principal, swap)
    _require_pending(swap)
    _decide(swap, SwapStatus.DECLINED, principal, now)
    return swap


async def withdraw_swap(
    db: AsyncSession, principal: Principal | None, swap_id: int, *, now: dt.datetime
) -> SlotSwap:
    principal, _event, swap = await _locked_swap(db, principal, swap_id)
    if swap.proposed_by_chapter_id not in principal.delegate_chapters():
        raise Forbidden("Only the delegate of the chapter that proposed a swap may withdraw it.")
    _require_pending(swap)
    _decide(swap, SwapStatus.WITHDRAWN, principal, now)
    return swap
