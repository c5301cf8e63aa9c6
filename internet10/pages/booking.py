"""The delegate's booking page: book a slot, edit or cancel it, propose and answer swaps.

Plain forms, no JavaScript. Each action redirects back with ``?done=<what>``; a refused action
(bad input, a slot taken meanwhile) shows the page again with the reason and what was typed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from quart import Blueprint, redirect, render_template, request, url_for
from sqlalchemy.ext.asyncio import AsyncSession
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response as WerkzeugResponse

from internet10.errors import Conflict, ValidationFailed
from internet10.pages.guard import name_invalid_fields
from internet10.services import booking as service
from internet10.services.auth import Principal
from internet10.web import current_principal, google_policy, state

blueprint = Blueprint("booking", __name__)
name_invalid_fields(blueprint)

DONE = frozenset(
    {
        "booked",
        "pending",
        "updated",
        "cancelled",
        "swap-proposed",
        "swap-accepted",
        "swap-declined",
        "swap-withdrawn",
    }
)
SPEAKER_ROWS = 3  # rows shown in a form; a booking made through the API may have more

Form = MultiDict[str, str]
Page = tuple[str, int] | WerkzeugResponse
# An action runs in the write transaction and says what was done and on which event.
Action = Callable[[AsyncSession, Principal, Form, dt.datetime], Awaitable[tuple[str, int]]]


@dataclass(frozen=True)
class Row:
    """A slot with its times in the event's zone and in the acting chapter's zone (``None``
    without a chapter, or when the chapter's zone is the event's)."""

    view: service.SlotView
    event_start: dt.datetime
    event_end: dt.datetime
    chapter_start: dt.datetime | None
    chapter_end: dt.datetime | None

    @property
    def other_day(self) -> bool:
        """The chapter's local date differs from the event's: show it."""
        return self.chapter_start is not None and (
            self.chapter_start.date() != self.event_start.date()
        )


def _rows(board: service.Board) -> list[Row]:
    event_zone = ZoneInfo(board.event.timezone)
    chapter_zone = None
    if board.chapter is not None and board.chapter.timezone != board.event.timezone:
        chapter_zone = ZoneInfo(board.chapter.timezone)
    return [
        Row(
            view=v,
            event_start=v.slot.starts_at.astimezone(event_zone),
            event_end=v.slot.ends_at.astimezone(event_zone),
            chapter_start=None
            if chapter_zone is None
            else v.slot.starts_at.astimezone(chapter_zone),
            chapter_end=None if chapter_zone is None else v.slot.ends_at.astimezone(chapter_zone),
        )
        for v in board.slots
    ]


async def _render(
    principal: Principal,
    event_id: int,
    chapter_code: str | None,
    *,
    done: str | None = None,
    error: ValidationFailed | Conflict | None = None,
    form_id: str | None = None,
    values: Form | None = None,
    status: int = 200,
) -> tuple[str, int]:
    st = state()
    async with st.db.read() as db:
        board = await service.booking_board(db, principal, event_id, chapter_code=chapter_code)
    rows = _rows(board)
    event_zone = ZoneInfo(board.event.timezone)
    own = board.own_slot
    given = values or MultiDict()
    edit_values = _current_values(own) if own is not None else MultiDict()
    if own is not None and form_id == f"edit-{own.slot.id}":
        edit_values = given
    html = await render_template(
        "booking/event.html",
        board=board,
        rows=rows,
        row_by_slot={r.view.slot.id: r for r in rows},
        own=own,
        edit_values=edit_values,
        edit_rows=max(SPEAKER_ROWS, len(own.speakers)) if own is not None else SPEAKER_ROWS,
        bookable=board.event.status in service.BOOKABLE,
        chapter_zone_shown=board.chapter is not None
        and board.chapter.timezone != board.event.timezone,
        event_start=board.event.starts_at.astimezone(event_zone),
        swappable=[r for r in rows if r.view.slot.chapter_id is not None and r.view is not own],
        done=done if done in DONE else None,
        error=error,
        error_field=_field_label_key(error.field) if error is not None and error.field else None,
        form_id=form_id,
        values=given,
        speaker_rows=SPEAKER_ROWS,
    )
    return html, status


def _current_values(view: service.SlotView) -> Form:
    """The edit form's fields, filled from the booking."""
    slot = view.slot
    values: Form = MultiDict(
        {
            "title": slot.title or "",
            "abstract": slot.abstract or "",
            "language": slot.language or "",
            "slides_url": slot.slides_url or "",
        }
    )
    for i, speaker in enumerate(view.speakers, start=1):
        values[f"speaker_name_{i}"] = speaker.name
        values[f"speaker_email_{i}"] = speaker.email
    return values


def _field_label_key(field: str) -> tuple[str, int | None]:
    """``speakers.1.email`` -> (``speaker-email``, 2): the template names the field in the
    reader's language."""
    parts = field.split(".")
    if len(parts) == 3 and parts[0] == "speakers" and parts[1].isdigit():
        return f"speaker-{parts[2]}", int(parts[1]) + 1
    return field, None


