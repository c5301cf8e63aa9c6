"""The organiser's planning page: fair start times and running orders, and applying one."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from quart import Blueprint, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as WerkzeugResponse

from internet10.errors import Conflict, DomainError, ValidationFailed
from internet10.models import Chapter, Event
from internet10.pages.guard import name_invalid_fields
from internet10.services import planning as service
from internet10.services.auth import Principal
from internet10.services.events import agenda_from_json
from internet10.web import current_principal, state
from scheduler.planner import PlanResult, Proposal

blueprint = Blueprint("planning", __name__)
name_invalid_fields(blueprint)

PAGE_TOP = 3


@dataclass(frozen=True)
class Row:
    position: int
    code: str
    name: str
    event_start: dt.datetime  # in the event's zone
    event_end: dt.datetime
    local_start: dt.datetime  # in the chapter's zone
    local_end: dt.datetime
    local_offset: str
    minutes_outside: int


@dataclass(frozen=True)
class ProposalView:
    rank: int
    starts_at: dt.datetime  # in the event's zone
    ends_at: dt.datetime
    starts_at_utc: str
    minutes_outside_total: int
    rows: list[Row]
    unserved: list[Row]
    order: list[str]  # chapter code by slot position, "" for an open slot


def _view(rank: int, proposal: Proposal, zone: ZoneInfo, names: dict[str, str]) -> ProposalView:
    rows = [
        Row(
            position=slot.position,
            code=slot.chapter,
            name=names.get(slot.chapter, slot.chapter),
            event_start=slot.starts_at.astimezone(zone),
            event_end=slot.ends_at.astimezone(zone),
            local_start=slot.local_start,
            local_end=slot.local_end,
            local_offset=service.utc_offset_label(slot.local_start),
            minutes_outside=slot.minutes_outside,
        )
        for slot in proposal.slots
    ]
    order = [""] * max((slot.position for slot in proposal.slots), default=0)
    for slot in proposal.slots:
        order[slot.position - 1] = slot.chapter
    return ProposalView(
        rank=rank,
        starts_at=proposal.starts_at.astimezone(zone),
        ends_at=proposal.ends_at.astimezone(zone),
        starts_at_utc=proposal.starts_at.astimezone(dt.UTC).isoformat(),
        minutes_outside_total=proposal.minutes_outside_total,
        rows=rows,
        unserved=[row for row in rows if row.minutes_outside > 0],
        order=order,
    )


async def _render(
    principal: Principal,
    event_id: int,
    *,
    date_text: str,
    codes: Sequence[str],
    applied: bool = False,
    apply_error: DomainError | None = None,
) -> tuple[str, int]:
    st = state()
    plan_error: DomainError | None = None
    result: PlanResult | None = None
    async with st.db.read() as db:
        event: Event = await service.planning_event(db, principal, event_id)
        chapters: Sequence[Chapter] = await service.list_chapters(db)
        try:
            day = service.parse_date(date_text) if date_text else None
            result = await service.propose(
                db,
                principal,
                event_id,
                now=st.now(),
                date=day,
                chapters=list(codes) or None,
                top=PAGE_TOP,
            )
        except ValidationFailed as exc:
            plan_error = exc
    zone = ZoneInfo(event.timezone)
    names = {c.code: c.name for c in chapters}
    proposals = (
        [_view(rank, p, zone, names) for rank, p in enumerate(result.proposals, start=1)]
        if result is not None
        else []
    )
    status = 200
    if apply_error is not None:
        status = apply_error.status
    elif plan_error is not None:
        status = plan_error.status
    html = await render_template(
        "planning/event.html",
        event=event,
        local_start=event.starts_at.astimezone(zone),
        chapters=chapters,
        codes=list(codes),
        chosen=set(codes),
        slots=agenda_from_json(event.agenda).slots,
        date_text=date_text or event.starts_at.astimezone(zone).date().isoformat(),
        proposals=proposals,
        applied=applied,
        plan_error=plan_error,
        apply_error=apply_error,
    )
    return html, status


@blueprint.get("/organiser/events/<int:event_id>/planning")
async def planning_page(event_id: int) -> tuple[str, int] | WerkzeugResponse:
    principal = await current_principal()
    if principal is None:
        return redirect(url_for("staff.login_form"))
    return await _render(
        principal,
        event_id,
        date_text=request.args.get("date", "")[:40],
        codes=[code[:32] for code in request.args.getlist("chapters")[:100]],
        applied=request.args.get("applied") == "1",
    )


@blueprint.post("/organiser/events/<int:event_id>/planning/apply")
async def apply_proposal(event_id: int) -> tuple[str, int] | WerkzeugResponse:
    principal = await current_principal()
    if principal is None:
        return redirect(url_for("staff.login_form"))
    form = await request.form
    date_text = form.get("date", "")[:40]
    codes = [code[:32] for code in form.getlist("chapters")[:100]]
    st = state()
    try:
        try:
            starts_at = dt.datetime.fromisoformat(form.get("starts_at", ""))
        except ValueError:
            raise ValidationFailed("starts_at: not a date and time", field="starts_at") from None
        if starts_at.utcoffset() is None:
            raise ValidationFailed("starts_at: must carry a UTC offset", field="starts_at")
        async with st.db.write() as db:
            await service.apply(
                db,
                principal,
                event_id,
                starts_at=starts_at,
                order=[code[:32] or None for code in form.getlist("order")[:100]],
                force=form.get("force") == "1",
                now=st.now(),
            )
    except (ValidationFailed, Conflict) as exc:
        return await _render(principal, event_id, date_text=date_text, codes=codes, apply_error=exc)
    return redirect(
        url_for(
            "planning.planning_page",
            event_id=event_id,
            date=date_text or None,
            chapters=codes,
            applied="1",
        )
    )