@blueprint.get("/delegate/events/<int:event_id>")
async def event_page(event_id: int) -> Page:
    principal = await current_principal()
    if principal is None:
        return redirect(url_for("staff.login_form"))
    return await _render(
        principal, event_id, request.args.get("chapter") or None, done=request.args.get("done")
    )


async def _perform(event_id: int, action: Action, *, form_id: str) -> Page:
    principal = await current_principal()
    if principal is None:
        return redirect(url_for("staff.login_form"))
    form: Form = await request.form
    chapter_code = form.get("chapter") or None
    st = state()
    try:
        async with st.db.write() as db:
            done, target_event = await action(db, principal, form, st.now())
    except (ValidationFailed, Conflict) as exc:
        return await _render(
            principal,
            event_id,
            chapter_code,
            error=exc,
            form_id=form_id,
            values=form,
            status=exc.status,
        )
    return redirect(
        url_for("booking.event_page", event_id=target_event, done=done, chapter=chapter_code)
    )


def _speakers(form: Form) -> tuple[service.Speaker, ...]:
    speakers = []
    for i in range(1, service.SPEAKERS_MAX + 1):
        name = form.get(f"speaker_name_{i}", "")
        email = form.get(f"speaker_email_{i}", "")
        if name.strip() or email.strip():
            speakers.append(service.Speaker(name=name, email=email))
    return tuple(speakers)


def _presentation(form: Form) -> service.Presentation:
    return service.Presentation(
        title=form.get("title", ""),
        abstract=form.get("abstract", ""),
        language=form.get("language", ""),
        speakers=_speakers(form),
        slides_url=form.get("slides_url", "").strip() or None,
    )


def _slot_choice(form: Form) -> int:
    raw = form.get("to_slot_id", "")
    if not raw.isdigit() or len(raw) > 9:
        raise ValidationFailed("to_slot_id: choose a slot", field="to_slot_id")
    return int(raw)


@blueprint.post("/delegate/events/<int:event_id>/slots/<int:slot_id>/book")
async def book(event_id: int, slot_id: int) -> Page:
    async def action(
        db: AsyncSession, principal: Principal, form: Form, now: dt.datetime
    ) -> tuple[str, int]:
        view = await service.book_slot(
            db,
            principal,
            slot_id,
            _presentation(form),
            chapter_code=form.get("chapter") or None,
            now=now,
            google=google_policy(),
        )
        done = "pending" if view.status is service.SlotStatus.PENDING else "booked"
        return done, view.slot.event_id

    return await _perform(event_id, action, form_id=f"book-{slot_id}")


@blueprint.post("/delegate/events/<int:event_id>/slots/<int:slot_id>/edit")
async def edit(event_id: int, slot_id: int) -> Page:
    async def action(
        db: AsyncSession, principal: Principal, form: Form, now: dt.datetime
    ) -> tuple[str, int]:
        given = _presentation(form)
        changes = service.PresentationChanges(
            title=given.title,
            abstract=given.abstract,
            language=given.language,
            speakers=given.speakers,
            slides_url=given.slides_url or "",  # an emptied field removes the link
        )
        view = await service.update_booking(
            db, principal, slot_id, changes, now=now, google=google_policy()
        )
        return "updated", view.slot.event_id

    return await _perform(event_id, action, form_id=f"edit-{slot_id}")


@blueprint.post("/delegate/events/<int:event_id>/slots/<int:slot_id>/cancel")
async def cancel(event_id: int, slot_id: int) -> Page:
    async def action(
        db: AsyncSession, principal: Principal, form: Form, now: dt.datetime
    ) -> tuple[str, int]:
        view = await service.cancel_booking(db, principal, slot_id, now=now)
        return "cancelled", view.slot.event_id

    return await _perform(event_id, action, form_id=f"cancel-{slot_id}")


@blueprint.post("/delegate/events/<int:event_id>/slots/<int:slot_id>/swap")
async def propose_swap(event_id: int, slot_id: int) -> Page:
    async def action(
        db: AsyncSession, principal: Principal, form: Form, now: dt.datetime
    ) -> tuple[str, int]:
        swap = await service.propose_swap(db, principal, slot_id, _slot_choice(form), now=now)
        return "swap-proposed", swap.event_id

    return await _perform(event_id, action, form_id=f"swap-{slot_id}")


SWAP_DECISIONS = {
    "accept": (service.accept_swap, "swap-accepted"),
    "decline": (service.decline_swap, "swap-declined"),
    "withdraw": (service.withdraw_swap, "swap-withdrawn"),
}


@blueprint.post(
    "/delegate/events/<int:event_id>/swaps/<int:swap_id>/<any(accept, decline, withdraw):decision>"
)
async def decide_swap(event_id: int, swap_id: int, decision: str) -> Page:
    decide, done = SWAP_DECISIONS[decision]

    async def action(
        db: AsyncSession, principal: Principal, form: Form, now: dt.datetime
    ) -> tuple[str, int]:
        swap = await decide(db, principal, swap_id, now=now)
        return done, swap.event_id

    return await _perform(event_id, action, form_id=f"swap-{decision}-{swap_id}")
